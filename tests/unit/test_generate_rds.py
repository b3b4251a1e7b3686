"""The RDS generator: contract DDL, proportions, every aggregation edge case, determinism,
the change set of `mutate_rds` and the Salesforce state of `initial_salesforce_records`.

Expected values come from the rules in docs/warehouse.md applied by hand to the
hand-written rows of sandbox/generate/rds.py, never from the generator's output.
The group aggregation is done here in SQL, independently of the generator's own
Python version, so a data set that does not exercise a rule fails here.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from sandbox.generate import (
    EDGE_CASES,
    GeneratedRds,
    generate_rds,
    initial_salesforce_records,
    mutate_rds,
)
from sandbox.generate.edge_cases import (
    LONG_PROPERTY_NAME,
    ORPHAN_SNAPPT_ID,
    SFDC_PARK_KENNEDY,
    TIE_FOREIGN_SNAPPT_ID,
)
from sandbox.generate.rds import DDL
from tests.conftest import PostgresServer

PROPERTIES = 3000

# One row per group, the rules of docs/warehouse.md written directly in SQL.
GROUPS_SQL = """
with members as (
  select p.*, coalesce(p.sfdc_id, p.id::text) as group_key from properties as p
),
ranked as (
  select m.*,
    row_number() over (
      partition by group_key
      order by (status = 'ACTIVE') desc, updated_at desc, id
    ) as rank
  from members as m
),
counts as (
  select group_key,
    count(*) filter (where status = 'ACTIVE') as active_count,
    string_agg(id::text, ',' order by id::text) filter (where status = 'ACTIVE')
      as contributing
  from members group by group_key
),
days as (
  select m.group_key,
    min((f.enabled_at at time zone 'UTC')::date)
      filter (where f.feature_code = 'fraud_detection') as fraud,
    min((f.enabled_at at time zone 'UTC')::date)
      filter (where f.feature_code = 'income_verification') as income,
    min((f.enabled_at at time zone 'UTC')::date)
      filter (where f.feature_code = 'identity_verification') as idv,
    min((f.enabled_at at time zone 'UTC')::date)
      filter (where f.feature_code = 'rent_verification') as rent
  from members as m
  inner join property_features as f on f.property_id = m.id
  where m.status = 'ACTIVE' and f.enabled
  group by m.group_key
)
select r.group_key, r.id::text as primary_id, r.name, r.street_address, r.city,
  c.active_count, c.contributing, d.fraud, d.income, d.idv, d.rent
from ranked as r
inner join counts as c on c.group_key = r.group_key
left join days as d on d.group_key = r.group_key
where r.rank = 1
"""


Generated = tuple[str, GeneratedRds]


@pytest.fixture(scope="module")
def generated(postgres_server: PostgresServer) -> Iterator[Generated]:
    """One 3,000-property data set shared by the read-only tests of this module."""
    name = postgres_server.create_database("gen")
    dsn = postgres_server.dsn(name)
    result = generate_rds(dsn, properties=PROPERTIES, seed=7)
    yield dsn, result
    postgres_server.drop_database(name)


def _groups(dsn: str) -> dict[str, dict[str, object]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(GROUPS_SQL)
        names = [column.name for column in cur.description or []]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _group(dsn: str, case: str) -> dict[str, object]:
    edge = EDGE_CASES[case]
    key = edge.sfdc_id or next(iter(edge.members.values()))
    return _groups(dsn)[key]


def _scalar(dsn: str, query: str, *params: object) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


# -- schema and proportions ----------------------------------------------------------


def test_tables_follow_the_contract_ddl(generated: Generated) -> None:
    dsn, _ = generated
    expected = {
        "companies": [("id", "uuid", "NO"), ("name", "text", "NO"),
                      ("updated_at", "timestamp with time zone", "NO")],
        "properties": [
            ("id", "uuid", "NO"), ("company_id", "uuid", "YES"), ("name", "text", "NO"),
            ("street_address", "text", "YES"), ("city", "text", "YES"),
            ("state", "text", "YES"), ("postal_code", "text", "YES"),
            ("status", "text", "NO"), ("sfdc_id", "text", "YES"),
            ("inserted_at", "timestamp with time zone", "NO"),
            ("updated_at", "timestamp with time zone", "NO"),
        ],
        "property_features": [
            ("property_id", "uuid", "NO"), ("feature_code", "text", "NO"),
            ("enabled", "boolean", "NO"), ("enabled_at", "timestamp with time zone", "YES"),
            ("updated_at", "timestamp with time zone", "NO"),
        ],
    }
    with psycopg.connect(dsn) as conn:
        for table, columns in expected.items():
            actual = conn.execute(
                "select column_name, data_type, is_nullable from information_schema.columns"
                " where table_schema = 'public' and table_name = %s order by ordinal_position",
                (table,),
            ).fetchall()
            assert actual == columns, table
        keys = conn.execute(
            "select tc.table_name, string_agg(kcu.column_name, ',' order by kcu.ordinal_position)"
            " from information_schema.table_constraints as tc"
            " join information_schema.key_column_usage as kcu"
            "   on kcu.constraint_name = tc.constraint_name"
            " where tc.table_schema = 'public' and tc.constraint_type = 'PRIMARY KEY'"
            " group by tc.table_name order by 1"
        ).fetchall()
        assert keys == [("companies", "id"), ("properties", "id"),
                        ("property_features", "property_id,feature_code")]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("update properties set status = 'PAUSED' where true")


def test_proportions_are_like_production(generated: Generated) -> None:
    dsn, result = generated
    assert _scalar(dsn, "select count(*) from properties") == PROPERTIES
    disabled = _scalar(dsn, "select count(*) from properties where status = 'DISABLED'")
    no_sfdc = _scalar(dsn, "select count(*) from properties where sfdc_id is null")
    in_multi = _scalar(
        dsn,
        "select count(*) from properties where sfdc_id in"
        " (select sfdc_id from properties group by sfdc_id having count(*) > 1)",
    )
    assert 0.08 * PROPERTIES <= int(disabled) <= 0.12 * PROPERTIES  # ~10 %
    assert 0.10 * PROPERTIES <= int(no_sfdc) <= 0.14 * PROPERTIES  # ~12 %
    assert 0.23 * PROPERTIES <= int(in_multi) <= 0.27 * PROPERTIES  # ~25 %
    assert result.properties_in_multi_groups == in_multi
    assert int(_scalar(dsn, "select count(*) from companies")) >= PROPERTIES // 15
    # Every property belongs to a company that exists; every feature to a property.
    assert _scalar(dsn, "select count(*) from properties where company_id is null") == 0
    codes = _scalar(dsn, "select array_agg(distinct feature_code order by feature_code)"
                         " from property_features")
    assert codes == ["fraud_detection", "identity_verification", "income_verification",
                     "rent_verification"]


def test_values_look_real(generated: Generated) -> None:
    dsn, _ = generated
    with psycopg.connect(dsn) as conn:
        sfdc_ids = [r[0] for r in conn.execute(
            "select distinct sfdc_id from properties where sfdc_id is not null")]
        rows = conn.execute(
            "select state, postal_code, street_address from properties"
            " where state is not null and postal_code is not null and street_address is not null"
        ).fetchall()
    for sfdc_id in sfdc_ids:
        assert re.fullmatch(r"a1B[0-9A-Za-z]{15}", sfdc_id), sfdc_id
        assert sfdc_id[15:] == _checksum(sfdc_id[:15]), sfdc_id
    for state, postal, street in rows:
        assert re.fullmatch(r"[A-Z]{2}", state)
        assert re.fullmatch(r"\d{5}", postal)
        assert re.fullmatch(r"\d+ [A-Z][A-Za-z. ]+", street), street


def _checksum(id15: str) -> str:
    """The case-safe suffix, written out from Salesforce's published algorithm."""
    alphabet = string.ascii_uppercase + "012345"
    out = ""
    for block in (id15[0:5], id15[5:10], id15[10:15]):
        out += alphabet[sum(1 << i for i, ch in enumerate(block) if ch in string.ascii_uppercase)]
    return out


def test_park_kennedy_sfdc_id_has_the_hand_computed_suffix() -> None:
    # a1B5f -> B at position 2 -> 4 -> 'E'; 00000 -> 'A'; 1PkKn -> P(1), K(3) -> 10 -> 'K'
    assert SFDC_PARK_KENNEDY == "a1B5f000001PkKnEAK"


# -- aggregation edge cases --------------------------------------------------------------


def test_park_kennedy(generated: Generated) -> None:
    dsn, _ = generated
    case = EDGE_CASES["park_kennedy"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select id::text, status from properties where sfdc_id = %s order by status",
            (case.sfdc_id,),
        ).fetchall()
    assert rows == [(case.members["active"], "ACTIVE"), (case.members["disabled"], "DISABLED")]
    group = _group(dsn, "park_kennedy")
    assert group["primary_id"] == case.members["active"]
    assert group["name"] == "Park Kennedy"
    assert group["active_count"] == 1
    assert group["contributing"] == case.members["active"]
    assert (group["fraud"], group["income"], group["idv"], group["rent"]) == (
        date(2023, 4, 12), None, date(2024, 1, 8), None,
    )


def test_feature_union_across_members(generated: Generated) -> None:
    dsn, _ = generated
    case = EDGE_CASES["feature_union"]
    group = _group(dsn, "feature_union")
    assert group["primary_id"] == case.members["main"]
    assert group["name"] == "Harbor Point"
    assert group["active_count"] == 3
    assert group["contributing"] == ",".join(sorted(case.members.values()))
    assert (group["fraud"], group["income"], group["idv"], group["rent"]) == (
        date(2022, 5, 10), date(2023, 2, 1), date(2024, 8, 20), None,
    )


def test_earliest_enabled_at_wins_and_disabled_features_are_ignored(
    generated: Generated,
) -> None:
    dsn, _ = generated
    case = EDGE_CASES["earliest_enabled"]
    group = _group(dsn, "earliest_enabled")
    assert group["primary_id"] == case.members["primary"]
    assert (group["fraud"], group["income"], group["idv"], group["rent"]) == (
        date(2021, 9, 30), date(2025, 1, 5), None, None,
    )
    # The rows that must be ignored are really there.
    ignored = _scalar(
        dsn,
        "select count(*) from property_features where property_id = %s"
        " and not enabled and enabled_at is not null",
        case.members["second"],
    )
    assert ignored == 2


def test_updated_at_tie_goes_to_the_smallest_id(generated: Generated) -> None:
    dsn, _ = generated
    case = EDGE_CASES["updated_at_tie"]
    small, large = case.members["smaller_id"], case.members["larger_id"]
    assert small < large
    with psycopg.connect(dsn) as conn:
        stamps = conn.execute(
            "select count(distinct updated_at), count(*), bool_and(status = 'ACTIVE')"
            " from properties where sfdc_id = %s",
            (case.sfdc_id,),
        ).fetchone()
        # The smaller id was inserted later: "oldest row first" would pick the other.
        newer = conn.execute(
            "select id::text from properties where sfdc_id = %s order by inserted_at desc"
            " limit 1",
            (case.sfdc_id,),
        ).fetchone()
    assert stamps == (1, 2, True)
    assert newer == (small,)
    group = _group(dsn, "updated_at_tie")
    assert (group["primary_id"], group["name"]) == (small, "Maple Court Townhomes")
    assert (group["fraud"], group["rent"]) == (date(2024, 11, 11), date(2025, 3, 3))


def test_all_disabled_group(generated: Generated) -> None:
    dsn, _ = generated
    case = EDGE_CASES["all_disabled"]
    group = _group(dsn, "all_disabled")
    assert group["active_count"] == 0
    assert group["contributing"] is None
    assert (group["fraud"], group["income"], group["idv"], group["rent"]) == (None,) * 4
    assert group["primary_id"] == case.members["mill"]
    assert group["name"] == "Riverside Lofts at the Mill"
    # Realistic data has such groups beyond the hand-written one.
    all_disabled = [g for g in _groups(dsn).values() if g["active_count"] == 0]
    assert len(all_disabled) > 5


def test_properties_without_feature_rows(generated: Generated) -> None:
    dsn, _ = generated
    bare = _scalar(
        dsn,
        "select count(*) from properties as p where not exists"
        " (select 1 from property_features as f where f.property_id = p.id)",
    )
    assert int(bare) > 0.04 * PROPERTIES  # ~7 % plus the hand-written ones
    member = _group(dsn, "no_features_member")
    assert member["primary_id"] == EDGE_CASES["no_features_member"].members["main"]
    assert (member["income"], member["active_count"]) == (date(2023, 7, 7), 2)
    single = _group(dsn, "no_features_single")
    assert (single["fraud"], single["income"], single["idv"], single["rent"]) == (None,) * 4


def test_enabled_at_near_midnight_takes_the_utc_date(generated: Generated) -> None:
    dsn, _ = generated
    case = EDGE_CASES["midnight_utc"]
    group = _group(dsn, "midnight_utc")
    assert (group["fraud"], group["idv"], group["income"]) == (
        date(2024, 7, 2), date(2024, 2, 29), date(2024, 1, 1),
    )
    with psycopg.connect(dsn) as conn:
        conn.execute("set timezone to 'America/New_York'")
        local = conn.execute(
            "select feature_code, enabled_at::date from property_features"
            " where property_id = %s order by feature_code",
            (case.members["only"],),
        ).fetchall()
    # In a session on US Eastern time the naive cast gives other days: the trap is real.
    assert local == [("fraud_detection", date(2024, 7, 1)),
                     ("identity_verification", date(2024, 2, 29)),
                     ("income_verification", date(2023, 12, 31))]
    with psycopg.connect(dsn) as conn:
        conn.execute("set timezone to 'Europe/Helsinki'")
        idv = conn.execute(
            "select enabled_at::date from property_features where property_id = %s"
            " and feature_code = 'identity_verification'",
            (case.members["only"],),
        ).fetchone()
    assert idv == (date(2024, 3, 1),)
    evening = _scalar(
        dsn,
        "select count(*) from property_features where enabled"
        " and extract(hour from enabled_at at time zone 'UTC') < 5",
    )
    assert int(evening) > 20  # bulk rows too, not only the hand-written one


def test_long_values_and_null_addresses(generated: Generated) -> None:
    dsn, _ = generated
    with psycopg.connect(dsn) as conn:
        long_names = conn.execute(
            "select name from properties where length(name) > 80").fetchall()
        long_cities = conn.execute(
            "select city, status, sfdc_id is null from properties where length(city) > 40"
            " order by city").fetchall()
        null_address = conn.execute(
            "select count(*) from properties where street_address is null and city is null"
            " and state is null and postal_code is null").fetchone()
        partly_null = conn.execute(
            "select count(*) from properties where street_address is null and city is not null"
        ).fetchone()
    assert long_names == [(LONG_PROPERTY_NAME,)]
    assert len(LONG_PROPERTY_NAME) > 80  # Salesforce's Name holds 80
    assert long_cities == [
        ("Township of Upper Saucon Center Valley Heights", "DISABLED", True),
        ("Village of Grosse Pointe Shores, A Michigan City", "ACTIVE", True),
        ("Village of North Palm Beach Shores and Lakes", "ACTIVE", False),
    ]
    assert null_address is not None and null_address[0] > 10
    assert partly_null is not None and partly_null[0] > 10


def test_multi_groups_have_realistic_sizes(generated: Generated) -> None:
    dsn, _ = generated
    with psycopg.connect(dsn) as conn:
        sizes = Counter(r[0] for r in conn.execute(
            "select count(*) from properties where sfdc_id is not null group by sfdc_id"))
    assert sizes[2] > sizes[3] > sizes[4]  # pairs dominate
    assert max(sizes) <= 6


# -- determinism --------------------------------------------------------------------------

DUMP_SQL = """
select md5(string_agg(t::text, '|' order by t::text)) from (
  select c::text as t from companies as c
  union all select p::text from properties as p
  union all select f::text from property_features as f
) as rows
"""


def test_same_seed_same_rows_other_seed_other_rows(postgres_server: PostgresServer) -> None:
    names = [postgres_server.create_database("gen") for _ in range(3)]
    try:
        dsns = [postgres_server.dsn(name) for name in names]
        generate_rds(dsns[0], properties=400, seed=11)
        generate_rds(dsns[1], properties=400, seed=11)
        generate_rds(dsns[2], properties=400, seed=12)
        digests = [_scalar(dsn, DUMP_SQL) for dsn in dsns]
        assert digests[0] == digests[1]
        assert digests[0] != digests[2]
        # Re-running on a filled database replaces it: same rows again.
        generate_rds(dsns[2], properties=400, seed=11)
        assert _scalar(dsns[2], DUMP_SQL) == digests[0]
        assert initial_salesforce_records(dsns[0], seed=11) == initial_salesforce_records(
            dsns[1], seed=11
        )
        assert mutate_rds(dsns[0], seed=3) == mutate_rds(dsns[1], seed=3)
        assert _scalar(dsns[0], DUMP_SQL) == _scalar(dsns[1], DUMP_SQL)
    finally:
        for name in names:
            postgres_server.drop_database(name)


def test_too_few_properties_is_refused(fresh_database: str) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_rds(fresh_database, properties=10)


# -- mutation -------------------------------------------------------------------------------


def test_mutation_bumps_exactly_the_changed_rows(fresh_database: str) -> None:
    generate_rds(fresh_database, properties=600, seed=5)
    before_max = _scalar(
        fresh_database,
        "select greatest((select max(updated_at) from companies),"
        " (select max(updated_at) from properties),"
        " (select max(updated_at) from property_features))",
    )
    summary = mutate_rds(fresh_database, seed=5)
    assert summary.at > before_max  # type: ignore[operator]

    # 600 properties, 580 of them bulk: enable max(3, 580 // 200) = 3 features, disable
    # max(2, 580 // 300) = 2, switch on fraud for 2 feature-less properties, disable
    # max(2, 1) = 2 properties, move 1, add 5 properties with 2 feature rows each,
    # rename 1 company.
    assert summary.changed_rows() == {
        "companies": 1, "properties": 2 + 5 + 1, "property_features": 3 + 2 + 2 + 10,
    }
    with psycopg.connect(fresh_database) as conn:
        bumped = {
            table: conn.execute(
                f"select count(*) from {table} where updated_at >= %s", (summary.at,)
            ).fetchone()[0]  # type: ignore[index]
            for table in ("companies", "properties", "property_features")
        }
        assert bumped == summary.changed_rows()
        edge_ids = [pid for case in EDGE_CASES.values() for pid in case.members.values()]
        untouched = conn.execute(
            "select count(*) from properties where id::text = any(%s) and updated_at >= %s",
            (edge_ids, summary.at),
        ).fetchone()
        assert untouched == (0,)
        assert summary.property_moved is not None
        moved_id, target = summary.property_moved
        assert moved_id not in summary.properties_added
        group_size = conn.execute(
            "select count(*) from properties where sfdc_id = %s", (target,)).fetchone()
        assert group_size is not None and group_size[0] >= 3  # joined a multi-property group
        disabled_off = conn.execute(
            "select bool_and(not enabled and enabled_at is not null) from property_features"
            " where (property_id::text, feature_code) in (select * from unnest(%s::text[],"
            " %s::text[]))",
            ([p for p, _ in summary.features_disabled], [c for _, c in summary.features_disabled]),
        ).fetchone()
        assert disabled_off == (True,)  # switched off, enabled_at kept
        assert conn.execute(
            "select count(*) from properties where id::text = any(%s) and status = 'ACTIVE'"
            " and sfdc_id is null", (summary.properties_added,)).fetchone() == (5,)

    second = mutate_rds(fresh_database, seed=5)
    assert second.at > summary.at
    assert not set(second.properties_added) & set(summary.properties_added)


def test_mutation_of_an_empty_database_is_refused(fresh_database: str) -> None:
    with psycopg.connect(fresh_database) as conn:
        conn.execute(DDL)
    with pytest.raises(ValueError, match="generate_rds first"):
        mutate_rds(fresh_database)


# -- Salesforce today -----------------------------------------------------------------------

CONTRACT_FIELDS = {
    "Name", "Snappt_Property_ID__c", "SF_Property_ID__c", "Company_Name__c", "Street__c",
    "City__c", "State__c", "Postal_Code__c", "Fraud_Detection_Enabled__c",
    "Fraud_Detection_Enabled_Date__c", "Income_Verification_Enabled__c",
    "Income_Verification_Enabled_Date__c", "IDV_Enabled__c", "IDV_Enabled_Date__c",
    "Rent_Verification_Enabled__c", "Rent_Verification_Enabled_Date__c",
    "Active_Property_Count__c", "Contributing_Property_IDs__c",
}


def test_salesforce_records_are_valid_staging_records(generated: Generated) -> None:
    dsn, _ = generated
    records = initial_salesforce_records(dsn, seed=7)
    for record in records:
        assert set(record) == CONTRACT_FIELDS
        assert len(str(record["Name"])) <= 80
        assert record["City__c"] is None or len(str(record["City__c"])) <= 40
        for field in CONTRACT_FIELDS:
            if field.endswith("Date__c") and record[field] is not None:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(record[field]))
            if field.endswith("Enabled__c"):
                assert isinstance(record[field], bool)
    external_ids = [r["Snappt_Property_ID__c"] for r in records]
    assert len(external_ids) == len(set(external_ids))  # an External ID is unique


def _matching(records: list[dict[str, object]], case: str) -> list[dict[str, object]]:
    """Records that match the case's group by the rule of properties_to_create."""
    edge = EDGE_CASES[case]
    ids = set(edge.members.values())
    return [
        r for r in records
        if r["Snappt_Property_ID__c"] in ids
        or (edge.sfdc_id is not None and r["SF_Property_ID__c"] == edge.sfdc_id)
    ]


def test_salesforce_state_of_the_edge_cases(generated: Generated) -> None:
    dsn, _ = generated
    records = initial_salesforce_records(dsn, seed=7)
    cases = EDGE_CASES

    (pk,) = _matching(records, "park_kennedy")
    assert pk["Snappt_Property_ID__c"] == cases["park_kennedy"].members["disabled"]
    assert (pk["Fraud_Detection_Enabled__c"], pk["IDV_Enabled__c"]) == (False, False)

    (union,) = _matching(records, "feature_union")
    assert union["Snappt_Property_ID__c"] == cases["feature_union"].members["north"]

    (tie,) = _matching(records, "updated_at_tie")
    assert tie["Snappt_Property_ID__c"] == TIE_FOREIGN_SNAPPT_ID
    assert tie["SF_Property_ID__c"] == cases["updated_at_tie"].sfdc_id

    (churned,) = _matching(records, "all_disabled")
    assert (churned["Active_Property_Count__c"], churned["Fraud_Detection_Enabled__c"]) == (1, True)

    (midnight,) = _matching(records, "midnight_utc")
    assert midnight["Fraud_Detection_Enabled_Date__c"] == "2024-07-01"

    (null_address,) = _matching(records, "null_address")
    assert null_address["Street__c"] is None and null_address["City__c"] is None
    assert null_address["Fraud_Detection_Enabled_Date__c"] == "2022-10-10"

    assert len(_matching(records, "duplicate_records")) == 2
    (update_city,) = [r for r in _matching(records, "long_city")]
    assert update_city["Snappt_Property_ID__c"] == cases["long_city"].members["update"]
    for missing in ("no_features_member", "no_features_single", "long_name", "disabled_single"):
        assert _matching(records, missing) == [], missing

    rds_ids = {r[0] for r in psycopg.connect(dsn).execute("select id::text from properties")}
    orphans = [r for r in records if r["Snappt_Property_ID__c"] == ORPHAN_SNAPPT_ID]
    assert len(orphans) == 1 and ORPHAN_SNAPPT_ID not in rds_ids


def test_salesforce_is_about_ninety_percent_right(generated: Generated) -> None:
    dsn, _ = generated
    records = initial_salesforce_records(dsn, seed=7)
    groups = _groups(dsn)
    with psycopg.connect(dsn) as conn:
        members: dict[str, set[str]] = {}
        for pid, key in conn.execute(
            "select id::text, coalesce(sfdc_id, id::text) from properties"
        ):
            members.setdefault(key, set()).add(pid)
    by_snappt = {r["Snappt_Property_ID__c"]: r for r in records}
    by_sfdc: dict[object, list[dict[str, object]]] = {}
    for r in records:
        by_sfdc.setdefault(r["SF_Property_ID__c"], []).append(r)

    active = [key for key, g in groups.items() if int(g["active_count"]) > 0]  # type: ignore[call-overload]
    matched = exact = 0
    for key in active:
        found = [by_snappt[i] for i in members[key] if i in by_snappt]
        found += [r for r in by_sfdc.get(key, []) if r not in found]
        if not found:
            continue
        matched += 1
        g = groups[key]
        expected = (
            g["fraud"].isoformat() if g["fraud"] else None,  # type: ignore[attr-defined]
            g["idv"].isoformat() if g["idv"] else None,  # type: ignore[attr-defined]
        )
        if all((r["Fraud_Detection_Enabled_Date__c"], r["IDV_Enabled_Date__c"]) == expected
               for r in found):
            exact += 1
    missing_share = 1 - matched / len(active)
    assert 0.08 <= missing_share <= 0.16  # production: 1,081 of 9,061 active (11.9 %)
    assert 0.85 <= exact / matched <= 0.97  # ~90 % carry the right features
