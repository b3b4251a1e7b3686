"""A realistic, deterministic RDS data set for the properties -> Salesforce slice.

`generate_rds` (re)creates the three tables of docs/warehouse.md ("The RDS source") in schema
`public` and fills them. Two kinds of rows go in:

* Hand-written edge cases (`EDGE_CASES`) with fixed ids, timestamps and features,
  one per aggregation rule of docs/warehouse.md, so that dbt tests and the demo
  can name them and know the expected result without running anything. Their ids
  do not depend on the seed.
* Bulk rows drawn from `random.Random(seed)` in the proportions of the production
  data: about 25 % of the properties in groups of several RDS rows sharing one
  `sfdc_id`, about 10 % DISABLED, about 12 % without an `sfdc_id` (new properties
  that were never linked).

`mutate_rds` applies a small, realistic change set with `updated_at` after every
existing value (so an incremental extract picks up exactly those rows), and
`initial_salesforce_records` builds the `Product_Property__c` staging records that
Salesforce holds "today": about 90 % right, with the known kinds of damage.

Timestamps are anchored at fixed dates, never at the clock, so a seed always gives
the same rows.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from sandbox.generate import vocabulary as words
from sandbox.generate.edge_cases import (
    EDGE_CASES,
    EDGE_COMPANIES,
    EDGE_FEATURES,
    EDGE_PROPERTIES,
    EDGE_PROPERTY_IDS,
    SFDC_ORPHAN,
    EdgeCase,
)
from sandbox.generate.model import (
    FEATURE_CODES,
    FEATURE_FIELDS,
    Company,
    Feature,
    Property,
    salesforce_id,
    stable_uuid,
)
from sandbox.generate.salesforce_state import initial_salesforce_records

DDL = """
create table companies (
  id uuid primary key,
  name text not null,
  updated_at timestamptz not null
);
create table properties (
  id uuid primary key,
  company_id uuid references companies (id),
  name text not null,
  street_address text, city text, state text, postal_code text,
  status text not null check (status in ('ACTIVE', 'DISABLED')),
  -- sfdc_id: production Salesforce Property id; many RDS rows may share one
  sfdc_id text,
  inserted_at timestamptz not null,
  updated_at timestamptz not null
);
create table property_features (
  property_id uuid not null references properties (id),
  -- feature_code: fraud_detection | income_verification | identity_verification
  -- | rent_verification
  feature_code text not null,
  enabled boolean not null,
  enabled_at timestamptz,             -- null when never enabled
  updated_at timestamptz not null,
  primary key (property_id, feature_code)
);
"""

# Bulk timestamps fall in this window; the hand-written cases use literal dates in it.
HISTORY_START = datetime(2019, 1, 1, tzinfo=UTC)
SNAPSHOT_AT = datetime(2026, 1, 5, tzinfo=UTC)
NEW_PROPERTIES_SINCE = datetime(2025, 6, 1, tzinfo=UTC)

MIN_PROPERTIES = 60

# Share of properties per kind of group and DISABLED rate per kind; the mix gives
# ~25 % in multi-property groups, ~12 % without sfdc_id and ~10 % DISABLED overall.
MULTI_SHARE = 0.25
NULL_SFDC_SHARE = 0.12
DISABLED_RATE = {"multi": 0.16, "single": 0.08, "null": 0.05}
MULTI_SIZES = ((2, 70), (3, 18), (4, 7), (5, 3), (6, 2))

# feature_code -> (chance a row exists, chance it is enabled when it exists)
FEATURE_ODDS: dict[str, tuple[float, float]] = {
    "fraud_detection": (0.95, 0.85),
    "income_verification": (0.75, 0.50),
    "identity_verification": (0.70, 0.45),
    "rent_verification": (0.50, 0.25),
}
NO_FEATURE_ROWS_RATE = 0.07
TURNED_OFF_RATE = 0.25  # disabled rows that keep the enabled_at of an earlier enablement
EVENING_US_RATE = 0.08  # enabled_at between 00:00 and 06:00 UTC: the UTC date is "tomorrow"

# -- bulk rows ------------------------------------------------------------------------


class _Draw:
    """Random choices of one generation run, in a fixed order (determinism)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_sfdc_ids: set[str] = {
            p.sfdc_id for p in EDGE_PROPERTIES if p.sfdc_id
        } | {SFDC_ORPHAN}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def between(self, start: datetime, end: datetime) -> datetime:
        span = int((end - start).total_seconds() * 1_000_000)
        return start + timedelta(microseconds=self.rng.randrange(max(span, 1)))

    def sfdc_id(self) -> str:
        alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
        while True:
            pod = self.rng.choice(("8W", "Hs", "4x", "Dn", "3L"))
            body = "".join(self.rng.choice(alphabet) for _ in range(6))
            candidate = salesforce_id(f"a1B{pod}0000{body}")
            if candidate not in self.used_sfdc_ids:
                self.used_sfdc_ids.add(candidate)
                return candidate

    def company_name(self, taken: set[str]) -> str:
        while True:
            name = (
                f"{self.rng.choice(words.COMPANY_FIRST)} {self.rng.choice(words.COMPANY_SECOND)}"
                f"{self.rng.choice(words.COMPANY_LEGAL)}"
            )
            if name not in taken:
                taken.add(name)
                return name

    def property_name(self) -> str:
        prefix = self.rng.choice(words.PROPERTY_PREFIXES)
        core = self.rng.choice(words.PROPERTY_WORDS)
        kind = "" if prefix.startswith("The ") and self.rng.random() < 0.5 else (
            " " + self.rng.choice(words.PROPERTY_KINDS)
        )
        return f"{prefix}{core}{kind}"

    def address(self) -> tuple[str | None, str | None, str | None, str | None]:
        city, state, zip3 = self.rng.choice(words.CITIES)
        number = self.rng.randint(10, 9999)
        direction = (
            f" {self.rng.choice(words.STREET_DIRECTIONS)}" if self.rng.random() < 0.08 else ""
        )
        street = (
            f"{number} {self.rng.choice(words.STREET_NAMES)} "
            f"{self.rng.choice(words.STREET_SUFFIXES)}{direction}"
        )
        postal = f"{zip3}{self.rng.randint(0, 99):02d}"
        roll = self.rng.random()
        if roll < 0.02:  # never entered at onboarding
            return None, None, None, None
        if roll < 0.04:
            return None, city, state, postal
        if roll < 0.05:
            return street, city, state, None
        return street, city, state, postal

    def enabled_at(self, start: datetime, end: datetime) -> datetime:
        moment = self.between(start, end)
        if self.rng.random() < EVENING_US_RATE:
            moment = moment.replace(hour=self.rng.randint(0, 5))
            if moment < start:
                moment += timedelta(days=1)
        return min(moment, end)


def _plan_groups(draw: _Draw, properties: int) -> list[tuple[str, int]]:
    """(kind, size) of every bulk group, shuffled; kinds: multi, single, null."""
    edge_multi = sum(
        1 for p in EDGE_PROPERTIES
        if p.sfdc_id and sum(q.sfdc_id == p.sfdc_id for q in EDGE_PROPERTIES) > 1
    )
    edge_null = sum(1 for p in EDGE_PROPERTIES if p.sfdc_id is None)
    bulk = properties - len(EDGE_PROPERTIES)
    multi_target = max(0, round(MULTI_SHARE * properties) - edge_multi)
    null_target = max(0, round(NULL_SFDC_SHARE * properties) - edge_null)
    groups: list[tuple[str, int]] = []
    multi = 0
    sizes, weights = zip(*MULTI_SIZES, strict=True)
    while multi_target - multi >= 2:
        size = min(draw.rng.choices(sizes, weights)[0], multi_target - multi)
        groups.append(("multi", size))
        multi += size
    nulls = min(null_target, bulk - multi)
    groups += [("null", 1)] * nulls
    groups += [("single", 1)] * (bulk - multi - nulls)
    draw.rng.shuffle(groups)
    return groups


def _bulk_rows(
    draw: _Draw, properties: int
) -> tuple[list[Company], list[Property], list[Feature]]:
    rng = draw.rng
    taken = {c.name for c in EDGE_COMPANIES}
    companies = [
        Company(draw.uuid(), draw.company_name(taken), draw.between(HISTORY_START, SNAPSHOT_AT))
        for _ in range(max(8, properties // 15))
    ]
    # A few large managers own most buildings, like the real customer base.
    company_weights = [1 / (rank + 1) ** 0.9 for rank in range(len(companies))]

    rows: list[Property] = []
    features: list[Feature] = []
    for kind, size in _plan_groups(draw, properties):
        sfdc = None if kind == "null" else draw.sfdc_id()
        company = rng.choices(companies, company_weights)[0]
        base_name = draw.property_name()
        street, city, state, postal = draw.address()
        for member in range(size):
            if kind == "null":
                inserted = draw.between(NEW_PROPERTIES_SINCE, SNAPSHOT_AT - timedelta(days=3))
            else:
                inserted = draw.between(HISTORY_START, NEW_PROPERTIES_SINCE)
            updated = draw.between(inserted, SNAPSHOT_AT)
            name = base_name
            member_street = street
            member_company = company
            if member:
                name = base_name + rng.choice(words.MEMBER_VARIANTS)
                if street and rng.random() < 0.4:
                    number, rest = street.split(" ", 1)
                    member_street = f"{int(number) + 2 * member} {rest}"
                if rng.random() < 0.1:  # the building changed hands
                    member_company = rng.choices(companies, company_weights)[0]
            status = "DISABLED" if rng.random() < DISABLED_RATE[kind] else "ACTIVE"
            prop = Property(
                draw.uuid(), member_company.id, name, member_street, city, state, postal,
                status, sfdc, inserted, updated,
            )
            rows.append(prop)
            features.extend(_bulk_features(draw, prop))
    return companies, rows, features


def _bulk_features(draw: _Draw, prop: Property) -> list[Feature]:
    rng = draw.rng
    if rng.random() < NO_FEATURE_ROWS_RATE:
        return []
    result = []
    for code in FEATURE_CODES:
        exists, enabled_odds = FEATURE_ODDS[code]
        if rng.random() >= exists:
            continue
        if rng.random() < enabled_odds:
            at = draw.enabled_at(prop.inserted_at, SNAPSHOT_AT)
            result.append(Feature(prop.id, code, True, at, draw.between(at, SNAPSHOT_AT)))
        elif rng.random() < TURNED_OFF_RATE:
            at = draw.enabled_at(prop.inserted_at, SNAPSHOT_AT - timedelta(days=1))
            result.append(Feature(prop.id, code, False, at, draw.between(at, SNAPSHOT_AT)))
        else:
            result.append(Feature(
                prop.id, code, False, None, draw.between(prop.inserted_at, SNAPSHOT_AT)
            ))
    return result


# -- writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedRds:
    """What `generate_rds` wrote; counts are of rows in the database."""

    seed: int
    companies: int
    properties: int
    property_features: int
    active: int
    disabled: int
    null_sfdc_id: int
    sfdc_groups: int
    multi_property_groups: int
    properties_in_multi_groups: int
    edge_cases: dict[str, EdgeCase] = field(default_factory=lambda: dict(EDGE_CASES), repr=False)


def _write(
    conn: psycopg.Connection,
    companies: Sequence[Company],
    properties: Sequence[Property],
    features: Sequence[Feature],
) -> None:
    with conn.cursor() as cur:
        with cur.copy("copy companies (id, name, updated_at) from stdin") as copy:
            for c in companies:
                copy.write_row((c.id, c.name, c.updated_at))
        with cur.copy(
            "copy properties (id, company_id, name, street_address, city, state, postal_code,"
            " status, sfdc_id, inserted_at, updated_at) from stdin"
        ) as copy:
            for p in properties:
                copy.write_row((
                    p.id, p.company_id, p.name, p.street_address, p.city, p.state,
                    p.postal_code, p.status, p.sfdc_id, p.inserted_at, p.updated_at,
                ))
        with cur.copy(
            "copy property_features (property_id, feature_code, enabled, enabled_at,"
            " updated_at) from stdin"
        ) as copy:
            for f in features:
                copy.write_row(
                    (f.property_id, f.feature_code, f.enabled, f.enabled_at, f.updated_at)
                )


def generate_rds(dsn: str, properties: int = 3000, seed: int = 7) -> GeneratedRds:
    """Drop and recreate companies, properties and property_features in `public`, filled.

    `properties` is the total number of property rows, hand-written cases included.
    """
    if properties < MIN_PROPERTIES:
        raise ValueError(f"properties must be at least {MIN_PROPERTIES} (got {properties})")
    draw = _Draw(random.Random(seed))
    companies, bulk_properties, bulk_features = _bulk_rows(draw, properties)
    all_properties = [*EDGE_PROPERTIES, *bulk_properties]
    with psycopg.connect(dsn) as conn:
        conn.execute("set search_path to public")
        conn.execute("drop table if exists property_features, properties, companies cascade")
        conn.execute(DDL)
        _write(conn, [*EDGE_COMPANIES, *companies], all_properties,
               [*EDGE_FEATURES, *bulk_features])
        conn.commit()
        return _summarise(conn, seed)


def _summarise(conn: psycopg.Connection, seed: int) -> GeneratedRds:
    row = conn.execute(
        """
        with groups as (
          select sfdc_id, count(*) as members from properties
          where sfdc_id is not null group by sfdc_id
        )
        select
          (select count(*) from companies),
          (select count(*) from properties),
          (select count(*) from property_features),
          (select count(*) from properties where status = 'ACTIVE'),
          (select count(*) from properties where status = 'DISABLED'),
          (select count(*) from properties where sfdc_id is null),
          (select count(*) from groups),
          (select count(*) from groups where members > 1),
          (select coalesce(sum(members), 0) from groups where members > 1)
        """
    ).fetchone()
    assert row is not None
    return GeneratedRds(seed, *(int(value) for value in row))


# -- mutation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MutationSummary:
    """The rows `mutate_rds` touched; every one has updated_at >= `at`."""

    at: datetime
    features_enabled: list[tuple[str, str]]
    features_disabled: list[tuple[str, str]]
    features_added: list[tuple[str, str]]
    properties_disabled: list[str]
    properties_added: list[str]
    property_moved: tuple[str, str] | None  # (property id, sfdc_id of the group it joined)
    companies_renamed: list[str]

    def changed_rows(self) -> dict[str, int]:
        """Rows per table whose updated_at moved: what an incremental extract must merge."""
        properties = set(self.properties_disabled) | set(self.properties_added)
        if self.property_moved:
            properties.add(self.property_moved[0])
        feature_rows = (
            set(self.features_enabled) | set(self.features_disabled) | set(self.features_added)
        )
        return {
            "companies": len(set(self.companies_renamed)),
            "properties": len(properties),
            "property_features": len(feature_rows),
        }


def mutate_rds(dsn: str, seed: int = 7) -> MutationSummary:
    """A day of ordinary changes: features switched on and off, churn, onboarding, a merge.

    Deterministic for a given database state and seed. Hand-written edge cases are
    left alone, so their expected results stay true after a mutation.
    """
    with psycopg.connect(dsn) as conn:
        last = conn.execute(
            "select greatest((select max(updated_at) from companies),"
            " (select max(updated_at) from properties),"
            " (select max(updated_at) from property_features))"
        ).fetchone()
        if last is None or last[0] is None:
            raise ValueError("the RDS database is empty: run generate_rds first")
        at = last[0].astimezone(UTC).replace(microsecond=0) + timedelta(hours=1)
        rng = random.Random(f"{seed}:{at.isoformat()}")
        draw = _Draw(rng)
        edge = list(EDGE_PROPERTY_IDS)

        props = conn.execute(
            "select id::text, status, sfdc_id, company_id::text from properties"
            " where id::text <> all(%s) order by id",
            (edge,),
        ).fetchall()
        feature_rows = conn.execute(
            "select property_id::text, feature_code, enabled from property_features"
            " where property_id::text <> all(%s) order by property_id, feature_code",
            (edge,),
        ).fetchall()
        with_features = {row[0] for row in feature_rows}
        scale = max(len(props), 1)

        off = [(pid, code) for pid, code, enabled in feature_rows if not enabled]
        on = [(pid, code) for pid, code, enabled in feature_rows if enabled]
        to_enable = sorted(rng.sample(off, min(len(off), max(3, scale // 200))))
        to_disable = sorted(rng.sample(on, min(len(on), max(2, scale // 300))))
        bare = [p[0] for p in props if p[0] not in with_features and p[1] == "ACTIVE"]
        to_add = sorted((pid, "fraud_detection") for pid in rng.sample(bare, min(2, len(bare))))

        active = [p for p in props if p[1] == "ACTIVE"]
        churned = sorted(p[0] for p in rng.sample(active, min(len(active), max(2, scale // 300))))

        group_sizes: dict[str, int] = defaultdict(int)
        for p in props:
            if p[2]:
                group_sizes[p[2]] += 1
        multi_groups = sorted(s for s, n in group_sizes.items() if n > 1)
        loners = [p[0] for p in active if p[2] is None and p[0] not in churned]
        moved: tuple[str, str] | None = None
        if multi_groups and loners:
            moved = (rng.choice(loners), rng.choice(multi_groups))

        companies = [r[0] for r in conn.execute("select id::text from companies order by id")]
        edge_companies = {c.id for c in EDGE_COMPANIES}
        renamed = [rng.choice([c for c in companies if c not in edge_companies])]

        tick = iter(range(10_000))

        def stamp() -> datetime:
            return at + timedelta(seconds=next(tick))

        for pid, code in to_enable:
            when = stamp()
            conn.execute(
                "update property_features set enabled = true, enabled_at = %s, updated_at = %s"
                " where property_id = %s and feature_code = %s",
                (when, when, pid, code),
            )
        for pid, code in to_disable:
            # Switching a feature off keeps its enabled_at, as the application does.
            conn.execute(
                "update property_features set enabled = false, updated_at = %s"
                " where property_id = %s and feature_code = %s",
                (stamp(), pid, code),
            )
        for pid, code in to_add:
            when = stamp()
            conn.execute(
                "insert into property_features values (%s, %s, true, %s, %s)",
                (pid, code, when, when),
            )
        for pid in churned:
            conn.execute(
                "update properties set status = 'DISABLED', updated_at = %s where id = %s",
                (stamp(), pid),
            )
        if moved:
            conn.execute(
                "update properties set sfdc_id = %s, updated_at = %s where id = %s",
                (moved[1], stamp(), moved[0]),
            )
        for cid in renamed:
            taken = {r[0] for r in conn.execute("select name from companies")}
            conn.execute(
                "update companies set name = %s, updated_at = %s where id = %s",
                (draw.company_name(taken), stamp(), cid),
            )

        added: list[str] = []
        added_features: list[tuple[str, str]] = []
        for _ in range(5):
            when = stamp()
            street, city, state, postal = draw.address()
            pid = draw.uuid()
            conn.execute(
                "insert into properties values"
                " (%s, %s, %s, %s, %s, %s, %s, 'ACTIVE', null, %s, %s)",
                (pid, rng.choice(companies), draw.property_name(), street, city, state, postal,
                 when, when),
            )
            added.append(pid)
            for code in ("fraud_detection", "identity_verification"):
                enabled = code == "fraud_detection" or rng.random() < 0.5
                conn.execute(
                    "insert into property_features values (%s, %s, %s, %s, %s)",
                    (pid, code, enabled, when if enabled else None, when),
                )
                added_features.append((pid, code))
        conn.commit()

    return MutationSummary(
        at=at,
        features_enabled=to_enable,
        features_disabled=to_disable,
        features_added=to_add + added_features,
        properties_disabled=churned,
        properties_added=added,
        property_moved=moved,
        companies_renamed=renamed,
    )


__all__ = [
    "DDL",
    "EDGE_CASES",
    "FEATURE_CODES",
    "FEATURE_FIELDS",
    "EdgeCase",
    "GeneratedRds",
    "MutationSummary",
    "generate_rds",
    "initial_salesforce_records",
    "mutate_rds",
    "salesforce_id",
    "stable_uuid",
]
