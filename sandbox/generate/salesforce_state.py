"""The `Product_Property__c` staging records Salesforce holds before the first sync.

About 90 % right, wrong in the ways the production org is wrong (missing active
properties, wrong feature flags, records keyed by a non-primary member or only by
`SF_Property_ID__c`, duplicates, an orphan). The lead's demo loads them into the
Salesforce simulator through its admin API.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from sandbox.generate.edge_cases import (
    EDGE_CASES,
    EDGE_PROPERTY_IDS,
    ORPHAN_SNAPPT_ID,
    SFDC_LONG_CITY,
    SFDC_NULL_ADDRESS,
    SFDC_ORPHAN,
    TIE_FOREIGN_SNAPPT_ID,
)
from sandbox.generate.model import FEATURE_CODES, FEATURE_FIELDS, Feature, Property


@dataclass
class _Group:
    key: str
    sfdc_id: str | None
    members: list[Property]
    active: list[Property]
    primary: Property
    flags: dict[str, bool]
    dates: dict[str, date | None]


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _aggregate(
    properties: Iterable[Property], features: Iterable[Feature]
) -> dict[str, _Group]:
    """The aggregation rules of docs/warehouse.md, in Python, for the sandbox only."""
    by_property: dict[str, list[Feature]] = defaultdict(list)
    for feature in features:
        by_property[feature.property_id].append(feature)
    members: dict[str, list[Property]] = defaultdict(list)
    for prop in properties:
        members[prop.sfdc_id or prop.id].append(prop)

    groups = {}
    for key, group in members.items():
        active = [p for p in group if p.status == "ACTIVE"]
        candidates = active or group
        newest = max(p.updated_at for p in candidates)
        primary = min((p for p in candidates if p.updated_at == newest), key=lambda p: p.id)
        flags = dict.fromkeys(FEATURE_CODES, False)
        dates: dict[str, date | None] = dict.fromkeys(FEATURE_CODES)
        for prop in active:
            for feature in by_property[prop.id]:
                if not feature.enabled:
                    continue
                flags[feature.feature_code] = True
                if feature.enabled_at is not None:
                    day = _utc_date(feature.enabled_at)
                    current = dates[feature.feature_code]
                    dates[feature.feature_code] = day if current is None else min(current, day)
        groups[key] = _Group(
            key, group[0].sfdc_id, sorted(group, key=lambda p: p.id), active, primary,
            flags, dates,
        )
    return groups


def _record(group: _Group, snappt_id: str, companies: dict[str, str]) -> dict[str, object]:
    """The staging record a correct sync would hold for `group`, keyed by `snappt_id`."""
    p = group.primary
    record: dict[str, object] = {
        "Name": p.name,
        "Snappt_Property_ID__c": snappt_id,
        "SF_Property_ID__c": group.sfdc_id,
        "Company_Name__c": companies.get(p.company_id),
        "Street__c": p.street_address,
        "City__c": p.city,
        "State__c": p.state,
        "Postal_Code__c": p.postal_code,
    }
    for code, (flag_field, date_field) in FEATURE_FIELDS.items():
        record[flag_field] = group.flags[code]
        day = group.dates[code]
        record[date_field] = day.isoformat() if day else None
    contributing = sorted(m.id for m in group.active)
    record["Active_Property_Count__c"] = len(contributing)
    record["Contributing_Property_IDs__c"] = ",".join(contributing) or None
    return record


def _load(dsn: str) -> tuple[list[Property], list[Feature], dict[str, str]]:
    with psycopg.connect(dsn) as conn:
        props = [
            Property(*row) for row in conn.execute(
                "select id::text, company_id::text, name, street_address, city, state,"
                " postal_code, status, sfdc_id, inserted_at, updated_at"
                " from public.properties order by id"
            )
        ]
        feats = [
            Feature(*row) for row in conn.execute(
                "select property_id::text, feature_code, enabled, enabled_at, updated_at"
                " from public.property_features order by property_id, feature_code"
            )
        ]
        companies = {
            row[0]: row[1]
            for row in conn.execute("select id::text, name from public.companies")
        }
    return props, feats, companies


def _edge_salesforce_records(
    groups: dict[str, _Group], companies: dict[str, str]
) -> list[dict[str, object]]:
    """The fixed Salesforce state of the hand-written cases (see EdgeCase.salesforce_today)."""
    cases = EDGE_CASES
    records = []

    def members(name: str) -> dict[str, str]:
        return cases[name].members

    def group_of(name: str) -> _Group:
        case = cases[name]
        return groups[case.sfdc_id or next(iter(case.members.values()))]

    pk = _record(group_of("park_kennedy"), members("park_kennedy")["disabled"], companies)
    pk.update({"Fraud_Detection_Enabled__c": False, "Fraud_Detection_Enabled_Date__c": None,
               "IDV_Enabled__c": False, "IDV_Enabled_Date__c": None})
    records.append(pk)

    union = _record(group_of("feature_union"), members("feature_union")["north"], companies)
    union.update({"Income_Verification_Enabled__c": False,
                  "Income_Verification_Enabled_Date__c": None})
    records.append(union)

    earliest = _record(
        group_of("earliest_enabled"), members("earliest_enabled")["primary"], companies
    )
    earliest["Fraud_Detection_Enabled_Date__c"] = "2024-06-01"
    records.append(earliest)

    tie = _record(group_of("updated_at_tie"), TIE_FOREIGN_SNAPPT_ID, companies)
    tie["Name"] = "Maple Court Apartments"
    records.append(tie)

    churned = _record(group_of("all_disabled"), members("all_disabled")["old"], companies)
    churned.update({"Fraud_Detection_Enabled__c": True,
                    "Fraud_Detection_Enabled_Date__c": "2020-03-03",
                    "Active_Property_Count__c": 1,
                    "Contributing_Property_IDs__c": members("all_disabled")["old"],
                    "Name": "Riverside Lofts", "Street__c": "700 Riverside Dr"})
    records.append(churned)

    midnight = _record(group_of("midnight_utc"), members("midnight_utc")["only"], companies)
    midnight.update({"Fraud_Detection_Enabled_Date__c": "2024-07-01",
                     "IDV_Enabled_Date__c": "2024-02-29",
                     "Income_Verification_Enabled_Date__c": "2023-12-31"})
    records.append(midnight)

    long_city = groups[SFDC_LONG_CITY]
    city = _record(long_city, members("long_city")["update"], companies)
    city["City__c"] = "North Palm Beach"
    records.append(city)

    records.append(_record(
        groups[SFDC_NULL_ADDRESS], members("null_address")["only"], companies
    ))

    dup = group_of("duplicate_records")
    for role, code in (("east", "identity_verification"), ("west", "fraud_detection")):
        record = _record(dup, members("duplicate_records")[role], companies)
        flag_field, date_field = FEATURE_FIELDS[code]
        record.update({flag_field: False, date_field: None, "Active_Property_Count__c": 1,
                       "Contributing_Property_IDs__c": members("duplicate_records")[role]})
        records.append(record)

    records.append({
        "Name": "Glenwood Manor",
        "Snappt_Property_ID__c": ORPHAN_SNAPPT_ID,
        "SF_Property_ID__c": SFDC_ORPHAN,
        "Company_Name__c": "Capitol Row Residential",
        "Street__c": "9 Glenwood Rd",
        "City__c": "Arlington",
        "State__c": "VA",
        "Postal_Code__c": "22201",
        "Fraud_Detection_Enabled__c": True,
        "Fraud_Detection_Enabled_Date__c": "2019-08-08",
        "Income_Verification_Enabled__c": False,
        "Income_Verification_Enabled_Date__c": None,
        "IDV_Enabled__c": False,
        "IDV_Enabled_Date__c": None,
        "Rent_Verification_Enabled__c": False,
        "Rent_Verification_Enabled_Date__c": None,
        "Active_Property_Count__c": 1,
        "Contributing_Property_IDs__c": ORPHAN_SNAPPT_ID,
    })
    return records


def _damage(rng: random.Random, record: dict[str, object]) -> None:
    """One of the ways a staging record is wrong today."""
    roll = rng.random()
    if roll < 0.5 and record["IDV_Enabled__c"]:
        # The most common report: IDV enabled in RDS, FALSE in Salesforce.
        record["IDV_Enabled__c"] = False
        record["IDV_Enabled_Date__c"] = None
    elif roll < 0.7:
        code = rng.choice(FEATURE_CODES)
        flag_field, date_field = FEATURE_FIELDS[code]
        enabled = not record[flag_field]
        record[flag_field] = enabled
        record[date_field] = (
            (date(2023, 1, 1) + timedelta(days=rng.randrange(900))).isoformat()
            if enabled else None
        )
    elif roll < 0.85:
        dated = [f for _, f in FEATURE_FIELDS.values() if record[f]]
        if dated:
            chosen = rng.choice(dated)
            day = date.fromisoformat(str(record[chosen])) - timedelta(days=1)
            record[chosen] = day.isoformat()  # the old sync used the local date
        else:
            record["Fraud_Detection_Enabled__c"] = True
            record["Fraud_Detection_Enabled_Date__c"] = "2022-01-01"
    else:
        record["Name"] = f"{record['Name']} (old)"[:80]


def initial_salesforce_records(dsn: str, seed: int = 7) -> list[dict[str, object]]:
    """Product_Property__c records that Salesforce holds before the first sync.

    Meant to be called right after `generate_rds` on the same database. Field names
    are those of docs/warehouse.md, without `Id` (Salesforce assigns it). About
    90 % of the groups are right: ~12 % of the active groups are missing (mostly new
    properties without sfdc_id), ~11 % of the present ones carry a wrong feature flag,
    date or name, and records of multi-property groups often still describe a single
    member (the old sync was blocked on them).
    """
    props, feats, companies = _load(dsn)
    groups = _aggregate(props, feats)
    rng = random.Random(f"salesforce:{seed}")
    records = _edge_salesforce_records(groups, companies)
    edge_keys = {
        key for key, group in groups.items()
        if any(m.id in EDGE_PROPERTY_IDS for m in group.members)
    }

    for key in sorted(groups):
        if key in edge_keys:
            continue
        group = groups[key]
        linked = group.sfdc_id is not None
        if not group.active:
            if rng.random() < 0.5:  # churned; the old sync never told Salesforce
                record = _record(group, group.primary.id, companies)
                record.update({"Fraud_Detection_Enabled__c": True,
                               "Fraud_Detection_Enabled_Date__c": "2021-05-05",
                               "Active_Property_Count__c": 1,
                               "Contributing_Property_IDs__c": group.primary.id})
                records.append(record)
            continue
        present = rng.random() < (0.96 if linked else 0.40)
        if not present:
            continue
        multi = len(group.members) > 1
        snappt_id = group.primary.id
        if multi and rng.random() < 0.25:
            snappt_id = rng.choice([m.id for m in group.members if m.id != group.primary.id])
        if linked and rng.random() < 0.03:
            snappt_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        record = _record(group, snappt_id, companies)
        if linked and rng.random() < 0.10:
            record["SF_Property_ID__c"] = None  # the link workflow has not run yet
        if rng.random() < 0.11:
            _damage(rng, record)
        if multi and rng.random() < 0.4:
            record["Active_Property_Count__c"] = 1
            record["Contributing_Property_IDs__c"] = snappt_id
        records.append(record)
        if multi and rng.random() < 0.01:
            other = rng.choice([m.id for m in group.members if m.id != snappt_id])
            twin = _record(group, other, companies)
            twin.update({"Active_Property_Count__c": 1, "Contributing_Property_IDs__c": other})
            records.append(twin)

    return sorted(records, key=lambda r: str(r["Snappt_Property_ID__c"]))
