"""sObject Rows and sObject Rows by External ID: one record created, read, updated,
deleted or upserted.

Resources (under `/services/data/{v}/sobjects/Product_Property__c`; routed by `api`):

- `POST /` (and `POST /Id`, "Id as the external id, value null"): create ->
  201 `{id, success: true, errors: []}`.
- `GET|PATCH|DELETE /{id}`: the record with `attributes` (`?fields=a,b` picks fields) /
  update -> 204 / delete -> 204.
- `GET|PATCH|DELETE /{externalIdField}/{value}` (`Snappt_Property_ID__c`, or `Id`): the
  record / upsert -> 201 `{id, success, errors, created: true}` when created, 200
  `{..., created: false}` when updated (204 without a body before API v46.0) / delete.
  A value held by more than one record -> 300 with the matching records' URLs.

A record is checked by the same code as in sObject Collections (`collections`), so
both paths refuse the same records with the same codes; a refusal is a 400 whose body
is the list `[{message, errorCode, fields}]`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sandbox.salesforce.collections import Collections, Prepared, prepare_record
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.messages import ApiError, Reply, not_found
from sandbox.salesforce.sobject import EXTERNAL_ID, OBJECT, FieldSpec, canonical_field, utc_now
from sandbox.salesforce.soql import unknown_field
from sandbox.salesforce.store import Store

# Since v46.0 an upsert that updates answers 200 with a body saying `created: false`;
# before, 204 and no body.
UPSERT_BODY_SINCE = 46.0

_ID_SHAPED = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")


def record_url(version: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/{OBJECT}/{record_id}"


def _no_external_id_field(name: str) -> ApiError:
    # Salesforce reads `/sobjects/{obj}/{x}` with an `x` that is no Id as an external id
    # field without a value, hence this message for a mistyped Id as well.
    return ApiError(404, "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {name}")


def malformed_id(value: str) -> ApiError:
    return ApiError(400, "MALFORMED_ID", f"{OBJECT} ID: id value of incorrect type: {value}",
                    ["Id"])


def _refused(errors: list[dict[str, Any]]) -> Reply:
    """Per-record errors (as a collection reports them) as sObject Rows answers them."""
    return Reply(400, [{"message": e["message"], "errorCode": e["statusCode"],
                        "fields": e.get("fields", [])} for e in errors])


def _version_number(version: str) -> float:
    return float(version.lstrip("v"))


class Rows:
    """Single-record writes and reads; each returns (reply, whether anything committed)."""

    def __init__(self, store: Store, collections: Collections) -> None:
        self.store = store
        self.collections = collections

    # -- by Id --------------------------------------------------------------------

    def record_id(self, segment: str) -> str:
        """The 18-character Id a path segment names, or the error Salesforce gives."""
        record_id = normalize_id(segment)
        if record_id is not None:
            return record_id
        if _ID_SHAPED.fullmatch(segment):
            raise malformed_id(segment)  # an Id's shape, but not one of this object
        raise _no_external_id_field(segment)

    def create(self, body: Any) -> tuple[Reply, bool]:
        prepared = prepare_record(body, require_type=False)
        with self.store.transaction():
            result = self.collections.create_record(prepared, utc_now())
        if not result["success"]:
            return _refused(result["errors"]), False
        return Reply(201, result), True

    def read(self, version: str, record_id: str, fields: str | None) -> tuple[Reply, bool]:
        records = self.store.records([record_id])
        if not records:
            raise not_found()
        record = records[0]
        if fields is not None:
            specs = [self._field(name.strip()) for name in fields.split(",") if name.strip()]
            record = {spec.name: record[spec.name] for spec in specs}
        attributes = {"type": OBJECT, "url": record_url(version, record_id)}
        return Reply(200, {"attributes": attributes, **record}), True

    def update(self, record_id: str, body: Any) -> tuple[Reply, bool]:
        prepared = self._prepare_write(body)
        with self.store.transaction():
            if self.store.stored_fields(record_id) is None:
                raise not_found()
            result = self._update(prepared, record_id, utc_now())
        if not result["success"]:
            return _refused(result["errors"]), False
        return Reply(204), True

    def delete(self, record_id: str) -> tuple[Reply, bool]:
        if not self.store.delete(record_id):
            raise not_found()
        return Reply(204), True

    # -- by external id -------------------------------------------------------------

    def by_external_id(self, method: str, version: str, field_name: str, value: str,
                       body: Any = None) -> tuple[Reply, bool]:
        spec = canonical_field(field_name)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise _no_external_id_field(field_name)
        matches = self._matches(spec, value)
        if len(matches) > 1:
            # Salesforce neither reads nor writes then: it lists the candidates.
            return Reply(300, [record_url(version, i) for i in matches]), False
        if method == "PATCH":
            return self._upsert(version, spec, value, body, matches)
        if not matches:
            raise not_found()
        if method == "DELETE":
            return self.delete(matches[0])
        return self.read(version, matches[0], None)

    def _matches(self, spec: FieldSpec, value: str) -> list[str]:
        if spec.name == "Id":
            record_id = normalize_id(value)
            if record_id is None:
                raise malformed_id(value)
            return [record_id] if self.store.stored_fields(record_id) is not None else []
        return self.store.ids_by_external_id(value)

    def _upsert(self, version: str, spec: FieldSpec, value: str, body: Any,
                matches: list[str]) -> tuple[Reply, bool]:
        prepared = self._prepare_write(body)
        if spec.name == EXTERNAL_ID:
            given = prepared.fields.get(EXTERNAL_ID)
            if given is not None and str(given).lower() != value.lower():
                raise ApiError(
                    400, "INVALID_FIELD",
                    f"The {EXTERNAL_ID} in the request body ({given}) differs from the one "
                    f"in the URL ({value})", [EXTERNAL_ID],
                )
            if not matches:
                # A new record takes its external id from the URL; a matched one keeps
                # its own spelling (the match ignores case).
                prepared.fields[EXTERNAL_ID] = value
        elif not matches:
            raise not_found()  # upsert by Id cannot create: an Id is never chosen by a client
        with self.store.transaction():
            moment = utc_now()
            if matches:
                result = self._update(prepared, matches[0], moment)
            else:
                result = self.collections.create_record(prepared, moment)
        if not result["success"]:
            return _refused(result["errors"]), False
        if _version_number(version) < UPSERT_BODY_SINCE:
            return (Reply(204) if matches else Reply(201, result)), True
        return Reply(200 if matches else 201, {**result, "created": not matches}), True

    # -- shared ---------------------------------------------------------------------

    def _prepare_write(self, body: Any) -> Prepared:
        prepared = prepare_record(body, require_type=False)
        if prepared.has_id:
            # The URL names the record; Salesforce refuses an Id in the body as well.
            raise ApiError(400, "INVALID_ID_FIELD",
                           "The Id field should not be specified in the sobject data.")
        return prepared

    def _update(self, prepared: Prepared, record_id: str, moment: dt.datetime
                ) -> dict[str, Any]:
        prepared.given_id, prepared.has_id = record_id, True
        return self.collections.update_record(prepared, moment)

    @staticmethod
    def _field(name: str) -> FieldSpec:
        spec = canonical_field(name)
        if spec is None:
            raise unknown_field(name)
        return spec
