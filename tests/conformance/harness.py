"""What the conformance suite needs of a destination (`DestinationHarness`) and the
destination-neutral machinery the tests share (`Bench`).

A harness speaks for one destination and its simulator: how its sync views look in
the warehouse, what a valid and a refused payload are, what the simulator holds and
logged, and which faults it can inject. Nothing in test_destination_conformance.py
names a destination, a field or an HTTP path: whatever would is a harness method.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console

from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations.base import Destination, Outcome, Payload
from reverse_etl.engine import RunResult, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import ConsoleObserver
from reverse_etl.registry import PassName, Sync
from reverse_etl.warehouse import relation_exists

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The ledger outcome of a record the destination accepted, by pass.
WRITTEN = {"create": "created", "update": "updated"}


class Sleeps(list[float]):
    """A recording `sleep` for the HTTP policy stack: waits are kept, not slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass(frozen=True)
class Change:
    """One row of an update view: a record of the destination, its values now and the
    values the view wants it to hold. Both are create-shaped payloads (the harness
    turns them into its update view's columns)."""

    record_id: str
    before: Payload
    after: Payload


class DestinationHarness(Protocol):
    """One destination and its simulator, as the conformance suite sees them."""

    # The registry's name of the destination and the entity whose syncs the suite
    # runs (`registry.select(destination, pass, [entity])`).
    destination: str
    entity: str
    # What `rejected()` makes the destination answer for that one record.
    rejection_code: str
    rejected_field: str
    # Fault kinds that apply a write and then lose its response.
    lost_response_faults: tuple[str, ...]
    # Write requests a lost response costs: 1 when the write is resent and the
    # destination recognises it (Salesforce's DUPLICATE_VALUE), 0 when the client
    # looks the record up instead of sending it again (ServiceFusion).
    lost_write_resends: int
    # True when a lost response aborts the pass (exit 3) rather than being retried
    # within it (a database client cannot tell a lost commit from one never made):
    # the rerun must then find what the lost write applied, not write it twice.
    lost_response_aborts: bool
    # True when each record is a write request of its own, whatever the batch size
    # (APIs without a batch write: ServiceFusion, PropertyWare's updateWorkOrder).
    one_record_per_write: bool
    # False when the client finds the refused record out before sending it (the
    # PropertyWare work order that no longer exists), so it costs no write.
    rejection_sent: bool
    # Faults the destination cannot meet, with why: "throttle" (a 429 with
    # Retry-After), "expired_session". Their tests are skipped with that reason
    # before they prepare anything (`Bench.require`).
    unsupported_faults: Mapping[str, str]

    # -- configuration ------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The destination's variables (URL, credentials, CA of its simulator) and a
        request rate that does not slow the tests."""
        ...

    def slow_env(self) -> dict[str, str]:
        """Variables that make each write request of a pass wait about a second, so a
        subprocess can be killed between batches or overlapped by another."""
        ...

    # -- the warehouse ------------------------------------------------------------

    def create_views(self, conn: psycopg.Connection[Any]) -> None:
        """Create the create and update sync views, as plain tables, in a fresh database."""
        ...

    def put_creates(self, conn: psycopg.Connection[Any], payloads: Sequence[Payload]) -> None:
        """Replace the create view's rows (control columns included)."""
        ...

    def put_updates(self, conn: psycopg.Connection[Any], changes: Sequence[Change]) -> None:
        """Replace the update view's rows (control columns and `_before` included)."""
        ...

    def read_back(self, conn: psycopg.Connection[Any], sync: Sync) -> None:
        """What dbt does after the read-back: drop from the sync's view the rows the
        destination holds now (creates: its keys; updates: its values)."""
        ...

    # -- payloads -----------------------------------------------------------------

    def payload(self, number: int) -> dict[str, Any]:
        """A valid create payload, its key unique per `number`."""
        ...

    def key_of(self, payload: Payload) -> str:
        """The create key of a payload (the create view's `_sync_key`)."""
        ...

    def rejected(self, payload: Payload) -> dict[str, Any]:
        """The payload changed so that the destination refuses this record alone."""
        ...

    def changed(self, payload: Payload) -> dict[str, Any]:
        """New, valid values for a record holding `payload` (same key)."""
        ...

    # -- the destination ----------------------------------------------------------

    def seed(self, payloads: Sequence[Payload]) -> list[str]:
        """Put records into the destination directly (no API request); their ids."""
        ...

    def client(
        self, sync: Sync, settings: Settings, sleep: Callable[[float], None], *, dry_run: bool
    ) -> Destination:
        """The registry's client of `sync`, its HTTP waits going to `sleep`."""
        ...

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Every record the destination holds, by create key (a list, to see duplicates)."""
        ...

    def mismatches(self, record: Mapping[str, Any], payload: Payload) -> list[str]:
        """The fields of `payload` whose value `record` does not hold."""
        ...

    # -- the request log ----------------------------------------------------------

    def mark(self) -> int:
        """A position in the simulator's request log; the counts below start there."""
        ...

    def requests(self, since: int = 0) -> int:
        """API requests of any kind (admin calls are not API requests)."""
        ...

    def writes(self, since: int = 0) -> int:
        """Write requests (each batch sent, retries included)."""
        ...

    def tokens(self, since: int = 0) -> int:
        """Token (session) requests."""
        ...

    # -- faults -------------------------------------------------------------------

    def lose_next_write_response(self, kind: str) -> None:
        """The next write is applied and its response lost (`kind` of lost_response_faults)."""
        ...

    def throttle_next_write(self) -> float:
        """The next write is refused with 429 and Retry-After; its seconds."""
        ...

    def expire_session(self) -> None:
        """Every session token issued so far stops being accepted."""
        ...


@dataclass(frozen=True)
class HarnessEntry:
    """How the suite gets a destination's harness: the pytest fixture that starts its
    simulator (a fresh one per test) and the constructor that takes that fixture's value."""

    destination: str
    simulator_fixture: str
    make: Callable[[Any], DestinationHarness]


class HookedDestination:
    """A destination whose every batch first calls `before_batch(index)`: a fault
    injected *between* two batches of one pass, where no simulator setting reaches."""

    def __init__(self, inner: Destination, before_batch: Callable[[int], None]) -> None:
        self.inner = inner
        self.before_batch = before_batch
        self.batches = 0
        self.name = inner.name
        self.object_name = inner.object_name
        self.max_batch = inner.max_batch

    @property
    def api_requests(self) -> int:
        return self.inner.api_requests

    def plan_pass(self, pass_name: str, records: int, batch_size: int) -> int:
        """The inner destination's batch plan (the engine's optional hook), if it has one."""
        plan = getattr(self.inner, "plan_pass", None)
        return batch_size if plan is None else int(plan(pass_name, records, batch_size))

    def _next(self) -> None:
        self.before_batch(self.batches)
        self.batches += 1

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        self._next()
        return self.inner.create(batch)

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        self._next()
        return self.inner.update(batch)

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self.inner.read_records(record_ids, fields)

    def check_configuration(self) -> None:
        self.inner.check_configuration()

    def health_check(self) -> str:
        return self.inner.health_check()

    def close(self) -> None:
        self.inner.close()


@dataclass
class Scenario:
    """A sync view written for one test and what the destination must hold after it."""

    sync: Sync
    rows: int
    # One payload per record the destination must hold afterwards, with its values.
    final: list[Payload]
    # The `_sync_key`s of the rows the destination refuses, and their payloads.
    rejected_keys: list[str]
    refused: list[Payload]


@dataclass
class Bench:
    """A harness with its warehouse: the environment, passes in-process and by the CLI."""

    harness: DestinationHarness
    conn: psycopg.Connection[Any]
    sandbox_dir: Path

    # -- configuration ------------------------------------------------------------

    def env(self, *, slow: bool = False) -> dict[str, str]:
        """Every variable a pass reads: the warehouse, the safety flags, the harness's."""
        info = conninfo_to_dict(self.conn.info.dsn)
        env = {
            "SANDBOX_DIR": str(self.sandbox_dir),  # no developer's sandbox.env leaks in
            "PGHOST": str(info.get("host", "127.0.0.1")),
            "PGPORT": str(info.get("port", 5432)),
            "PGUSER": str(info.get("user", "postgres")),
            "PGPASSWORD": self.conn.info.password or "postgres",
            "PGDATABASE": str(info["dbname"]),
            # Production's safety defaults: the caps are far above these tests' rows.
            "SAFE_MODE": "on",
            "DRY_RUN": "off",
            # Retries cost no time in the subprocesses (in-process waits are recorded).
            "HTTP_BACKOFF_INITIAL_S": "0",
            "HTTP_BREAKER_RESET_S": "600",
            **self.harness.env(),
        }
        if slow:
            env.update(self.harness.slow_env())
        return env

    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def has_pass(self, pass_name: PassName) -> bool:
        """Whether the registry has this pass for the harness's entity (ServiceFusion
        has no update API, PropertyWare work orders are only updated)."""
        return any(
            s.destination == self.harness.destination
            and s.pass_name == pass_name
            and self.harness.entity in (s.entity, s.object_name)
            for s in registry.SYNCS
        )

    def sync(self, pass_name: PassName) -> Sync:
        """The harness's sync of `pass_name`; the test is skipped when the destination
        registers no such pass (a test of a pass that cannot exist proves nothing)."""
        if not self.has_pass(pass_name):
            pytest.skip(
                f"{self.harness.destination} registers no {pass_name} pass for "
                f"{self.harness.entity}"
            )
        (sync,) = registry.select(self.harness.destination, pass_name, [self.harness.entity])
        return sync

    def require(self, fault: str) -> None:
        """Skip the test when the destination declares `fault` meaningless for it."""
        reason = self.harness.unsupported_faults.get(fault)
        if reason is not None:
            pytest.skip(f"{self.harness.destination}: {reason}")

    def batch_size(self, sync: Sync) -> int:
        client = self.harness.client(sync, self.settings(), Sleeps(), dry_run=True)
        try:
            # The engine cuts batches across the view's fetches: Supabase's 10,000 is
            # 10,000, though a fetch brings FETCH_ROWS.
            return max(1, min(sync.batch_size, client.max_batch))
        finally:
            client.close()

    def ideal_writes(self, sync: Sync, rows: int) -> int:
        """Write requests of a pass that sends `rows` rows and meets no fault."""
        if self.harness.one_record_per_write:
            return rows
        return -(-rows // self.batch_size(sync))

    # -- views --------------------------------------------------------------------

    def prepare(
        self, pass_name: PassName, count: int, *, reject: Sequence[int] = (), start: int = 0
    ) -> Scenario:
        """`count` rows in the pass's view (payloads `start`, `start + 1`, ...), those
        at the positions `reject` refused by the destination.

        An update scenario first seeds `count` records into the destination; its rows
        change each of them.
        """
        h = self.harness
        self.sync(pass_name)  # skips the test first when the pass does not exist
        originals = [h.payload(number) for number in range(start, start + count)]
        if pass_name == "create":
            rows = [h.rejected(p) if i in reject else p for i, p in enumerate(originals)]
            h.put_creates(self.conn, rows)
            return Scenario(
                self.sync("create"),
                count,
                final=[p for i, p in enumerate(rows) if i not in reject],
                rejected_keys=[h.key_of(rows[i]) for i in reject],
                refused=[rows[i] for i in reject],
            )
        ids = h.seed(originals)
        afters = [
            h.rejected(h.changed(p)) if i in reject else h.changed(p)
            for i, p in enumerate(originals)
        ]
        h.put_updates(
            self.conn,
            [Change(rid, b, a) for rid, b, a in zip(ids, originals, afters, strict=True)],
        )
        return Scenario(
            self.sync("update"),
            count,
            # A refused update leaves the record as it was.
            final=[originals[i] if i in reject else afters[i] for i in range(count)],
            rejected_keys=[ids[i] for i in reject],
            refused=[afters[i] for i in reject],
        )

    # -- checks -------------------------------------------------------------------

    def assert_holds_exactly(self, final: Sequence[Payload]) -> None:
        """The destination holds one record per payload, with its values, and nothing else."""
        h = self.harness
        records = h.records()
        assert sorted(records) == sorted(h.key_of(p) for p in final)
        duplicates = {key: len(found) for key, found in records.items() if len(found) != 1}
        assert not duplicates, f"records held more than once: {duplicates}"
        for payload in final:
            (record,) = records[h.key_of(payload)]
            assert not h.mismatches(record, payload), (h.key_of(payload), record)

    def holding(self, payloads: Sequence[Payload]) -> int:
        """How many of `payloads` the destination holds with their values."""
        h = self.harness
        records = h.records()
        return sum(
            1
            for payload in payloads
            if any(not h.mismatches(r, payload) for r in records.get(h.key_of(payload), []))
        )

    def outcomes(self, result: RunResult) -> dict[str, int]:
        assert result.run_id is not None
        counts: dict[str, int] = {}
        for record in Ledger(self.conn).records(result.run_id):
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
        return counts

    def recorded(self, sync: Sync) -> int:
        """Records of `sync`'s pass the ledger says the destination accepted, all runs."""
        if not relation_exists(self.conn, "reverse_etl.sync_records"):
            return 0  # the first pass has not migrated the ledger yet
        row = self.conn.execute(
            "select count(*) from reverse_etl.sync_records "
            "where destination = %s and object_name = %s and pass = %s "
            "and outcome in ('created', 'updated', 'already_present')",
            (sync.destination, sync.object_name, sync.pass_name),
        ).fetchone()
        return int(row[0]) if row else 0

    # -- passes -------------------------------------------------------------------

    def push(
        self,
        sync: Sync,
        *,
        dry_run: bool = False,
        sleeps: Sleeps | None = None,
        hook: Callable[[int], None] | None = None,
    ) -> RunResult:
        """One pass in this process, through the registry's client of the sync.

        The gate is skipped: these views are hand-made tables without the raw data
        the gate reads (the gate has tests of its own).
        """
        settings = self.settings()
        client: Destination = self.harness.client(
            sync, settings, sleeps if sleeps is not None else Sleeps(), dry_run=dry_run
        )
        if hook is not None:
            client = HookedDestination(client, hook)
        try:
            return run_pass(
                settings,
                Ledger(self.conn),
                client,
                sync,
                dry_run=dry_run,
                skip_gate=True,
                observer=ConsoleObserver(Console(file=io.StringIO(), width=200)),
            )
        finally:
            client.close()

    def cli_push(self, sync: Sync, *, slow: bool = False) -> subprocess.Popen[str]:
        """`reverse-etl push <destination> --pass <pass> --object <entity> --skip-gate`,
        started as a process of its own (so that it can be killed, or overlapped)."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            # A variable exported in the developer's shell must not configure the pass.
            if name not in Settings.variables()
        }
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reverse_etl.cli",
                "push",
                sync.destination,
                "--pass",
                sync.pass_name,
                "--object",
                sync.entity,
                "--skip-gate",
            ],
            cwd=PROJECT_ROOT,
            env={**inherited, **self.env(slow=slow)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
            time.sleep(0.02)

    def advisory_locks(self) -> int:
        """Advisory locks held on the server by sessions other than the test's."""
        row = self.conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' "
            "and pid <> pg_backend_pid() and granted"
        ).fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def reaped(*processes: subprocess.Popen[str]) -> Iterator[None]:
    """Kill what a failed test left running, so no pass outlives its simulator."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.communicate()


def finished(process: subprocess.Popen[str], timeout_s: float = 60) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of a process that is left to end by itself."""
    stdout, stderr = process.communicate(timeout=timeout_s)
    return process.returncode, stdout, stderr
