"""The validation model read in check groups, at once (reverse_etl.validation): the
parts add up to what one query reads, in one snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from reverse_etl.validation import _read_checks
from tests.conftest import PostgresServer

pytestmark = pytest.mark.integration

ROWS = [
    ("cases", "row_count", None, "3", "3", True, None),
    ("operations", "amount_sum", "office 1 / payment", "10.00", "10.00", True, None),
    ("operations", "amount_sum", "office 10 / payment", "5.00", "4.00", False, "7"),
    ("operations", "amount_sum", None, "1.00", "1.00", True, None),
    ("operations", "fk_case_id_resolves", None, "2", "2", True, None),
    ("operations", "uuid_matches_mapping", None, "2", "1", False, "8"),
]


@pytest.fixture
def conn(postgres_server: PostgresServer) -> Iterator[psycopg.Connection[object]]:
    database = postgres_server.create_database("validation_groups")
    try:
        with psycopg.connect(postgres_server.dsn(database), autocommit=True) as connection:
            connection.execute("create schema monitoring")
            connection.execute(
                "create table monitoring.checks (entity text, check_name text, check_scope"
                " text, source_value numeric, target_value numeric, passed boolean,"
                " sample_ids text)"
            )
            with connection.cursor() as cursor:
                cursor.executemany(
                    "insert into monitoring.checks values (%s, %s, %s, %s, %s, %s, %s)",
                    list(reversed(ROWS)),
                )
            yield connection
    finally:
        postgres_server.drop_database(database)


def test_groups_read_every_row_once_in_the_order_of_one_query(
    conn: psycopg.Connection[object],
) -> None:
    one = conn.execute(
        "select entity, check_name, check_scope::text, source_value::text,"
        " target_value::text, passed, sample_ids::text from monitoring.checks"
        " order by entity, check_name, check_scope"
    ).fetchall()
    grouped = _read_checks(
        conn, "monitoring.checks",
        (frozenset({"amount_sum"}), frozenset({"uuid_matches_mapping", "no_such_check"})),
    )
    assert grouped == one
    assert [row[:3] for row in grouped] == [row[:3] for row in ROWS]
    assert _read_checks(conn, "monitoring.checks", ()) == one


def test_a_check_in_no_group_is_read_by_the_last_query(
    conn: psycopg.Connection[object],
) -> None:
    conn.execute("insert into monitoring.checks values"
                 " ('operations', null, null, 1, 1, true, null)")
    grouped = _read_checks(conn, "monitoring.checks", (frozenset({"amount_sum"}),))
    assert len(grouped) == len(ROWS) + 1
    assert grouped[-1][:2] == ("operations", None)  # a null check name sorts last
