"""The pass engine: read a sync view, batch, send, record.

One pass is one direction of one sync (create or update) to one destination. The
engine decides only *how* records are written; *what* is written is the view's
business. In order:

1. read the whole view (it is the complete answer to "what must change");
2. open a run in the ledger;
3. set aside rows whose identical payload was rejected before (unless
   `retry_rejected`), so a permanently bad row does not cost a write every run;
4. refuse to start (status `blocked`, exit 4) when SAFE_MODE caps are exceeded or
   the data-quality gate fails; nothing is sent;
5. send batches of `destination.max_batch`, recording each batch's outcomes in one
   transaction, so a crash loses at most the batch in flight;
6. finish the run: `succeeded`, `partial` (some rows rejected now or before),
   `failed` (aborted: service unreachable, retries exhausted, API limit).

A dry run goes through the same steps but asks the destination nothing: each row
is recorded as `would_create` / `would_update`, with a field diff for updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from common.http import HttpError
from common.redaction import redact
from common.settings import Settings
from reverse_etl.destinations.base import Destination, Outcome, PassAborted
from reverse_etl.ledger import Counts, KnownRejection, Ledger, RecordEntry, RunContext
from reverse_etl.warehouse import SyncRow, read_sync_view

PassName = Literal["create", "update"]
PASSES: tuple[PassName, ...] = ("create", "update")

# How many records a dry run or a summary prints in full; all of them are recorded.
SHOW_RECORDS = 20


class GateOutcome(Protocol):
    ok: bool
    summary: str


GateFn = Callable[[Settings, str, str], GateOutcome]


def default_gate() -> GateFn | None:
    """The Great Expectations gate, if that module is installed in this tree."""
    try:
        from reverse_etl.quality import run_gate
    except ImportError:
        return None
    return run_gate


@dataclass
class RunResult:
    run_id: UUID | None
    destination: str
    object_name: str
    sync_view: str
    pass_name: str
    dry_run: bool
    status: str
    rows_in_view: int = 0
    counts: Counts = field(default_factory=Counts)
    api_requests: int = 0
    error: str | None = None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)


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


def _batches(rows: Sequence[SyncRow], size: int) -> Iterator[Sequence[SyncRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class PassEngine:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        destination: Destination,
        *,
        console: Console | None = None,
        gate: GateFn | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.destination = destination
        self.console = console or Console()
        self.gate = gate

    # -- the pass ---------------------------------------------------------------------

    def run(
        self,
        pass_name: PassName,
        view: str,
        *,
        dry_run: bool = False,
        retry_rejected: bool = False,
    ) -> RunResult:
        if pass_name not in PASSES:
            raise ValueError(f"unknown pass {pass_name!r}")
        destination = self.destination
        self.ledger.ensure_schema()
        rows = read_sync_view(self.ledger.conn, view)
        run = self.ledger.open_run(
            destination=destination.name,
            object_name=destination.object_name,
            sync_view=view,
            pass_name=pass_name,
            dry_run=dry_run,
            rows_in_view=len(rows),
        )
        result = RunResult(
            run_id=run.run_id,
            destination=destination.name,
            object_name=destination.object_name,
            sync_view=view,
            pass_name=pass_name,
            dry_run=dry_run,
            status="running",
            rows_in_view=len(rows),
        )
        requests_before = destination.api_requests
        counts = result.counts

        def requests_so_far() -> int:
            return destination.api_requests - requests_before

        try:
            known: dict[str, KnownRejection] = {}
            if not retry_rejected:
                known = self.ledger.known_rejections(
                    destination=destination.name,
                    object_name=destination.object_name,
                    pass_name=pass_name,
                    keys=[(row.sync_key, row.payload_hash) for row in rows],
                )
            to_send = [row for row in rows if row.sync_key not in known]
            skipped = [row for row in rows if row.sync_key in known]

            refusal = self._safety_refusal(pass_name, len(to_send), dry_run)
            if refusal is not None:
                status, exit_code, message = refusal
                self.ledger.finish_run(
                    run, status=status, counts=counts, api_requests=0, error=message
                )
                result.status, result.exit_code, result.error = status, exit_code, message
                self.console.print(Text.assemble((f"{status}: ", "red"), message))
                self._summary(result)
                return result

            if skipped:
                entries = [
                    self._skipped_entry(row, known[row.sync_key], pass_name) for row in skipped
                ]
                for entry in entries:
                    counts.add(entry.outcome)
                self.ledger.record_batch(run, entries, counts, requests_so_far())
                result.notes.append(
                    f"{len(skipped)} row(s) skipped: rejected before with the same payload "
                    "(use --retry-rejected to send them again)"
                )

            aborted = self._send_all(run, to_send, pass_name, dry_run, counts, requests_so_far)
        except BaseException as error:
            # Keep the ledger truthful even for a crash or Ctrl-C, then let it surface.
            self.ledger.finish_run(
                run,
                status="failed",
                counts=counts,
                api_requests=requests_so_far(),
                error=redact(f"{type(error).__name__}: {error}"),
            )
            raise

        result.api_requests = requests_so_far()
        if aborted is not None:
            result.status, result.exit_code, result.error = "failed", aborted[0], aborted[1]
        elif dry_run:
            result.status = "succeeded"
        elif counts.rejected or counts.skipped:
            result.status, result.exit_code = "partial", 1
        else:
            result.status = "succeeded"
        self.ledger.finish_run(
            run,
            status=result.status,
            counts=counts,
            api_requests=result.api_requests,
            error=result.error,
        )
        self._summary(result)
        return result

    def _safety_refusal(
        self, pass_name: PassName, to_send: int, dry_run: bool
    ) -> tuple[str, int, str] | None:
        """(status, exit code, message) when the pass must not start, else None."""
        cap = (
            self.settings.safety.safe_mode_max_creates
            if pass_name == "create"
            else self.settings.safety.safe_mode_max_updates
        )
        variable = "SAFE_MODE_MAX_CREATES" if pass_name == "create" else "SAFE_MODE_MAX_UPDATES"
        over_cap = self.settings.safety.safe_mode and to_send > cap
        message = (
            f"SAFE_MODE: {to_send} rows to {pass_name} exceed {variable}={cap}; "
            f"nothing was sent (raise the cap or set SAFE_MODE=off for this run)"
        )
        if dry_run:
            if over_cap:
                self.console.print(
                    Text.assemble(("note: ", "yellow"), f"a real push would be blocked: {message}")
                )
            return None
        if over_cap:
            return "blocked", 4, message
        if to_send == 0 or self.gate is None:
            # Nothing to write, nothing to protect: the gate's minutes are saved.
            return None
        try:
            gate_result = self.gate(self.settings, self.destination.name, pass_name)
        except Exception as error:
            return "blocked", 4, redact(f"data-quality gate could not run: {error}")
        if gate_result.ok:
            # Text, not markup: the gate's report may quote data values with brackets.
            self.console.print(Text(gate_result.summary.splitlines()[0], style="green"))
            return None
        if getattr(gate_result, "unreachable", False):
            return "failed", 3, redact(gate_result.summary)
        return "blocked", 4, redact(gate_result.summary)

    def _send_all(
        self,
        run: RunContext,
        rows: Sequence[SyncRow],
        pass_name: PassName,
        dry_run: bool,
        counts: Counts,
        requests_so_far: Callable[[], int],
    ) -> tuple[int, str] | None:
        """Send every batch; return (exit code, message) when the pass was aborted."""
        if not rows:
            return None
        size = max(1, self.destination.max_batch)
        batches = list(_batches(rows, size))
        verb = "would " + pass_name if dry_run else pass_name
        progress = Progress(
            TextColumn(f"{self.destination.name} {verb}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with progress:
            task = progress.add_task("batches", total=len(batches))
            for index, batch in enumerate(batches):
                if dry_run:
                    entries = [self._dry_entry(row, pass_name) for row in batch]
                else:
                    try:
                        outcomes = self._send(batch, pass_name)
                    except (PassAborted, HttpError) as error:
                        message = redact(str(error))
                        unsent = [row for rest in batches[index:] for row in rest]
                        entries = [self._not_sent_entry(row, pass_name, message) for row in unsent]
                        for entry in entries:
                            counts.add(entry.outcome)
                        self.ledger.record_batch(run, entries, counts, requests_so_far())
                        return getattr(error, "exit_code", 3), message
                    entries = [
                        self._sent_entry(row, outcome, pass_name)
                        for row, outcome in zip(batch, outcomes, strict=True)
                    ]
                for entry in entries:
                    counts.add(entry.outcome)
                self.ledger.record_batch(run, entries, counts, requests_so_far())
                progress.advance(task)
        if dry_run:
            self._show_dry_run(rows, pass_name)
        return None

    def _send(self, batch: Sequence[SyncRow], pass_name: PassName) -> list[Outcome]:
        payloads = [row.payload for row in batch]
        if pass_name == "create":
            outcomes = self.destination.create(payloads)
        else:
            outcomes = self.destination.update(payloads)
        if len(outcomes) != len(batch):
            raise PassAborted(
                f"{self.destination.name} returned {len(outcomes)} outcomes for "
                f"{len(batch)} records; stopping rather than guessing which is which"
            )
        return outcomes

    # -- ledger entries -------------------------------------------------------------

    @staticmethod
    def _own_id(row: SyncRow, pass_name: PassName) -> str | None:
        # In an update view the sync key is the destination's record id (design.md).
        return row.sync_key if pass_name == "update" else None

    def _sent_entry(self, row: SyncRow, outcome: Outcome, pass_name: PassName) -> RecordEntry:
        kind = {
            "ok": "created" if pass_name == "create" else "updated",
            "already_present": "already_present",
            "rejected": "rejected",
        }[outcome.kind]
        return RecordEntry(
            sync_key=row.sync_key,
            outcome=kind,
            payload=row.payload,
            payload_hash=row.payload_hash,
            before_values=row.before,
            record_id=outcome.record_id or self._own_id(row, pass_name),
            error_code=outcome.code,
            error_message=outcome.message,
            error_fields=outcome.fields,
        )

    def _dry_entry(self, row: SyncRow, pass_name: PassName) -> RecordEntry:
        return RecordEntry(
            sync_key=row.sync_key,
            outcome="would_create" if pass_name == "create" else "would_update",
            payload=row.payload,
            payload_hash=row.payload_hash,
            before_values=row.before,
            record_id=self._own_id(row, pass_name),
        )

    def _skipped_entry(
        self, row: SyncRow, known: KnownRejection, pass_name: PassName
    ) -> RecordEntry:
        return RecordEntry(
            sync_key=row.sync_key,
            outcome="skipped_known_rejection",
            payload=row.payload,
            payload_hash=row.payload_hash,
            before_values=row.before,
            record_id=self._own_id(row, pass_name),
            error_code=known.error_code,
            error_message=known.error_message,
            error_fields=tuple((known.error_fields or "").split(",")) if known.error_fields else (),
        )

    def _not_sent_entry(self, row: SyncRow, pass_name: PassName, message: str) -> RecordEntry:
        return RecordEntry(
            sync_key=row.sync_key,
            outcome="not_sent",
            payload=row.payload,
            payload_hash=row.payload_hash,
            before_values=row.before,
            record_id=self._own_id(row, pass_name),
            error_message=message,
        )

    # -- output ---------------------------------------------------------------------

    def _show_dry_run(self, rows: Sequence[SyncRow], pass_name: PassName) -> None:
        print_ = self.console.print
        if pass_name == "create":
            print_(f"[bold]dry run:[/] would create {len(rows)} record(s), sending nothing")
            for row in rows[:SHOW_RECORDS]:
                fields = ", ".join(
                    f"{name}={value!r}" for name, value in row.payload.items() if value is not None
                )
                print_(
                    f"  + {row.sync_key}: {fields}", markup=False, highlight=False, soft_wrap=True
                )
        else:
            print_(f"[bold]dry run:[/] would update {len(rows)} record(s), sending nothing")
            for row in rows[:SHOW_RECORDS]:
                print_(f"  ~ {row.sync_key}", markup=False, highlight=False, soft_wrap=True)
                for change in field_diff(row):
                    print_(
                        f"      {change.field}: {change.before!r} -> {change.after!r}",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )
        if len(rows) > SHOW_RECORDS:
            print_(
                f"  ... and {len(rows) - SHOW_RECORDS} more "
                "(every record is in reverse_etl.sync_records)"
            )

    def _summary(self, result: RunResult) -> None:
        counts = result.counts
        title = f"{result.destination} {result.pass_name} pass" + (
            " (dry run)" if result.dry_run else ""
        )
        table = Table(title=title, show_header=True, header_style="bold")
        table.add_column("figure")
        table.add_column("value", justify="right")
        lines: list[tuple[str, object]] = [
            ("status", result.status),
            ("rows in view", result.rows_in_view),
        ]
        if result.dry_run:
            lines += [("would create", counts.would_create), ("would update", counts.would_update)]
        else:
            lines += [
                ("created", counts.created),
                ("updated", counts.updated),
                ("already present", counts.already_present),
                ("rejected", counts.rejected),
            ]
        lines += [
            ("skipped (known rejection)", counts.skipped),
            ("not sent", counts.not_sent),
            ("API requests", result.api_requests),
            ("run id", str(result.run_id)),
        ]
        for name, value in lines:
            table.add_row(name, str(value))
        self.console.print(table)
        for note in result.notes:
            self.console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        if counts.rejected and result.run_id is not None:
            self._show_rejections(result.run_id)

    def _show_rejections(self, run_id: UUID) -> None:
        rejected = [r for r in self.ledger.records(run_id) if r["outcome"] == "rejected"]
        for record in rejected[:SHOW_RECORDS]:
            fields = f" [{record['error_fields']}]" if record["error_fields"] else ""
            self.console.print(
                f"  rejected {record['sync_key']}: {record['error_code']}{fields}: "
                f"{record['error_message']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if len(rejected) > SHOW_RECORDS:
            self.console.print(
                f"  ... and {len(rejected) - SHOW_RECORDS} more in reverse_etl.rejected_records"
            )


def run_pass(
    settings: Settings,
    ledger: Ledger,
    destination: Destination,
    pass_name: PassName,
    view: str,
    *,
    dry_run: bool = False,
    retry_rejected: bool = False,
    console: Console | None = None,
    gate: GateFn | None = None,
) -> RunResult:
    engine = PassEngine(settings, ledger, destination, console=console, gate=gate)
    return engine.run(pass_name, view, dry_run=dry_run, retry_rejected=retry_rejected)


__all__ = ["GateFn", "PassEngine", "RunResult", "default_gate", "field_diff", "run_pass"]
