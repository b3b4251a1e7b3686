"""sObject Collections create / update: request checks, per-record validation, allOrNone.

The per-record checks (`prepare_record`, `Collections.create_record`,
`Collections.update_record`) are shared with the single-record sObject Rows in `rows`,
so one record is judged the same way whichever resource carries it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.messages import ApiError
from sandbox.salesforce.sobject import (
    EXTERNAL_ID,
    FIELD_BY_KEY,
    OBJECT,
    STORED_FIELDS,
    FieldSpec,
    TypeMismatch,
    canonical_field,
    coerce_value,
    utc_now,
)
from sandbox.salesforce.store import Store

MAX_COLLECTION = 200


def _record_error(code: str, message: str, fields: Iterable[str] = ()) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": list(fields)}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int | float):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"


def _parser_error(spec: FieldSpec, value: Any) -> ApiError:
    java = {"boolean": "boolean", "double": "double", "date": "date"}.get(spec.kind, "String")
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {java} from {_json_type(value)} value "
        f"{value} or request may be missing a required field",
    )


@dataclass
class Prepared:
    """One record after request-level checks: canonical fields, typed values."""

    fields: dict[str, Any]
    given_id: Any = None
    has_id: bool = False
    read_only: list[str] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _prepare_records(raw: Any) -> tuple[list[Prepared], bool]:
    """Request-level validation, as Salesforce's JSON deserialiser does it (one 400 for all)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with "
                       "a 'records' array")
    all_or_none = raw.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean "
                       f"from {_json_type(all_or_none)} value {all_or_none}")
    records = raw["records"]
    if len(records) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
    return [prepare_record(record) for record in records], all_or_none


def prepare_record(record: Any, require_type: bool = True) -> Prepared:
    """A record's fields checked and typed; one 400 `ApiError` for the whole request.

    A collection names each record's type in `attributes`; a single-record body (sObject
    Rows) takes its type from the URL, so there `attributes` may be left out.
    """
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not sobject and require_type:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    if sobject and str(sobject).lower() != OBJECT.lower():
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    prepared = Prepared(fields={})
    for name, value in record.items():
        if name == "attributes":
            continue
        spec = canonical_field(name)
        if spec is None:
            raise ApiError(400, "INVALID_FIELD",
                           f"No such column '{name}' on sobject of type {OBJECT}")
        if spec.name == "Id":
            prepared.given_id, prepared.has_id = value, True
            continue
        if not spec.writable:
            prepared.read_only.append(spec.name)
            continue
        try:
            prepared.fields[spec.name] = coerce_value(spec, value)
        except TypeMismatch:
            raise _parser_error(spec, value) from None
    return prepared


def _field_errors(fields: dict[str, Any], creating: bool) -> list[dict[str, Any]]:
    """Required and length checks, one error per field like the real save."""
    errors = []
    for spec in STORED_FIELDS:
        if not spec.required:
            continue
        if (creating and fields.get(spec.name) is None) or (
            spec.name in fields and fields[spec.name] is None
        ):
            errors.append(_record_error(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]",
                [spec.name],
            ))
    for name, value in fields.items():
        spec = FIELD_BY_KEY[name.lower()]
        if spec.is_text and isinstance(value, str) and len(value) > spec.length:
            errors.append(_record_error(
                "STRING_TOO_LONG",
                f"{spec.label}: data value too large: {value} (max length={spec.length})",
                [spec.name],
            ))
    return errors


def _read_only_error(names: list[str]) -> dict[str, Any]:
    return _record_error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security "
        "settings of this field and verify that it is read/write for your profile or "
        "permission set.",
        names,
    )


def _duplicate_error(existing_id: str) -> dict[str, Any]:
    # The real message names the 15-character form of the other record's Id.
    return _record_error(
        "DUPLICATE_VALUE",
        f"duplicate value found: {EXTERNAL_ID} duplicates value on record with id: "
        f"{existing_id[:15]}",
    )


ROLLED_BACK = _record_error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def _result(record_id: str | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    if errors:
        return {"success": False, "errors": errors}
    return {"id": record_id, "success": True, "errors": []}


class Collections:
    """Create and update through sObject Collections, with per-record results."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, method: str, body: Any) -> tuple[list[dict[str, Any]], bool]:
        """Per-record results, and whether anything was committed."""
        prepared, all_or_none = _prepare_records(body)
        apply = self.create_record if method == "POST" else self.update_record
        results: list[dict[str, Any]] = []
        try:
            with self.store.transaction():
                moment = utc_now()
                results = [apply(record, moment) for record in prepared]
                if all_or_none and not all(r["success"] for r in results):
                    raise _Rollback
        except _Rollback:
            rolled = [r if not r["success"] else _result(None, [ROLLED_BACK]) for r in results]
            return rolled, False
        return results, any(r["success"] for r in results)

    def create_record(self, record: Prepared, moment: dt.datetime) -> dict[str, Any]:
        """Insert one prepared record; `{id, success, errors}` as in a collection."""
        if record.has_id:
            return _result(None, [_record_error(
                "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
            )])
        if record.read_only:
            return _result(None, [_read_only_error(record.read_only)])
        fields = {spec.name: record.fields.get(spec.name, coerce_value(spec, None))
                  for spec in STORED_FIELDS}
        errors = _field_errors(fields, creating=True) or self._duplicate(fields, None)
        if errors:
            return _result(None, errors)
        record_id = self.store.new_ids(1)[0]
        self.store.insert([(record_id, fields, moment, moment)])
        return _result(record_id, [])

    def update_record(self, record: Prepared, moment: dt.datetime) -> dict[str, Any]:
        """Update the record `record.given_id`; `{id, success, errors}` as in a collection."""
        if not record.has_id or record.given_id in (None, ""):
            return _result(None, [_record_error(
                "MISSING_ARGUMENT", "Id not specified in an update call"
            )])
        record_id = normalize_id(record.given_id)
        if record_id is None:
            return _result(None, [_record_error(
                "MALFORMED_ID",
                f"{OBJECT} ID: id value of incorrect type: {record.given_id}",
                ["Id"],
            )])
        if self.store.stored_fields(record_id) is None:
            return _result(None, [_record_error(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
            )])
        if record.read_only:
            return _result(None, [_read_only_error(record.read_only)])
        errors = _field_errors(record.fields, creating=False) or self._duplicate(
            record.fields, record_id
        )
        if errors:
            return _result(None, errors)
        self.store.update_fields(record_id, record.fields, moment)
        return _result(record_id, [])

    def _duplicate(self, fields: dict[str, Any], own_id: str | None) -> list[dict[str, Any]]:
        value = fields.get(EXTERNAL_ID)
        if value is None:
            return []
        existing = self.store.id_by_external_id(value)
        if existing is None or existing == own_id:
            return []
        return [_duplicate_error(existing)]
