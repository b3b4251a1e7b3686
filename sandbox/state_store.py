"""A simulator's state in Postgres: one connection, one lock, idempotent DDL.

The simulators keep their state in a database (so it survives a restart and a
test can read it), and their HTTP server is threaded, so every store has the
same shape: one autocommit connection that reconnects after a Postgres restart,
one re-entrant lock the callers hold, and DDL serialised by an advisory lock
when two simulators start against one database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg.rows import dict_row


class StateStore:
    """Subclasses set `schema_sql` (idempotent DDL) and `schema_lock_key`."""

    schema_sql: ClassVar[str]
    schema_lock_key: ClassVar[int]

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.RLock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    @property
    def conn(self) -> psycopg.Connection[dict[str, Any]]:
        # Reconnect after a Postgres restart instead of failing every later request.
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row)
        return self._conn

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ensure_schema(self) -> None:
        with self.lock, self.conn.transaction():
            self.conn.execute("select pg_advisory_xact_lock(%s)", (self.schema_lock_key,))
            self.conn.execute(self.schema_sql)  # type: ignore[arg-type]

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with self.lock, self.conn.transaction():
            yield self.conn
