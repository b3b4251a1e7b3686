"""`reverse-etl revert RUN_ID`: undo an update run from the ledger's before-values.

For every record the run updated, each field it wrote goes back to the value the
ledger recorded before the write, but only where the destination still holds
what the run wrote. The current values are read from the destination itself,
not from the read-back, which may be older than a later change; a field that
changed since is left as it is and reported. The revert is itself a recorded
update run (`revert_of` names the run it undoes), through the same engine:
batches, retries, ledger, dry run, lock.

Creates are not undone: deleting records is not this tool's business. A create
run's records are listed so that a person can decide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations.base import Destination
from reverse_etl.engine import PassEngine, RunResult
from reverse_etl.ledger import Ledger
from reverse_etl.observer import PassObserver
from reverse_etl.registry import Sync
from reverse_etl.warehouse import SyncRow, relation_exists


class RevertError(RuntimeError):
    """The run cannot be reverted (exit 2): the message says why."""

    exit_code = 2


@dataclass(frozen=True)
class Conflict:
    record_id: str
    field: str
    written: Any
    now: Any

    def describe(self) -> str:
        if self.field == "*":
            return f"{self.record_id}: no longer in the destination; left alone"
        return (
            f"{self.record_id} {self.field}: the run wrote {self.written!r}, the destination "
            f"now holds {self.now!r}; left as it is"
        )


@dataclass
class RevertPlan:
    run: dict[str, Any]
    sync: Sync
    rows: list[SyncRow] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    created: list[tuple[str, str | None]] = field(default_factory=list)  # (key, record id)


@dataclass
class RevertResult:
    plan: RevertPlan
    result: RunResult | None  # None for a create run: nothing is sent


def same_value(left: Any, right: Any) -> bool:
    """Equal as the destination stores them: '' is null, 2 is 2.0."""
    if left in ("", None) and right in ("", None):
        return True
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or (left == right and type(left) is type(right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(float(left), float(right), rel_tol=0, abs_tol=1e-9)
    return bool(left == right)


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_to_revert(ledger: Ledger, run_id: UUID) -> tuple[dict[str, Any], Sync]:
    """The run and its registered sync; RevertError when it cannot be reverted."""
    run = ledger.run(run_id)
    if run is None:
        raise RevertError(f"no run {run_id} in reverse_etl.sync_runs")
    if run["dry_run"]:
        raise RevertError(f"run {run_id} was a dry run: it wrote nothing to revert")
    sync_name = run.get("sync_name") or ""
    try:
        return run, registry.by_name(sync_name)
    except registry.UnknownSync:
        raise RevertError(
            f"run {run_id} belongs to {sync_name or 'an unnamed sync'}, which is not registered"
        ) from None


def plan_revert(ledger: Ledger, run_id: UUID, destination: Destination | None) -> RevertPlan:
    """What the revert of `run_id` would write, read against the destination now.

    A create run's plan only lists its records; `destination` may then be None.
    """
    run, sync = run_to_revert(ledger, run_id)
    plan = RevertPlan(run=run, sync=sync)
    records = ledger.records(run_id)
    if run["pass"] == "create":
        plan.created = [
            (r["sync_key"], r["record_id"]) for r in records if r["outcome"] == "created"
        ]
        return plan
    updated = [r for r in records if r["outcome"] == "updated" and r["record_id"]]
    if not updated:
        return plan
    if destination is None:
        raise RevertError("reverting an update run needs its destination")
    fields = sorted({name for r in updated for name in r["payload"] if name.lower() != "id"})
    current = destination.read_records([r["record_id"] for r in updated], fields)
    for record in updated:
        record_id = record["record_id"]
        before = record["before_values"] or {}
        now = current.get(record_id)
        if now is None:
            plan.conflicts.append(Conflict(record_id, "*", None, None))
            continue
        restore: dict[str, Any] = {}
        held: dict[str, Any] = {}
        for name, written in record["payload"].items():
            if name.lower() == "id" or name not in before:
                continue
            if not same_value(now.get(name), written):
                plan.conflicts.append(Conflict(record_id, name, written, now.get(name)))
            elif not same_value(before[name], written):
                restore[name] = before[name]
                held[name] = now.get(name)
        if restore:
            payload = {"Id": record_id, **restore}
            plan.rows.append(
                SyncRow(
                    sync_key=record_id,
                    payload_hash=payload_hash(payload),
                    payload=payload,
                    before=held,
                )
            )
    return plan


class _PlannedRows:
    """The revert's rows as the engine's row source."""

    def __init__(self, conn: psycopg.Connection[Any], rows: list[SyncRow]) -> None:
        self._conn = conn
        self._rows = rows

    def count(self, relation: str | None = None) -> int | None:
        if relation is None:
            return len(self._rows)
        if not relation_exists(self._conn, relation):
            return None
        row = self._conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(*relation.split(".")))
        ).fetchone()
        return int(row[0]) if row else 0

    def batches(self) -> Iterator[list[SyncRow]]:
        if self._rows:
            yield list(self._rows)


def revert_run(
    settings: Settings,
    ledger: Ledger,
    run_id: UUID,
    destination: Destination | None,
    *,
    dry_run: bool = False,
    observer: PassObserver | None = None,
) -> RevertResult:
    """Plan and (unless `dry_run`) write the revert of `run_id` as a recorded run."""
    ledger.migrate()
    run, sync = run_to_revert(ledger, run_id)
    if run["pass"] == "create":
        return RevertResult(plan_revert(ledger, run_id, None), None)
    if destination is None:
        raise RevertError("reverting an update run needs its destination")
    engine = PassEngine(settings, ledger, destination, observer=observer)
    # The lock first: no update pass of the same sync may write between the read
    # of the destination's values and the revert's writes.
    with engine.locked(sync):
        plan = plan_revert(ledger, run_id, destination)
        # A revert restores values the ledger recorded; the raw-data gate has
        # nothing to say about them.
        unguarded = dataclasses.replace(
            sync, gate=None, no_gate_reason="a revert restores recorded values"
        )
        result = engine.run_source(
            unguarded,
            _PlannedRows(ledger.conn, plan.rows),
            dry_run=dry_run,
            retry_rejected=True,
            view_label=f"revert of {run_id}",
            revert_of=run_id,
        )
    result.notes.extend(conflict.describe() for conflict in plan.conflicts)
    return RevertResult(plan, result)


__all__ = [
    "Conflict",
    "RevertError",
    "RevertPlan",
    "RevertResult",
    "plan_revert",
    "revert_run",
    "run_to_revert",
]
