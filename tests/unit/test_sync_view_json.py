"""json and jsonb columns of a sync view arrive as the Python objects json.loads makes
of them (reverse_etl/warehouse.py reads them through orjson, and through json.loads
when a long run of digits could be a number orjson would not give back exactly)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Json, Jsonb

from reverse_etl.warehouse import read_sync_view

VALUES: list[Any] = [
    {"legacy_id": 7, "card_last": "0042", "office_card": None, "nested": [1, 2.5, {"k": True}]},
    # an integer beyond 64 bits, and a card number of 16 digits in a string
    {"big": 123456789012345678901234567890, "card": "4111111111111111"},
    # the largest and smallest 64-bit integers, which orjson reads exactly
    {"max": 9223372036854775807, "min": -9223372036854775808},
    {"tiny": 1e-07, "third": 0.3333333333333333, "half": -0.5},
    {"text": 'a "quote", a \\ and é 😀', "empty": "", "list": []},
    [1, "two", None],
    "a bare string",
    42,
]


@pytest.fixture
def conn(fresh_database: str) -> Any:
    with psycopg.connect(fresh_database, autocommit=True) as connection:
        connection.execute("create schema sync")
        yield connection


def test_json_values_arrive_as_json_loads_makes_them(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "create table sync.things_to_create"
        " (legacy_data jsonb, extra json, _sync_key text, _payload_hash text)"
    )
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into sync.things_to_create values (%s, %s, %s, 'h')",
            [(Jsonb(value), Json(value), f"{n:02d}") for n, value in enumerate(VALUES)],
        )

    rows = read_sync_view(conn, "sync.things_to_create")

    assert [row.payload["legacy_data"] for row in rows] == VALUES
    assert [row.payload["extra"] for row in rows] == VALUES
    big = rows[1].payload["legacy_data"]["big"]
    assert type(big) is int and big == 123456789012345678901234567890


def test_a_json_value_orjson_refuses_arrives_as_json_loads_makes_it(
    conn: psycopg.Connection[Any],
) -> None:
    # A json (not jsonb) column keeps its text as written: Postgres accepts a lone
    # surrogate escape there, which json.loads reads and orjson refuses.
    conn.execute(
        "create table sync.things_to_create (extra json, _sync_key text, _payload_hash text)"
    )
    conn.execute(
        "insert into sync.things_to_create values (%s::json, '01', 'h')", ['{"note": "\\ud800x"}']
    )

    rows = read_sync_view(conn, "sync.things_to_create")

    assert rows[0].payload["extra"] == {"note": "\ud800x"}
