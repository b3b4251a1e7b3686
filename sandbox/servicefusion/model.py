"""Customers (with nested contacts and locations) and jobs: validation and JSON shapes.

`validate_*` turn a create body into the stored document or raise `ValidationFailed`
with every error found, as the real API lists them all at once. Unknown and
server-set fields in a body are ignored, as the real API (Yii2 "safe attributes")
ignores them. `render_*` build the API's JSON from a stored row, honouring `fields`
(top-level fields kept; none given = all) and `expand` (nested lists added).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from sandbox.servicefusion.messages import ValidationFailed
from sandbox.servicefusion.reference import CATEGORY_NAMES, DEFAULT_STATUS, STATUS_NAMES, TECHS
from sandbox.servicefusion.store import rfc3339

CUSTOMER_NAME_MAX = 45
DESCRIPTION_MAX = 500
TEXT_MAX = 255
PHONE_PATTERN = re.compile(r"^\d{3}-\d{3}-\d{4}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Writable customer fields besides customer_name / parent_customer and the nested lists.
CUSTOMER_TEXT = ("account_number", "payment_type", "payment_terms", "referral_source",
                 "agent", "industry", "private_notes", "public_notes")
CUSTOMER_BOOL = ("is_vip", "is_taxable", "is_bill_for_drive_time")
CUSTOMER_FIELDS = (
    "id", "customer_name", "fully_qualified_name", "parent_customer", "account_number",
    "account_balance", "payment_type", "payment_terms", "referral_source", "agent",
    "industry", "is_vip", "is_taxable", "is_bill_for_drive_time", "last_serviced_date",
    "private_notes", "public_notes", "created_at", "updated_at",
)
CUSTOMER_EXPANDABLE = ("contacts", "contacts.phones", "contacts.emails", "locations",
                       "custom_fields")

CONTACT_TEXT = ("prefix", "suffix", "contact_type", "job_title", "department")
CONTACT_FIELDS = ("prefix", "fname", "lname", "suffix", "contact_type", "job_title",
                  "department", "is_primary", "created_at", "updated_at")
PHONE_FIELDS = ("phone", "ext", "type", "is_mobile")
EMAIL_FIELDS = ("email", "class", "types_accepted")
LOCATION_TEXT = ("street_2", "city", "state_prov", "postal_code", "country", "nickname",
                 "gate_instructions", "location_type")
LOCATION_BOOL = ("is_gated", "is_bill_to")
LOCATION_FIELDS = ("street_1", "street_2", "city", "state_prov", "postal_code", "country",
                   "nickname", "gate_instructions", "location_type", "latitude", "longitude",
                   "is_primary", "is_gated", "is_bill_to", "created_at", "updated_at")

JOB_TEXT = ("tech_notes", "source", "contact_first_name", "contact_last_name", "street_1",
            "street_2", "city", "state_prov", "postal_code", "location_name",
            "gate_instructions", "po_number", "called_in_by", "payment_type", "project",
            "phase", "priority")
JOB_FIELDS = (
    "id", "number", "description", "tech_notes", "duration", "start_date", "end_date",
    "created_at", "updated_at", "closed_at", "customer_id", "customer_name",
    "parent_customer", "status", "sub_status", "contact_first_name", "contact_last_name",
    "street_1", "street_2", "city", "state_prov", "postal_code", "location_name", "is_gated",
    "gate_instructions", "category", "source", "priority", "payment_type", "po_number",
    "project", "phase", "called_in_by", "is_requires_follow_up", "total", "due_total",
)
JOB_EXPANDABLE = ("techs_assigned", "notes", "custom_fields")


def label(name: str) -> str:
    """How the real API names a field in its messages: `customer_name` -> `Customer Name`."""
    return " ".join(part.capitalize() for part in name.split("_"))


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def _text(body: dict[str, Any], name: str, errors: _Errors, where: str = "",
          required: bool = False, max_len: int = TEXT_MAX) -> str | None:
    value = body.get(name)
    field = f"{where}{name}" if not where else f"{where}[{name}]"
    if value is None or value == "":
        if required:
            errors.add(field, f"{label(name)} cannot be blank.")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.add(field, f"{label(name)} must be a string.")
        return None
    text = str(value)
    if required and not text.strip():
        errors.add(field, f"{label(name)} cannot be blank.")
        return None
    if len(text) > max_len:
        errors.add(field, f"{label(name)} should contain at most {max_len} characters.")
        return None
    return text


def _bool(body: dict[str, Any], name: str, errors: _Errors, where: str = "") -> bool:
    value = body.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    errors.add(f"{where}[{name}]" if where else name,
               f"{label(name)} must be either \"1\" or \"0\".")
    return False


def _list(body: dict[str, Any], name: str, errors: _Errors, where: str = "") -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.add(f"{where}[{name}]" if where else name,
                   f"{label(name)} must be a list of objects.")
        return []
    return value


# -- customers ------------------------------------------------------------------


def validate_customer(body: Any, find_customer: Callable[[str], dict[str, Any] | None]
                      ) -> dict[str, Any]:
    """The stored document of a new customer, or ValidationFailed."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("customer_name", "Customer Name cannot be blank.")
        errors.raise_any()
    doc: dict[str, Any] = {"customer_name": _text(body, "customer_name", errors, required=True,
                                                  max_len=CUSTOMER_NAME_MAX)}
    parent_name = _text(body, "parent_customer", errors)
    doc["parent_customer"] = None
    if parent_name is not None:
        parent = find_customer(parent_name)
        if parent is None:
            errors.add("parent_customer", f"Parent Customer \"{parent_name}\" does not exist.")
        else:
            doc["parent_customer"] = parent["doc"]["customer_name"]
    for name in CUSTOMER_TEXT:
        doc[name] = _text(body, name, errors, max_len=65535 if "notes" in name else TEXT_MAX)
    for name in CUSTOMER_BOOL:
        doc[name] = _bool(body, name, errors)
    doc["contacts"] = [_contact(item, i, errors)
                       for i, item in enumerate(_list(body, "contacts", errors))]
    doc["locations"] = [_location(item, i, errors)
                        for i, item in enumerate(_list(body, "locations", errors))]
    errors.raise_any()
    for nested in (doc["contacts"], doc["locations"]):
        # One primary per list: the first one when the body flags none.
        if nested and not any(item["is_primary"] for item in nested):
            nested[0]["is_primary"] = True
    return doc


def _contact(body: dict[str, Any], index: int, errors: _Errors) -> dict[str, Any]:
    where = f"contacts[{index}]"
    contact: dict[str, Any] = {
        "fname": _text(body, "fname", errors, where, required=True),
        "lname": _text(body, "lname", errors, where, required=True),
    }
    for name in CONTACT_TEXT:
        contact[name] = _text(body, name, errors, where)
    contact["is_primary"] = _bool(body, "is_primary", errors, where)
    phones = []
    for i, phone in enumerate(_list(body, "phones", errors, where)):
        phone_where = f"{where}[phones][{i}]"
        number = _text(phone, "phone", errors, phone_where, required=True)
        if number is not None and not PHONE_PATTERN.match(number):
            errors.add(f"{phone_where}[phone]",
                       "Phone is invalid. Use the format 555-123-4567.")
        phones.append({"phone": number, "ext": _text(phone, "ext", errors, phone_where),
                       "type": _text(phone, "type", errors, phone_where),
                       "is_mobile": _bool(phone, "is_mobile", errors, phone_where)})
    emails = []
    for i, email in enumerate(_list(body, "emails", errors, where)):
        email_where = f"{where}[emails][{i}]"
        address = _text(email, "email", errors, email_where, required=True)
        if address is not None and not EMAIL_PATTERN.match(address):
            errors.add(f"{email_where}[email]", "Email is not a valid email address.")
        emails.append({"email": address, "class": _text(email, "class", errors, email_where),
                       "types_accepted": _text(email, "types_accepted", errors, email_where)})
    contact["phones"], contact["emails"] = phones, emails
    return contact


def _location(body: dict[str, Any], index: int, errors: _Errors) -> dict[str, Any]:
    where = f"locations[{index}]"
    location: dict[str, Any] = {"street_1": _text(body, "street_1", errors, where,
                                                  required=True)}
    for name in LOCATION_TEXT:
        location[name] = _text(body, name, errors, where)
    location["is_primary"] = _bool(body, "is_primary", errors, where)
    for name in LOCATION_BOOL:
        location[name] = _bool(body, name, errors, where)
    location["latitude"] = location["longitude"] = None
    return location


def render_customer(row: dict[str, Any], fields: set[str] | None,
                    expand: set[str]) -> dict[str, Any]:
    doc = row["doc"]
    created, updated = rfc3339(row["created_at"]), rfc3339(row["updated_at"])
    parent = doc.get("parent_customer")
    full: dict[str, Any] = {
        **{name: doc.get(name) for name in CUSTOMER_FIELDS},
        "id": row["id"],
        "fully_qualified_name": f"{parent}:{doc['customer_name']}" if parent
        else doc["customer_name"],
        "account_balance": 0.0, "last_serviced_date": None,
        "created_at": created, "updated_at": updated,
    }
    out = {name: full[name] for name in CUSTOMER_FIELDS if fields is None or name in fields}
    if expand & {"contacts", "contacts.phones", "contacts.emails"}:
        contacts = []
        for contact in doc.get("contacts") or []:
            item = {name: contact.get(name) for name in CONTACT_FIELDS}
            item["created_at"], item["updated_at"] = created, created
            if "contacts.phones" in expand:
                item["phones"] = [{name: p.get(name) for name in PHONE_FIELDS}
                                  for p in contact.get("phones") or []]
            if "contacts.emails" in expand:
                item["emails"] = [{name: e.get(name) for name in EMAIL_FIELDS}
                                  for e in contact.get("emails") or []]
            contacts.append(item)
        out["contacts"] = contacts
    if "locations" in expand:
        out["locations"] = [
            {**{name: loc.get(name) for name in LOCATION_FIELDS},
             "created_at": created, "updated_at": created}
            for loc in doc.get("locations") or []
        ]
    if "custom_fields" in expand:
        out["custom_fields"] = []
    out["_expandable"] = [name for name in CUSTOMER_EXPANDABLE if name not in expand]
    return out


# -- jobs -------------------------------------------------------------------------


def validate_job(body: Any, find_customer: Callable[[str], dict[str, Any] | None]
                 ) -> tuple[int, dict[str, Any]]:
    """(customer id, stored document) of a new job, or ValidationFailed."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("customer_name", "Customer Name cannot be blank.")
        errors.raise_any()
    customer_ref = _text(body, "customer_name", errors, required=True)
    customer = None
    if customer_ref is not None:
        customer = find_customer(customer_ref)
        if customer is None:
            errors.add("customer_name", f"Customer \"{customer_ref}\" does not exist.")
    doc: dict[str, Any] = {name: _text(body, name, errors) for name in JOB_TEXT}
    doc["description"] = _text(body, "description", errors, max_len=DESCRIPTION_MAX)
    status = _text(body, "status", errors)
    if status is not None and status not in STATUS_NAMES:
        errors.add("status", f"Status \"{status}\" is invalid.")
    doc["status"] = status or DEFAULT_STATUS
    doc["sub_status"] = None
    category = _text(body, "category", errors)
    if category is not None and category not in CATEGORY_NAMES:
        errors.add("category", f"Category \"{category}\" is invalid.")
    doc["category"] = category
    for name in ("start_date", "end_date"):
        value = _text(body, name, errors)
        if value is not None and not _is_date(value):
            errors.add(name, f"The format of {label(name)} is invalid.")
        doc[name] = value
    duration = body.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)
                                 or not 0 <= duration <= 86400):
        errors.add("duration", "Duration must be an integer from 0 to 86400.")
        duration = None
    doc["duration"] = duration
    doc["is_gated"] = _bool(body, "is_gated", errors)
    doc["is_requires_follow_up"] = _bool(body, "is_requires_follow_up", errors)
    doc["techs_assigned"] = [_tech(item, i, errors)
                             for i, item in enumerate(_list(body, "techs_assigned", errors))]
    doc["notes"] = []
    for i, note in enumerate(_list(body, "notes", errors)):
        text = _text(note, "notes", errors, f"notes[{i}]", required=True, max_len=65535)
        doc["notes"].append({"notes": text})
    errors.raise_any()
    assert customer is not None  # no errors means the customer was found
    doc["customer_name"] = customer["doc"]["customer_name"]
    doc["parent_customer"] = customer["doc"].get("parent_customer")
    doc["closed_at"] = None
    return int(customer["id"]), doc


def _is_date(value: str) -> bool:
    if not DATE_PATTERN.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _tech(body: dict[str, Any], index: int, errors: _Errors) -> dict[str, Any]:
    for tech in TECHS:
        if body.get("id") == tech["id"] or (
            body.get("first_name") == tech["first_name"]
            and body.get("last_name") == tech["last_name"]
        ):
            return {"id": tech["id"], "first_name": tech["first_name"],
                    "last_name": tech["last_name"]}
    errors.add(f"techs_assigned[{index}]", "Tech does not exist.")
    return {}


def render_job(row: dict[str, Any], fields: set[str] | None, expand: set[str]) -> dict[str, Any]:
    doc = row["doc"]
    full: dict[str, Any] = {
        **{name: doc.get(name) for name in JOB_FIELDS},
        "id": row["id"], "number": row["number"], "customer_id": row["customer_id"],
        "created_at": rfc3339(row["created_at"]), "updated_at": rfc3339(row["updated_at"]),
        "total": 0.0, "due_total": 0.0,
    }
    out = {name: full[name] for name in JOB_FIELDS if fields is None or name in fields}
    if "techs_assigned" in expand:
        out["techs_assigned"] = list(doc.get("techs_assigned") or [])
    if "notes" in expand:
        created = rfc3339(row["created_at"])
        out["notes"] = [{"notes": n.get("notes"), "created_at": created,
                         "updated_at": created} for n in doc.get("notes") or []]
    if "custom_fields" in expand:
        out["custom_fields"] = []
    out["_expandable"] = [name for name in JOB_EXPANDABLE if name not in expand]
    return out
