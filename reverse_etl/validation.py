"""The check after a push: does the destination now hold what the models prescribe?

The dispatch -> Supabase slice validates after every real update pass (the spec's
"zero tolerance for money"): the target is read back (`python -m extract supabase`,
incremental) and `monitoring.dispatch_validation` compares it with the transformed
source: row counts per entity, every foreign key resolving, money per office and
operation type to the cent. The verdict is the command's exit code (EXIT_INVALID
when a check fails), and each failed check names its entity, both figures and
sample ids. The rules are the model's; this module runs the read-back, reads the
verdict and prints nothing (the caller's observer does).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from reverse_etl import registry
from reverse_etl.subprocesses import Runner, last_line, run_logged
from reverse_etl.warehouse import SyncViewError, relation_exists

EXIT_INVALID = 5


@dataclass(frozen=True)
class Check:
    entity: str
    check_name: str
    # what part of the entity a check covers (`office 3 / payment`); None: all of it
    check_scope: str | None
    source_value: str | None
    target_value: str | None
    passed: bool
    sample_ids: str | None


@dataclass
class ValidationResult:
    destination: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None  # the read-back or the model could not run
    exit_code: int = 0

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def validates(destination: str) -> bool:
    return destination in registry.VALIDATIONS


def validate(
    conn: psycopg.Connection[Any],
    destination: str,
    *,
    runner: Runner = run_logged,
    log_dir: Path | None = None,
) -> ValidationResult:
    """Read the destination back, then read the validation model's verdict."""
    declared = registry.VALIDATIONS[destination]
    model, source = declared.model, declared.read_back
    result = ValidationResult(destination)
    log = (log_dir or Path(tempfile.mkdtemp(prefix="propsync-validate-"))) / "read-back.log"
    code = runner([sys.executable, "-m", "extract", source], log)
    if code != 0:
        result.error = (
            f"the read-back `python -m extract {source}` failed (exit {code}): "
            f"{last_line(log) or 'see ' + str(log)}"
        )
        result.exit_code = 3 if code == 3 else 2
        return result
    if not relation_exists(conn, model):
        raise SyncViewError(f"{model} does not exist: run `dbt build` first")
    rows = _read_checks(conn, model, declared.check_groups)
    result.checks = [Check(*row) for row in rows]
    if result.failed:
        result.exit_code = EXIT_INVALID
    return result


def _read_checks(
    conn: psycopg.Connection[Any], model: str, groups: tuple[frozenset[str], ...]
) -> list[tuple[Any, ...]]:
    """Every row of the model, ordered by entity, check and scope (nulls last, as
    Postgres orders them): one query per check group, at once, each on a connection of
    its own, all in the snapshot the first exports, so the parts are what one query
    would have read."""
    predicates = [
        sql.SQL("check_name = any({})").format(sql.Literal(sorted(group))) for group in groups
    ]
    named = sorted(set().union(*groups))
    predicates.append(
        sql.SQL("not coalesce(check_name = any({}), false)").format(sql.Literal(named))
        if named else sql.SQL("true")
    )
    relation = sql.Identifier(*model.split("."))
    conninfo = make_conninfo(conn.info.dsn, password=conn.info.password)
    with contextlib.ExitStack() as stack:
        connections = [
            stack.enter_context(psycopg.connect(conninfo, autocommit=True)) for _ in predicates
        ]
        snapshot: str | None = None
        for connection in connections:
            stack.enter_context(connection.transaction())
            connection.execute("set transaction isolation level repeatable read")
            if snapshot is None:
                row = connection.execute("select pg_export_snapshot()").fetchone()
                snapshot = str(row[0]) if row else None
            else:
                connection.execute(
                    sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot))
                )
            # The view's plan is dozens of aggregates whose estimates multiply far past
            # the real row counts, so Postgres JIT-compiles it: at 500k rows that took
            # 9.8 s of an 11.5 s read, the checks themselves 4.9 s.
            connection.execute("set local jit = off")

        def read(part: tuple[psycopg.Connection[Any], sql.Composable]) -> list[tuple[Any, ...]]:
            connection, predicate = part
            return connection.execute(
                sql.SQL(
                    "select entity, check_name, check_scope::text, source_value::text,"
                    " target_value::text, passed, sample_ids::text from {} where {}"
                ).format(relation, predicate)
            ).fetchall()

        with ThreadPoolExecutor(max_workers=len(predicates)) as pool:
            parts = list(pool.map(read, zip(connections, predicates, strict=True)))
    return sorted(
        (row for part in parts for row in part),
        key=lambda row: tuple(
            part for value in row[:3] for part in (value is None, value or "")
        ),
    )


def failure_line(check: Check) -> str:
    """A failed check in one line: entity, check and its scope, both figures, sample ids."""
    samples = f"; e.g. {check.sample_ids}" if check.sample_ids else ""
    scope = f" ({check.check_scope})" if check.check_scope else ""
    return (
        f"{check.entity}: {check.check_name}{scope}: source {check.source_value}, "
        f"target {check.target_value}{samples}"
    )
