"""Shared fixtures: a real Postgres for the whole session, on its own port and folder.

With PGHOST set, the tests use that server instead (CI with a service, a developer's
own cluster); otherwise they start an embedded cluster under /tmp and stop it at
the end. Each test that needs a clean database asks for `fresh_database`.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from common.settings import Settings
from sandbox.postgres import EmbeddedPostgres
from sandbox.stack import free_port

__all__ = ["PostgresServer", "free_port"]

# `make test` exports its stack's sandbox.env, so this process would otherwise see
# every product variable of that stack (ServiceFusion, PropertyWare, a CA bundle...)
# and a test that configures only the parts it runs would reach the others too.
# Only the libpq variables stay: they choose the server of `postgres_server`.
for _name in Settings.variables():
    if not _name.startswith("PG"):
        os.environ.pop(_name, None)


class PostgresServer:
    """What a test needs to know of the server: how to reach a database on it."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def env(self, database: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get("PGHOST"):
        yield PostgresServer(
            os.environ["PGHOST"],
            int(os.environ.get("PGPORT", "5432")),
            os.environ.get("PGUSER", "postgres"),
            os.environ.get("PGPASSWORD", "postgres"),
        )
        return
    base = Path(tempfile.mkdtemp(prefix="propsync-test-pg-"))
    cluster = EmbeddedPostgres(base, free_port())
    cluster.start()
    try:
        yield PostgresServer(cluster.host, cluster.port, cluster.user, cluster.password)
    finally:
        cluster.destroy()


@pytest.fixture
def fresh_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The DSN of a new, empty database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        postgres_server.drop_database(name)
