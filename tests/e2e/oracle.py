"""An independent statement of docs/warehouse.md, in Python, to check the SQL against.

It reads the RDS source directly and says what Salesforce must hold after a
complete create + update cycle. It shares no code with the dbt models: if both
agree, the rules are implemented as the spec states them, not as the code
happens to compute them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

FEATURES = {
    # feature_code: (checkbox field, date field)
    "fraud_detection": ("Fraud_Detection_Enabled__c", "Fraud_Detection_Enabled_Date__c"),
    "income_verification": (
        "Income_Verification_Enabled__c",
        "Income_Verification_Enabled_Date__c",
    ),
    "identity_verification": ("IDV_Enabled__c", "IDV_Enabled_Date__c"),
    "rent_verification": ("Rent_Verification_Enabled__c", "Rent_Verification_Enabled_Date__c"),
}

# Field lengths of the Salesforce object: a value longer than this is rejected
# by Salesforce (STRING_TOO_LONG), so such a record cannot reach Salesforce.
MAX_LENGTH = {"City__c": 40, "State__c": 20, "Postal_Code__c": 20, "Street__c": 255,
              "Company_Name__c": 255}


@dataclass
class Group:
    key: str
    sfdc_id: str | None
    member_ids: set[str]
    has_active: bool
    primary_id: str
    values: dict[str, Any]  # the Salesforce fields the sync writes, as Salesforce returns them

    def acceptable_to_salesforce(self) -> bool:
        return all(
            self.values.get(field) is None or len(self.values[field]) <= limit
            for field, limit in MAX_LENGTH.items()
        )


def _text_or_none(value: str | None) -> str | None:
    # Salesforce stores an empty text as null.
    return value if value else None


def build_groups(rds_dsn: str) -> list[Group]:
    with psycopg.connect(rds_dsn) as conn:
        properties = conn.execute(
            """
            select p.id::text, p.name, p.street_address, p.city, p.state, p.postal_code,
                   p.status, p.sfdc_id, p.updated_at, c.name
            from properties as p left join companies as c on c.id = p.company_id
            """
        ).fetchall()
        feature_rows = conn.execute(
            "select property_id::text, feature_code, enabled, enabled_at from property_features"
        ).fetchall()

    features: dict[str, dict[str, tuple[bool, datetime | None]]] = {}
    for property_id, code, enabled, enabled_at in feature_rows:
        features.setdefault(property_id, {})[code] = (enabled, enabled_at)

    members_by_group: dict[str, list[tuple[Any, ...]]] = {}
    for row in properties:
        sfdc_id = row[7]
        key = f"sfdc:{sfdc_id}" if sfdc_id is not None else f"rds:{row[0]}"
        members_by_group.setdefault(key, []).append(row)

    groups = []
    for key, members in members_by_group.items():
        active = [m for m in members if m[6] == "ACTIVE"]
        # Latest updated_at first; among equals the smallest id. Canonical UUID text
        # sorts like the UUID bytes, which is how Postgres orders uuid values.
        pool = active or members
        latest = max(m[8] for m in pool)
        primary = min((m for m in pool if m[8] == latest), key=lambda m: m[0])
        values: dict[str, Any] = {
            "Name": primary[1][:80],
            "Company_Name__c": _text_or_none(primary[9]),
            "Street__c": _text_or_none(primary[2]),
            "City__c": _text_or_none(primary[3]),
            "State__c": _text_or_none(primary[4]),
            "Postal_Code__c": _text_or_none(primary[5]),
            "Active_Property_Count__c": float(len(active)),
            "Contributing_Property_IDs__c": _text_or_none(",".join(sorted(m[0] for m in active))),
        }
        for code, (checkbox, date_field) in FEATURES.items():
            enabled_at = [
                features[m[0]][code][1]
                for m in active
                if code in features.get(m[0], {}) and features[m[0]][code][0]
            ]
            values[checkbox] = any(
                features.get(m[0], {}).get(code, (False, None))[0] for m in active
            )
            dated = [moment for moment in enabled_at if moment is not None]
            values[date_field] = (
                min(dated).astimezone(UTC).date().isoformat() if dated else None
            )
        groups.append(
            Group(
                key=key,
                sfdc_id=members[0][7],
                member_ids={m[0] for m in members},
                has_active=bool(active),
                primary_id=primary[0],
                values=values,
            )
        )
    return groups


def match_group(record: dict[str, Any], groups: list[Group]) -> Group | None:
    """A record matches by any member id first, then by the production id."""
    snappt_id = (record.get("Snappt_Property_ID__c") or "").lower()
    for group in groups:
        if snappt_id in group.member_ids:
            return group
    sf_property_id = record.get("SF_Property_ID__c")
    if sf_property_id:
        for group in groups:
            if group.sfdc_id == sf_property_id:
                return group
    return None


def expected_salesforce(
    rds_dsn: str, initial_records: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(expected values by existing record Id, expected new records by Snappt id)."""
    groups = build_groups(rds_dsn)
    by_id: dict[str, dict[str, Any]] = {}
    matched_groups: set[str] = set()
    for record in initial_records:
        group = match_group(record, groups)
        if group is None:
            by_id[record["Id"]] = {}  # an orphan: the sync must leave it alone
            continue
        matched_groups.add(group.key)
        by_id[record["Id"]] = group.values if group.acceptable_to_salesforce() else {}
    new_records = {
        group.primary_id: group.values
        for group in groups
        if group.has_active
        and group.key not in matched_groups
        and group.acceptable_to_salesforce()
    }
    return by_id, new_records
