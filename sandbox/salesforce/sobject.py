"""The one object, `Product_Property__c`: its fields, typed values, datetimes."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

OBJECT = "Product_Property__c"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str  # id | string | textarea | boolean | date | double | datetime
    length: int = 0
    writable: bool = True
    required: bool = False
    external_id: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind in ("string", "textarea")


def _feature_fields(prefix: str, label: str) -> tuple[FieldSpec, FieldSpec]:
    return (
        FieldSpec(f"{prefix}_Enabled__c", f"{label} Enabled", "boolean"),
        FieldSpec(f"{prefix}_Enabled_Date__c", f"{label} Enabled Date", "date"),
    )


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Id", "Record ID", "id", 18, writable=False),
    FieldSpec("Name", "Product Property Name", "string", 80, required=True),
    FieldSpec("Snappt_Property_ID__c", "Snappt Property ID", "string", 255, external_id=True),
    FieldSpec("SF_Property_ID__c", "SF Property ID", "string", 18, writable=False),
    FieldSpec("Company_Name__c", "Company Name", "string", 255),
    FieldSpec("Street__c", "Street", "string", 255),
    FieldSpec("City__c", "City", "string", 40),
    FieldSpec("State__c", "State", "string", 20),
    FieldSpec("Postal_Code__c", "Postal Code", "string", 20),
    *_feature_fields("Fraud_Detection", "Fraud Detection"),
    *_feature_fields("Income_Verification", "Income Verification"),
    *_feature_fields("IDV", "IDV"),
    *_feature_fields("Rent_Verification", "Rent Verification"),
    FieldSpec("Active_Property_Count__c", "Active Property Count", "double", 18),
    FieldSpec("Contributing_Property_IDs__c", "Contributing Property IDs", "textarea", 131072),
    FieldSpec("CreatedDate", "Created Date", "datetime", writable=False),
    FieldSpec("LastModifiedDate", "Last Modified Date", "datetime", writable=False),
    FieldSpec("SystemModstamp", "System Modstamp", "datetime", writable=False),
    FieldSpec("IsDeleted", "Deleted", "boolean", writable=False),
)
FIELD_BY_KEY = {spec.name.lower(): spec for spec in FIELDS}
SYSTEM_FIELDS = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
# What sim.records.fields (jsonb) holds: every field that is not a system column.
STORED_FIELDS = tuple(spec for spec in FIELDS if spec.name not in SYSTEM_FIELDS)
EXTERNAL_ID = "Snappt_Property_ID__c"


def canonical_field(name: str) -> FieldSpec | None:
    """Salesforce field names are case-insensitive; answers use the API name."""
    return FIELD_BY_KEY.get(name.lower())


# -- values -------------------------------------------------------------------


class TypeMismatch(Exception):
    pass


def coerce_value(spec: FieldSpec, value: Any) -> Any:
    """A request value as stored; raises TypeMismatch where Salesforce's parser refuses it."""
    if value is None:
        return False if spec.kind == "boolean" else None
    if spec.is_text:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        if not isinstance(value, str):
            raise TypeMismatch
        return value or None  # Salesforce stores an empty text as null
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise TypeMismatch
        return value
    if spec.kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeMismatch
        return float(value)
    if spec.kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise TypeMismatch
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise TypeMismatch from None
        return value
    return value


def output_value(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "double" and value is not None and not isinstance(value, bool):
        return float(value)
    if spec.kind == "boolean":
        return bool(value)
    return value


# -- datetimes ----------------------------------------------------------------


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sf_datetime(moment: dt.datetime) -> str:
    """Salesforce's datetime format: 2024-05-01T12:34:56.000+0000."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


def parse_datetime(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value.replace("Z", "+00:00"))
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

