"""The rows of the RDS source (docs/warehouse.md, "The RDS source") and the ids they carry."""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import datetime

FEATURE_CODES: tuple[str, ...] = (
    "fraud_detection",
    "income_verification",
    "identity_verification",
    "rent_verification",
)

# feature_code -> (checkbox field, date field) of Product_Property__c
FEATURE_FIELDS: dict[str, tuple[str, str]] = {
    "fraud_detection": ("Fraud_Detection_Enabled__c", "Fraud_Detection_Enabled_Date__c"),
    "income_verification": (
        "Income_Verification_Enabled__c",
        "Income_Verification_Enabled_Date__c",
    ),
    "identity_verification": ("IDV_Enabled__c", "IDV_Enabled_Date__c"),
    "rent_verification": ("Rent_Verification_Enabled__c", "Rent_Verification_Enabled_Date__c"),
}

NAMESPACE = uuid.UUID("6f1c9a52-3d0e-4c61-9a57-2b8f0d4e7c11")


def stable_uuid(label: str) -> str:
    """Ids of the hand-written rows: fixed for ever, whatever the seed."""
    return str(uuid.uuid5(NAMESPACE, label))


def salesforce_id(id15: str) -> str:
    """The 18-character, case-insensitive form of a 15-character Salesforce id.

    Salesforce appends one character per block of five that encodes which of the
    block's characters are upper case, so ids survive case-insensitive tools.
    """
    if len(id15) != 15:
        raise ValueError(f"a Salesforce id has 15 characters before its suffix: {id15!r}")
    alphabet = string.ascii_uppercase + "012345"
    suffix = ""
    for block in range(3):
        flags = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if char.isupper():
                flags |= 1 << position
        suffix += alphabet[flags]
    return id15 + suffix


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Company:
    id: str
    name: str
    updated_at: datetime


@dataclass
class Property:
    id: str
    company_id: str
    name: str
    street_address: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    status: str
    sfdc_id: str | None
    inserted_at: datetime
    updated_at: datetime


@dataclass
class Feature:
    property_id: str
    feature_code: str
    enabled: bool
    enabled_at: datetime | None
    updated_at: datetime
