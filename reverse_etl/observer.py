"""What a pass tells the outside world, and the two audiences that listen.

The engine reports events to a `PassObserver` and prints nothing itself, so the
same pass runs under the CLI (`ConsoleObserver`: progress bar, tables, dry-run
listing), a scheduler or a benchmark (`SilentObserver`) without a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from reverse_etl.chain import ChainResult, Step, StepResult
    from reverse_etl.engine import RunResult
    from reverse_etl.registry import Sync
    from reverse_etl.warehouse import SyncRow

Level = Literal["info", "success", "warning", "error"]

# How many records a dry run or a summary shows in full; all of them are recorded.
SHOW_RECORDS = 20


class PassObserver(Protocol):
    def pass_started(self, sync: Sync, *, rows_in_view: int, dry_run: bool) -> None: ...

    def note(self, message: str, *, level: Level = "info") -> None: ...

    def progress(self, done: int, total: int) -> None:
        """`done` of `total` rows of the view have been recorded."""
        ...

    def dry_run_listing(
        self, sync: Sync, rows: Sequence[SyncRow], total: int, *, cut: int = 0
    ) -> None:
        """The first rows a dry run would send (at most SHOW_RECORDS), of `total`;
        `cut` of all `total` rows have values cut to fit the destination."""
        ...

    def pass_finished(self, result: RunResult) -> None: ...


class SilentObserver:
    """Listens to nothing: for schedulers, benchmarks and tests."""

    def pass_started(self, sync: Sync, *, rows_in_view: int, dry_run: bool) -> None:
        pass

    def note(self, message: str, *, level: Level = "info") -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def dry_run_listing(
        self, sync: Sync, rows: Sequence[SyncRow], total: int, *, cut: int = 0
    ) -> None:
        pass

    def pass_finished(self, result: RunResult) -> None:
        pass


def _cut_summary(cut: int) -> str:
    """'; N with values cut to fit' for the dry run's header, '' when none is cut."""
    return f"; {cut} with values cut to fit" if cut else ""


_STYLES: dict[Level, str] = {
    "info": "",
    "success": "green",
    "warning": "yellow",
    "error": "red",
}


class ConsoleObserver:
    """The CLI's view of a pass, on a rich console."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._progress: Progress | None = None
        self._task: int | None = None

    def pass_started(self, sync: Sync, *, rows_in_view: int, dry_run: bool) -> None:
        mode = " (dry run: nothing is sent)" if dry_run else ""
        self.console.print(
            Text.assemble(
                (f"{sync.name}", "bold"),
                f": {sync.view} -> {sync.destination} {sync.object_name}, "
                f"{rows_in_view} row(s) in the view{mode}",
            ),
            soft_wrap=True,
        )
        if rows_in_view:
            verb = ("would " if dry_run else "") + sync.pass_name
            self._progress = Progress(
                TextColumn(f"{sync.destination} {verb}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._task = self._progress.add_task("rows", total=rows_in_view)

    def note(self, message: str, *, level: Level = "info") -> None:
        prefix = {"warning": "note: ", "error": ""}.get(level, "")
        # Text, not markup: messages quote data values, and `[...]` must print as is.
        self.console.print(Text(prefix + message, style=_STYLES[level]), soft_wrap=True)

    def progress(self, done: int, total: int) -> None:
        if self._progress is None or self._task is None:
            return
        if not self._progress.live.is_started:
            self._progress.start()
        self._progress.update(self._task, completed=done, total=total)

    def _stop_progress(self) -> None:
        if self._progress is not None and self._progress.live.is_started:
            self._progress.stop()
        self._progress = None

    def dry_run_listing(
        self, sync: Sync, rows: Sequence[SyncRow], total: int, *, cut: int = 0
    ) -> None:
        from reverse_etl.engine import field_diff

        self._stop_progress()
        print_ = self.console.print
        verb = "create" if sync.pass_name == "create" else "update"
        print_(
            Text.assemble(
                ("dry run:", "bold"),
                f" would {verb} {total} record(s), sending nothing",
                _cut_summary(cut),
            ),
            soft_wrap=True,
        )
        for row in rows:
            if sync.pass_name == "create":
                fields = ", ".join(
                    f"{name}={value!r}" for name, value in row.payload.items() if value is not None
                )
                print_(
                    f"  + {row.sync_key}: {fields}", markup=False, highlight=False, soft_wrap=True
                )
            else:
                print_(f"  ~ {row.sync_key}", markup=False, highlight=False, soft_wrap=True)
                for change in field_diff(row):
                    print_(
                        f"      {change.field}: {change.before!r} -> {change.after!r}",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )
            if row.truncated:
                # The value sent is not the source's: say so before anything is sent.
                print_(
                    Text(f"    ! {', '.join(row.truncated)} cut to fit", style="yellow"),
                    soft_wrap=True,
                )
        if total > len(rows):
            print_(
                f"  ... and {total - len(rows)} more (every record is in reverse_etl.sync_records)"
            )

    def pass_finished(self, result: RunResult) -> None:
        self._stop_progress()
        counts = result.counts
        title = f"{result.sync_name} pass" + (" (dry run)" if result.dry_run else "")
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
            ("data-quality gate", result.gate or "-"),
            ("API requests", result.api_requests),
            ("run id", str(result.run_id)),
        ]
        for name, value in lines:
            table.add_row(name, str(value))
        self.console.print(table)
        for note in result.notes:
            self.console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        for record in result.rejections:
            fields = f" [{','.join(record.error_fields)}]" if record.error_fields else ""
            self.console.print(
                f"  rejected {record.sync_key}: {record.error_code}{fields}: "
                f"{record.error_message}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if counts.rejected > len(result.rejections):
            self.console.print(
                f"  ... and {counts.rejected - len(result.rejections)} more in "
                "reverse_etl.rejected_records"
            )


# -- a chain of steps (`reverse-etl sync workorders`) -----------------------------------


class QuietPassObserver(SilentObserver):
    """A pass inside a chain: only its warnings and errors; the chain reports the rest."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, message: str, *, level: Level = "info") -> None:
        if level in ("warning", "error"):
            self.console.print(Text(f"  {message}", style=_STYLES[level]), soft_wrap=True)


_STEP_STYLES = {"ran": "green", "skipped": "yellow", "failed": "red"}
# Short API names for the report's narrow columns (the legend prints them in full).
_API_LABELS = {"propertyware": "PW", "servicefusion": "SF", "salesforce": "SFDC"}


def _api_cell(requests: dict[str, int], waits: dict[str, float]) -> str:
    cells = [
        f"{_API_LABELS.get(api, api)} {count} ({waits.get(api, 0.0):.1f} s)"
        for api, count in sorted(requests.items())
    ]
    return ", ".join(cells) or "-"


class ConsoleChainObserver:
    """One line per finished step as the chain goes, then `report` prints the table."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step_started(self, step: Step) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        step = result.step
        self.console.print(
            Text.assemble(
                (f"step {step.key:>5} {result.status:<7}", _STEP_STYLES[result.status]),
                f" {step.name}: {result.records} record(s) in {result.seconds:.1f} s",
                f"; {result.detail}" if result.detail else "",
            ),
            soft_wrap=True,
        )

    def report(self, chain: ChainResult, rates: dict[str, float]) -> None:
        from reverse_etl.chain import slowest_api_bound

        title = "workorders chain" + (" (dry run)" if chain.dry_run else "")
        table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
        for column, justify in (("step", "right"), ("name", "left"), ("status", "left"),
                                ("records", "right"), ("rej.", "right"), ("s", "right"),
                                ("requests (rate wait)", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for result in chain.steps:
            table.add_row(
                result.step.key, result.step.name,
                Text(result.status, style=_STEP_STYLES[result.status]),
                str(result.records), str(result.rejected), f"{result.seconds:.1f}",
                _api_cell(result.api_requests, result.rate_wait_s),
            )
        self.console.print(table)
        requests = chain.requests_by_api()
        waits = chain.rate_wait_by_api()
        for api in sorted(requests):
            rate = rates.get(api)
            limit = f" at {rate:g}/s" if rate else ""
            self.console.print(
                f"{_API_LABELS.get(api, api)} = {api}: {requests[api]} request(s){limit}, "
                f"{waits.get(api, 0.0):.1f} s waiting on its rate limit",
                markup=False, highlight=False, soft_wrap=True,
            )
        bound = slowest_api_bound(chain, rates)
        if bound is not None:
            api, seconds = bound
            self.console.print(
                f"chain: {chain.seconds:.1f} s; the slowest API ({api}) needs {seconds:.1f} s "
                f"at its rate, so the target is at most {1.2 * seconds + 60:.1f} s "
                "(1.2 x that + 60 s)",
                markup=False, highlight=False, soft_wrap=True,
            )
