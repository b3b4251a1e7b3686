"""The pass engine: stream a sync view, batch, send, record.

One pass is one registered sync (reverse_etl/registry.py): create or update of
one object of one destination. The engine decides only *how* records are
written; *what* is written is the view's business. In order:

1. take the sync's advisory lock, so two identical passes never run at once
   (the second says so and exits 3, sending nothing);
2. open the view in one snapshot (`SyncViewReader`) and a run in the ledger;
3. refuse to start (status `blocked`, exit 4) when the SAFE_MODE bound is
   exceeded or the data-quality gate fails or cannot run; nothing is sent. The
   bound is the sync's row cap and, once the destination holds records, its
   share of them; rows set aside as known rejections do not count;
4. stream the view a fetch at a time: set aside rows whose identical payload was
   rejected before (unless `retry_rejected`), send the rest in batches of the
   sync's size, and record each batch's outcomes in one set-based transaction,
   so a crash loses at most the batch in flight and memory does not grow with
   the view;
5. finish the run: `succeeded`, `partial` (this run had rejections), `failed`
   (aborted: service unreachable, retries exhausted, API limit).

A dry run goes through the same steps but asks the destination nothing: each
row is recorded as `would_create` / `would_update`. Everything a person should
see goes to the observer (reverse_etl/observer.py); the engine prints nothing.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from common.http import HttpError
from common.redaction import redact
from common.settings import Settings
from reverse_etl.destinations.base import Destination, Outcome, PassAborted
from reverse_etl.ledger import Counts, KnownRejection, Ledger, RecordEntry, RunContext
from reverse_etl.observer import SHOW_RECORDS, PassObserver, SilentObserver
from reverse_etl.registry import PASSES, Sync
from reverse_etl.warehouse import SyncRow, SyncViewReader

# Rows read from the view per round trip; batches to the destination are cut from it.
FETCH_ROWS = 5000


class GateOutcome(Protocol):
    ok: bool
    summary: str


GateFn = Callable[..., GateOutcome]


class GateUnavailable(RuntimeError):
    """The data-quality gate cannot be imported; a real push fails closed."""


def load_gate() -> GateFn:
    """The Great Expectations gate; GateUnavailable if it cannot be imported."""
    try:
        from reverse_etl.quality import run_gate
    except Exception as error:  # an ImportError, or GX failing at import time
        raise GateUnavailable(f"{type(error).__name__}: {error}") from None
    return run_gate


class RowSource(Protocol):
    """Where a pass's rows come from: a sync view (`SyncViewReader`) or a revert plan."""

    def count(self, relation: str | None = None) -> int | None:
        """Rows of the source, or of another relation (None if it does not exist)."""
        ...

    def batches(self) -> Iterator[list[SyncRow]]: ...


class PassLocked(RuntimeError):
    """Another process runs the same sync: nothing is sent (exit 3)."""

    exit_code = 3


@dataclass
class RunResult:
    run_id: UUID | None
    sync_name: str
    destination: str
    object_name: str
    sync_view: str
    pass_name: str
    dry_run: bool
    status: str
    rows_in_view: int = 0
    counts: Counts = field(default_factory=Counts)
    api_requests: int = 0
    gate: str | None = None
    error: str | None = None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    # The first rejections of this run (all of them are in the ledger).
    rejections: list[RecordEntry] = field(default_factory=list)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def field_diff(row: SyncRow) -> list[FieldChange]:
    """Fields whose value in the payload differs from `_before` (the key excluded)."""
    before = row.before or {}
    changes = []
    for name, after in row.payload.items():
        if after == row.sync_key:
            continue  # the record's own id, which identifies rather than changes it
        previous = before.get(name)
        if previous != after:
            changes.append(FieldChange(name, previous, after))
    return changes


_DONE = object()


def read_ahead(batches: Iterator[list[SyncRow]], depth: int = 2) -> Iterator[list[SyncRow]]:
    """The batches, each read (and parsed) in a thread while the last one is sent.

    The warehouse works on the next fetch while this process records the current
    one: two cores busy instead of taking turns. At most `depth` fetches wait in
    memory, so the bound on memory stays a few fetches, whatever the view's size.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    worker = threading.Thread(target=produce, name="sync-view-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            # Unblock a producer waiting on a full queue, then let it notice `stop`.
            with contextlib.suppress(queue.Empty):
                ready.get_nowait()
            worker.join(timeout=0.1)


class _Refused(Exception):
    """The pass must not start; `gate` is what the gate did (None: it did not run)."""

    def __init__(self, status: str, exit_code: int, message: str, gate: str | None) -> None:
        super().__init__(message)
        self.status, self.exit_code, self.message, self.gate = status, exit_code, message, gate


class PassEngine:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        destination: Destination,
        *,
        observer: PassObserver | None = None,
        gate: GateFn | None = None,
        fetch_rows: int = FETCH_ROWS,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.destination = destination
        self.observer: PassObserver = observer or SilentObserver()
        self.gate = gate
        self.fetch_rows = fetch_rows

    # -- the pass ---------------------------------------------------------------------

    def run(
        self,
        sync: Sync,
        *,
        dry_run: bool = False,
        retry_rejected: bool = False,
        skip_gate: bool = False,
    ) -> RunResult:
        """One pass of `sync`, reading its sync view."""
        with (
            self.locked(sync),
            SyncViewReader(self.ledger.conn, sync.view, self.fetch_rows) as reader,
        ):
            return self.run_source(
                    sync,
                    reader,
                    dry_run=dry_run,
                    retry_rejected=retry_rejected,
                    skip_gate=skip_gate,
                )

    @contextlib.contextmanager
    def locked(self, sync: Sync) -> Iterator[None]:
        """Hold the sync's advisory lock; PassLocked when another session has it."""
        if sync.pass_name not in PASSES:
            raise ValueError(f"unknown pass {sync.pass_name!r}")
        self.ledger.migrate()
        with self.ledger.pass_lock(sync.name) as acquired:
            if not acquired:
                raise PassLocked(
                    f"another {sync.name} pass is running (its advisory lock is held); "
                    "nothing was sent"
                )
            # Holding the lock proves no live process runs this sync: a run still
            # `running` belongs to one that died.
            for run_id in self.ledger.abandon_running_runs(sync.name):
                self.observer.note(
                    f"run {run_id} of {sync.name} had died; marked abandoned", level="warning"
                )
            yield

    def run_source(
        self,
        sync: Sync,
        reader: RowSource,
        *,
        dry_run: bool = False,
        retry_rejected: bool = False,
        skip_gate: bool = False,
        view_label: str | None = None,
        revert_of: UUID | None = None,
    ) -> RunResult:
        """One pass of `sync` over `reader`'s rows; call it inside `locked(sync)`."""
        destination = self.destination
        rows_in_view = reader.count() or 0
        run = self.ledger.open_run(
            sync_name=sync.name,
            destination=sync.destination,
            object_name=sync.object_name,
            sync_view=view_label or sync.view,
            pass_name=sync.pass_name,
            dry_run=dry_run,
            rows_in_view=rows_in_view,
            revert_of=revert_of,
        )
        result = RunResult(
            run_id=run.run_id,
            sync_name=sync.name,
            destination=sync.destination,
            object_name=sync.object_name,
            sync_view=view_label or sync.view,
            pass_name=sync.pass_name,
            dry_run=dry_run,
            status="running",
            rows_in_view=rows_in_view,
        )
        self.observer.pass_started(sync, rows_in_view=rows_in_view, dry_run=dry_run)
        requests_before = destination.api_requests

        def requests_so_far() -> int:
            return destination.api_requests - requests_before

        try:
            known = 0
            if rows_in_view and not retry_rejected and revert_of is None:
                known = self.ledger.count_known_rejections(
                    sync.view,
                    destination=sync.destination,
                    object_name=sync.object_name,
                    pass_name=sync.pass_name,
                )
            to_send = rows_in_view - known
            bound = self._bound(sync, reader)
            result.gate = self._check(sync, to_send, known, bound, dry_run, skip_gate)
            # No known rejection among the view's rows: no lookup per fetch either.
            look_up = not retry_rejected and known > 0
            aborted = self._stream(
                run, sync, reader, result, dry_run, look_up, requests_so_far, to_send
            )
        except _Refused as refusal:
            result.status, result.exit_code, result.error = (
                refusal.status,
                refusal.exit_code,
                refusal.message,
            )
            result.gate = refusal.gate
            self.ledger.finish_run(
                run,
                status=refusal.status,
                counts=result.counts,
                api_requests=requests_so_far(),
                error=refusal.message,
                gate=result.gate,
            )
            self.observer.note(f"{refusal.status}: {refusal.message}", level="error")
            self.observer.pass_finished(result)
            return result
        except BaseException as error:
            # Keep the ledger truthful even for a crash or Ctrl-C, then let it surface.
            self.ledger.finish_run(
                run,
                status="failed",
                counts=result.counts,
                api_requests=requests_so_far(),
                error=redact(f"{type(error).__name__}: {error}"),
                gate=result.gate,
            )
            raise

        counts = result.counts
        result.api_requests = requests_so_far()
        if counts.skipped:
            result.notes.append(
                f"{counts.skipped} row(s) set aside: rejected before with the same payload "
                "(see `reverse-etl rejected`; --retry-rejected sends them again)"
            )
        if aborted is not None:
            result.status, result.exit_code, result.error = "failed", aborted[0], aborted[1]
        elif counts.rejected:
            # Only this run's rejections: rows set aside from earlier runs are visible
            # in `reverse-etl rejected` and health, not a failure of every later run.
            result.status, result.exit_code = "partial", 1
        else:
            result.status = "succeeded"
        self.ledger.finish_run(
            run,
            status=result.status,
            counts=counts,
            api_requests=result.api_requests,
            error=result.error,
            gate=result.gate,
        )
        self.observer.pass_finished(result)
        return result

    # -- safety -----------------------------------------------------------------------

    def _bound(self, sync: Sync, reader: RowSource) -> int | None:
        """The most rows this pass may write under SAFE_MODE; None when it is off."""
        if not self.settings.safety.safe_mode:
            return None
        bound = sync.max_rows_for(self.settings)
        if sync.max_share is not None and sync.destination_table:
            held = reader.count(sync.destination_table)
            if held:
                bound = min(bound, int(sync.max_share * held))
        return bound

    def _check(
        self,
        sync: Sync,
        to_send: int,
        known: int,
        bound: int | None,
        dry_run: bool,
        skip_gate: bool,
    ) -> str:
        """What the gate did (the ledger's `gate`); raise _Refused to stop the pass."""
        if bound is not None and to_send > bound:
            message = (
                f"SAFE_MODE: {to_send} rows to {sync.pass_name} exceed the bound of {bound} "
                f"({sync.cap_label(self.settings)}"
                + (
                    f", or {sync.max_share:g} x the records in {sync.destination_table}"
                    if sync.max_share is not None
                    else ""
                )
                + "); nothing was sent (raise the cap or set SAFE_MODE=off for this run)"
            )
            if not dry_run:
                raise _Refused("blocked", 4, message, None)
            self.observer.note(f"a real push would be blocked: {message}", level="warning")
        if dry_run or to_send == 0:
            # Nothing is written, nothing to protect: the gate's seconds are saved.
            return "not_needed"
        if skip_gate:
            self.observer.note(
                "the data-quality gate was skipped (--skip-gate); recorded in the run",
                level="warning",
            )
            return "skipped_by_user"
        if sync.gate is None:
            return "none"
        gate = self.gate
        if gate is None:
            try:
                gate = load_gate()
            except GateUnavailable as error:
                raise _Refused(
                    "blocked",
                    4,
                    redact(
                        f"the data-quality gate cannot be imported ({error}); nothing was "
                        "sent (pass --skip-gate to push without it, recorded in the run)"
                    ),
                    "unavailable",
                ) from None
        try:
            # The gate counts the whole view; rows set aside as known rejections are
            # not sent, so they do not count against the bound.
            view_bound = None if bound is None else bound + known
            outcome = gate(self.settings, sync, max_rows=view_bound)
        except Exception as error:
            raise _Refused(
                "blocked", 4, redact(f"the data-quality gate could not run: {error}"), "error"
            ) from None
        if outcome.ok:
            self.observer.note(outcome.summary.splitlines()[0], level="success")
            return "passed"
        if getattr(outcome, "unreachable", False):
            raise _Refused("failed", 3, redact(outcome.summary), "error")
        raise _Refused("blocked", 4, redact(outcome.summary), "failed")

    # -- streaming --------------------------------------------------------------------

    def _stream(
        self,
        run: RunContext,
        sync: Sync,
        reader: RowSource,
        result: RunResult,
        dry_run: bool,
        look_up_rejections: bool,
        requests_so_far: Callable[[], int],
        to_send: int,
    ) -> tuple[int, str] | None:
        """Send and record every row; return (exit code, message) if the pass aborted."""
        counts = result.counts
        size = max(1, min(sync.batch_size, self.destination.max_batch))
        plan = getattr(self.destination, "plan_pass", None)
        if plan is not None:
            # A destination with another way to write large passes (Salesforce's Bulk
            # API 2.0) learns the pass's size first and says the batch it wants; how
            # to write is its business, what to write stays the view's.
            size = max(1, int(plan(sync.pass_name, to_send, size)))
        listing: list[SyncRow] = []
        cut = 0  # rows with values cut to fit, counted for the dry run's header
        aborted: tuple[int, str] | None = None

        def write(batch: list[SyncRow]) -> None:
            nonlocal cut, aborted
            if dry_run:
                if len(listing) < SHOW_RECORDS:
                    listing.extend(batch[: SHOW_RECORDS - len(listing)])
                cut += sum(1 for row in batch if row.truncated)
                entries = [_dry_entry(row, sync) for row in batch]
            elif aborted is not None:
                entries = [_not_sent_entry(row, sync, aborted[1]) for row in batch]
            else:
                try:
                    outcomes = self._send(batch, sync)
                except (PassAborted, HttpError) as error:
                    aborted = (getattr(error, "exit_code", 3), redact(str(error)))
                    self.observer.note(f"pass aborted: {aborted[1]}", level="error")
                    entries = [_not_sent_entry(row, sync, aborted[1]) for row in batch]
                else:
                    entries = [
                        _sent_entry(row, outcome, sync)
                        for row, outcome in zip(batch, outcomes, strict=True)
                    ]
                    self._warn(batch, outcomes, result)
            self._record(run, entries, counts, requests_so_far)
            for entry in entries:
                if entry.outcome == "rejected" and len(result.rejections) < SHOW_RECORDS:
                    result.rejections.append(entry)

        # Batches are cut from the rows as they stream in, across fetches: a batch the
        # destination takes is never capped by the reader's round trip.
        pending: list[SyncRow] = []
        done = 0
        for fetched in read_ahead(reader.batches()):
            known: dict[str, KnownRejection] = {}
            if look_up_rejections:
                known = self.ledger.known_rejections(
                    destination=sync.destination,
                    object_name=sync.object_name,
                    pass_name=sync.pass_name,
                    keys=[(row.sync_key, row.payload_hash) for row in fetched],
                )
            skipped = [
                _skipped_entry(row, known[row.sync_key], sync)
                for row in fetched
                if row.sync_key in known
            ]
            if skipped:
                self._record(run, skipped, counts, requests_so_far)
            pending.extend(row for row in fetched if row.sync_key not in known)
            while len(pending) >= size:
                batch, pending = pending[:size], pending[size:]
                write(batch)
            done += len(fetched)
            self.observer.progress(done, result.rows_in_view)
        if pending:
            write(pending)
        if dry_run:
            would = counts.would_create + counts.would_update
            self.observer.dry_run_listing(sync, listing, would, cut=cut)
        return aborted

    def _record(
        self,
        run: RunContext,
        entries: Sequence[RecordEntry],
        counts: Counts,
        requests_so_far: Callable[[], int],
    ) -> None:
        for entry in entries:
            counts.add(entry.outcome)
        self.ledger.record_batch(run, entries, counts, requests_so_far())

    def _warn(self, batch: Sequence[SyncRow], outcomes: Sequence[Outcome],
              result: RunResult) -> None:
        """A record written with a warning (its code on an accepted outcome, e.g.
        PW_VERIFY_WARNING) is said out loud, not only kept in the ledger."""
        for row, outcome in zip(batch, outcomes, strict=True):
            if outcome.kind != "rejected" and outcome.code:
                line = f"{row.sync_key}: {outcome.code}: {outcome.message or ''}".rstrip(": ")
                self.observer.note(line, level="warning")
                if len(result.notes) < SHOW_RECORDS:
                    result.notes.append(line)

    def _send(self, batch: Sequence[SyncRow], sync: Sync) -> list[Outcome]:
        payloads = [row.payload for row in batch]
        if sync.pass_name == "create":
            outcomes = self.destination.create(payloads)
        else:
            outcomes = self.destination.update(payloads)
        if len(outcomes) != len(batch):
            raise PassAborted(
                f"{sync.destination} returned {len(outcomes)} outcomes for "
                f"{len(batch)} records; stopping rather than guessing which is which"
            )
        return outcomes


# -- ledger entries -----------------------------------------------------------------


def _own_id(row: SyncRow, sync: Sync) -> str | None:
    # An update row names its record by the sync's key field (`Id`, `ID`, `id`); a
    # view whose sync key is that id too (docs/warehouse.md) needs no payload field.
    if sync.pass_name != "update":
        return None
    record_id = row.payload.get(sync.key)
    return row.sync_key if record_id is None else str(record_id)


def _sent_entry(row: SyncRow, outcome: Outcome, sync: Sync) -> RecordEntry:
    kind = {
        "ok": "created" if sync.pass_name == "create" else "updated",
        "already_present": "already_present",
        "rejected": "rejected",
    }[outcome.kind]
    return RecordEntry(
        sync_key=row.sync_key,
        outcome=kind,
        payload=row.payload,
        payload_hash=row.payload_hash,
        before_values=row.before,
        record_id=outcome.record_id or _own_id(row, sync),
        error_code=outcome.code,
        error_message=outcome.message,
        error_fields=outcome.fields,
    )


def _dry_entry(row: SyncRow, sync: Sync) -> RecordEntry:
    return RecordEntry(
        sync_key=row.sync_key,
        outcome="would_create" if sync.pass_name == "create" else "would_update",
        payload=row.payload,
        payload_hash=row.payload_hash,
        before_values=row.before,
        record_id=_own_id(row, sync),
    )


def _skipped_entry(row: SyncRow, known: KnownRejection, sync: Sync) -> RecordEntry:
    return RecordEntry(
        sync_key=row.sync_key,
        outcome="skipped_known_rejection",
        payload=row.payload,
        payload_hash=row.payload_hash,
        before_values=row.before,
        record_id=_own_id(row, sync),
        error_code=known.error_code,
        error_message=known.error_message,
        error_fields=tuple((known.error_fields or "").split(",")) if known.error_fields else (),
    )


def _not_sent_entry(row: SyncRow, sync: Sync, message: str) -> RecordEntry:
    return RecordEntry(
        sync_key=row.sync_key,
        outcome="not_sent",
        payload=row.payload,
        payload_hash=row.payload_hash,
        before_values=row.before,
        record_id=_own_id(row, sync),
        error_message=message,
    )


def run_pass(
    settings: Settings,
    ledger: Ledger,
    destination: Destination,
    sync: Sync,
    *,
    dry_run: bool = False,
    retry_rejected: bool = False,
    skip_gate: bool = False,
    observer: PassObserver | None = None,
    gate: GateFn | None = None,
) -> RunResult:
    engine = PassEngine(settings, ledger, destination, observer=observer, gate=gate)
    return engine.run(sync, dry_run=dry_run, retry_rejected=retry_rejected, skip_gate=skip_gate)


__all__ = [
    "GateFn",
    "GateUnavailable",
    "PassEngine",
    "PassLocked",
    "RunResult",
    "field_diff",
    "load_gate",
    "run_pass",
]
