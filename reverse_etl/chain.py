"""The work-order chain: `reverse-etl sync workorders`, the spec's 11 steps in one run.

```
1 fetch portfolios  2 fetch work orders  3 fetch customers  4 fetch jobs
5 fetch buildings   6 fetch leases       (extracts; the two systems in parallel)
build: dbt build (staging, dims/facts, snapshots, mappings, sync views)
7 portfolios + building customers   8 units (locations)   9 tenants (contacts)
10 work orders (jobs)   11 job statuses back to PropertyWare
```

The chain orchestrates the product's own parts and adds no logic of its own:
extracts are `python -m extract <source> --resource ...` (one process per
system, so PropertyWare and ServiceFusion are read at the same time, each at its
own rate), the build is `dbt build`, and each push step runs registered syncs
through the pass engine, exactly as `reverse-etl push` does. What is written
stays the sync views' business.

Why one run converges: ServiceFusion takes a customer's locations and contacts
inside the customer's create body, so step 7 sends them; steps 8 and 9 have
nothing to push for those customers and report, for manual action, what the API
cannot do for customers that already existed (the drift report). Step 10's view
finds the ids of the customers step 7 created minutes earlier in the ledger (the
models between that view and the ledger are views), so no second extract or
build is needed. Step 11 compares the work orders with the jobs read in step 4.

A failed step stops the steps that depend on it, not its independent siblings;
every step ends as `ran`, `skipped` (with the reason) or `failed`, and the run and
its steps are recorded in reverse_etl.chain_runs / chain_steps. The module prints
nothing: a `ChainObserver` hears every step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from uuid import UUID

import psycopg

from common.redaction import redact
from common.settings import Settings
from reverse_etl import registry
from reverse_etl.destinations import build_destination
from reverse_etl.engine import PassLocked, RunResult, run_pass
from reverse_etl.ledger import Ledger
from reverse_etl.observer import PassObserver, SilentObserver
from reverse_etl.subprocesses import Runner, last_line, run_logged

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHAIN = "workorders"
BUILD = "build"

StepKind = Literal["extract", "build", "push", "report"]
StepStatus = Literal["ran", "skipped", "failed"]


@dataclass(frozen=True)
class Step:
    key: str  # "1".."11" or "build"
    name: str
    kind: StepKind
    depends_on: tuple[str, ...] = ()
    # extract steps: the source, its resources, and the raw tables they fill
    source: str | None = None
    resources: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    # push steps: registered syncs, in order
    syncs: tuple[str, ...] = ()
    # report steps: the drift report's rows of these kinds need a person
    drift_kinds: tuple[str, ...] = ()
    writes_servicefusion: bool = False


EXTRACTS = ("1", "2", "3", "4", "5", "6")

STEPS: tuple[Step, ...] = (
    Step("1", "fetch portfolios", "extract", source="propertyware",
         resources=("portfolios",), tables=("portfolios",)),
    Step("2", "fetch work orders", "extract", source="propertyware",
         resources=("work_orders", "vendors"), tables=("work_orders", "vendors")),
    Step("3", "fetch customers", "extract", source="servicefusion",
         resources=("customers", "job_statuses", "job_categories", "techs"),
         tables=("customers", "customers__contacts", "customers__locations")),
    Step("4", "fetch jobs", "extract", source="servicefusion", resources=("jobs",),
         tables=("jobs",)),
    Step("5", "fetch buildings", "extract", source="propertyware",
         resources=("buildings", "units"), tables=("buildings", "units")),
    Step("6", "fetch leases", "extract", source="propertyware", resources=("leases",),
         tables=("leases",)),
    Step(BUILD, "dbt build", "build", depends_on=EXTRACTS),
    Step("7", "portfolios and building customers", "push",
         depends_on=("1", "3", "5", "6", BUILD),
         syncs=("servicefusion.parent_customers.create", "servicefusion.customers.create"),
         writes_servicefusion=True),
    Step("8", "units (locations)", "report", depends_on=("7",),
         drift_kinds=("location",)),
    Step("9", "tenants (contacts)", "report", depends_on=("7",),
         drift_kinds=("contact",)),
    Step("10", "work orders as jobs", "push", depends_on=("2", "4", "7", BUILD),
         syncs=("servicefusion.jobs.create",), writes_servicefusion=True),
    Step("11", "job statuses to PropertyWare", "push",
         depends_on=("2", "4", BUILD), syncs=("propertyware.work_orders.update",)),
)
STEP_KEYS = tuple(step.key for step in STEPS)
DRIFT_REPORT = "marts.servicefusion_drift_report"
# selectors.yml: the slice's models, snapshots and tests, not the whole project.
DBT_SELECTOR = "workorders"
DBT_SCHEMAS = ("staging", "intermediate", "marts", "sync", "monitoring")


@dataclass
class StepResult:
    step: Step
    status: StepStatus
    records: int = 0
    rejected: int = 0
    seconds: float = 0.0
    api_requests: dict[str, int] = field(default_factory=dict)
    rate_wait_s: dict[str, float] = field(default_factory=dict)
    detail: str | None = None
    exit_code: int = 0
    runs: list[RunResult] = field(default_factory=list)
    started_at: float = 0.0
    # Skipped because a step it depends on failed (or was itself blocked), as
    # opposed to skipped by a flag: its own dependants are blocked too.
    blocked: bool = False


@dataclass
class ChainResult:
    chain_run_id: UUID | None
    dry_run: bool
    steps: list[StepResult]
    seconds: float
    exit_code: int

    def requests_by_api(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for result in self.steps:
            for api, count in result.api_requests.items():
                totals[api] = totals.get(api, 0) + count
        return totals

    def rate_wait_by_api(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for result in self.steps:
            for api, seconds in result.rate_wait_s.items():
                totals[api] = round(totals.get(api, 0.0) + seconds, 3)
        return totals


class ChainObserver(Protocol):
    def step_started(self, step: Step) -> None: ...

    def step_finished(self, result: StepResult) -> None: ...


class SilentChainObserver:
    def step_started(self, step: Step) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass


class UnknownStep(ValueError):
    exit_code = 2


def select_steps(wanted: Sequence[str] | None) -> list[Step]:
    """The steps to run, in chain order; `wanted` are keys ("2", "build")."""
    if not wanted:
        return list(STEPS)
    unknown = [key for key in wanted if key not in STEP_KEYS]
    if unknown:
        raise UnknownStep(
            f"unknown step {', '.join(unknown)}; steps: {', '.join(STEP_KEYS)}"
        )
    return [step for step in STEPS if step.key in set(wanted)]


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class WorkOrderChain:
    def __init__(
        self,
        settings: Settings,
        conn: psycopg.Connection[Any],
        *,
        log_dir: Path,
        observer: ChainObserver | None = None,
        pass_observer: PassObserver | None = None,
        runner: Runner = run_logged,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.ledger = Ledger(conn)
        self.log_dir = log_dir
        self.observer = observer or SilentChainObserver()
        self.pass_observer = pass_observer or SilentObserver()
        self.runner = runner

    # -- the run ------------------------------------------------------------------

    def run(
        self, steps: Sequence[Step], *, dry_run: bool = False, skip_gate: bool = False
    ) -> ChainResult:
        started = time.monotonic()
        self.ledger.migrate()
        chain_run_id = self.ledger.open_chain_run(CHAIN, dry_run=dry_run)
        selected = {step.key for step in steps}
        results: dict[str, StepResult] = {}

        extracts = [step for step in steps if step.kind == "extract"]
        if extracts:
            for step in extracts:
                self.observer.step_started(step)
            for result in self._extract(extracts):
                self._finish(chain_run_id, result, results)

        for step in steps:
            if step.kind == "extract":
                continue
            blocker = self._blocker(step, selected, results)
            if blocker is not None:
                self._finish(chain_run_id, StepResult(step, "skipped", detail=blocker,
                                                      started_at=time.time(), blocked=True),
                             results)
                continue
            if step.writes_servicefusion and not self.settings.workorders.enable_service_fusion:
                self._finish(chain_run_id, StepResult(
                    step, "skipped", started_at=time.time(),
                    detail="ENABLE_SERVICE_FUSION is off: nothing sent to ServiceFusion",
                ), results)
                continue
            self.observer.step_started(step)
            if step.kind == "build":
                result = self._build(step)
            elif step.kind == "push":
                result = self._push(step, dry_run=dry_run, skip_gate=skip_gate,
                                    earlier=results)
            else:
                result = self._report(step, results)
            self._finish(chain_run_id, result, results)

        ordered = [results[step.key] for step in steps if step.key in results]
        exit_code = chain_exit_code(ordered)
        status = "failed" if any(r.status == "failed" for r in ordered) else (
            "partial" if exit_code else "succeeded"
        )
        self.ledger.finish_chain_run(chain_run_id, status=status, exit_code=exit_code)
        return ChainResult(chain_run_id, dry_run, ordered, time.monotonic() - started,
                           exit_code)

    def _finish(self, chain_run_id: UUID, result: StepResult,
                results: dict[str, StepResult]) -> None:
        results[result.step.key] = result
        self.ledger.record_chain_step(
            chain_run_id,
            step=result.step.key,
            step_name=result.step.name,
            status=result.status,
            records=result.records,
            rejected=result.rejected,
            api_requests=result.api_requests,
            rate_wait_s=result.rate_wait_s,
            started_at=result.started_at or time.time(),
            duration_s=round(result.seconds, 3),
            detail=result.detail,
            sync_run_ids=[run.run_id for run in result.runs if run.run_id is not None],
        )
        self.observer.step_finished(result)

    @staticmethod
    def _blocker(step: Step, selected: set[str], results: dict[str, StepResult]) -> str | None:
        """Why a step cannot run: a dependency that ran in this chain and failed, or
        was skipped because of a failure. Dependencies not selected are the user's call."""
        for key in step.depends_on:
            if key not in selected or key not in results:
                continue
            earlier = results[key]
            if earlier.status == "failed":
                return f"step {key} ({earlier.step.name}) failed"
            if earlier.status == "skipped" and earlier.blocked:
                return f"step {key} ({earlier.step.name}) was skipped"
        return None

    # -- extracts ---------------------------------------------------------------------

    def _extract(self, steps: list[Step]) -> list[StepResult]:
        """One `python -m extract` per system, both at once; each step reports its
        tables. A system's requests and rate-limit waits are its first step's."""
        by_source: dict[str, list[Step]] = {}
        for step in steps:
            assert step.source is not None
            by_source.setdefault(step.source, []).append(step)
        all_of = {
            source: [s for s in STEPS if s.source == source] for source in by_source
        }
        started_at = time.time()
        processes: list[tuple[str, subprocess.Popen[bytes], Path, Path, float]] = []
        with tempfile.TemporaryDirectory(prefix="propsync-chain-") as scratch:
            for source, chosen in by_source.items():
                command = [sys.executable, "-m", "extract", source]
                if len(chosen) != len(all_of[source]):
                    for step in chosen:
                        for resource in step.resources:
                            command += ["--resource", resource]
                report = Path(scratch) / f"{source}.json"
                command += ["--report-json", str(report)]
                log = self.log_dir / f"extract-{source}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                out = log.open("ab")
                out.write(f"$ {' '.join(command)}\n".encode())
                out.flush()
                process = subprocess.Popen(
                    command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                    env=os.environ.copy(),
                )
                out.close()
                processes.append((source, process, report, log, time.monotonic()))
            results: list[StepResult] = []
            for source, process, report, log, began in processes:
                code = process.wait()
                seconds = time.monotonic() - began
                results += self._extract_results(
                    by_source[source], code, report, log, seconds, started_at
                )
        order = {step.key: index for index, step in enumerate(STEPS)}
        return sorted(results, key=lambda result: order[result.step.key])

    @staticmethod
    def _extract_results(steps: list[Step], code: int, report: Path, log: Path,
                         seconds: float, started_at: float) -> list[StepResult]:
        try:
            entries = json.loads(report.read_text())
        except (OSError, ValueError):
            entries = []
        entry = entries[0] if entries else {}
        if code != 0 or "error" in entry or not entry:
            reason = entry.get("error") or last_line(log) or f"exit {code}"
            return [StepResult(step, "failed", seconds=seconds, detail=redact(reason),
                               exit_code=code or 3, started_at=started_at) for step in steps]
        rows: dict[str, int] = entry.get("rows", {})
        api = entry.get("api", {})
        results = []
        for index, step in enumerate(steps):
            first = index == 0
            results.append(StepResult(
                step, "ran",
                records=sum(int(rows.get(table, 0)) for table in step.tables),
                seconds=seconds,
                api_requests={name: int(usage["requests"]) for name, usage in api.items()}
                if first else {},
                rate_wait_s={name: float(usage["rate_wait_s"]) for name, usage in api.items()}
                if first else {},
                detail=None if first else f"read with step {steps[0].key} (one {step.source} run)",
                started_at=started_at,
            ))
        return results

    # -- dbt build --------------------------------------------------------------------

    def _build(self, step: Step) -> StepResult:
        began, started_at = time.monotonic(), time.time()
        log = self.log_dir / "dbt-build.log"
        # dbt's own choice of target folder (DBT_TARGET_PATH, else target/), so the
        # chain's build is the one `dbt docs` and partial parsing see.
        target = Path(os.environ.get("DBT_TARGET_PATH") or PROJECT_ROOT / "target")
        if not target.is_absolute():
            target = PROJECT_ROOT / target
        command = [_bin("dbt"), "build", "--project-dir", str(PROJECT_ROOT),
                   "--selector", DBT_SELECTOR]
        views_before = self._dbt_views()
        code = self.runner(command, log)
        statuses, failed = _run_results(target / "run_results.json")
        # dbt-postgres replaces a view by renaming the old one away and dropping it
        # with CASCADE, which takes the views of other slices built on the shared
        # ledger staging with it (monitoring.sync_monitoring_dashboard ...). Those
        # were not selected, so build them again, or `reverse-etl health` breaks.
        dropped = sorted(views_before - self._dbt_views())
        restored = ""
        if dropped:
            names = [name for _schema, name in dropped]
            again = self.runner([_bin("dbt"), "run", "--project-dir", str(PROJECT_ROOT),
                                 "--select", *names], log)
            restored = (f"; rebuilt {len(names)} view(s) of other slices the rebuild "
                        "dropped" + ("" if again == 0 else " (failed: see the log)"))
            code = code or again
        seconds = time.monotonic() - began
        ok = sum(count for status, count in statuses.items()
                 if status in ("success", "pass"))
        bad = {status: count for status, count in statuses.items()
               if status in ("error", "fail")}
        detail = f"{ok} nodes ok" + "".join(
            f", {n} {s}" for s, n in sorted(bad.items())) + restored
        if code != 0:
            named = f" ({', '.join(failed[:3])}{', ...' if len(failed) > 3 else ''})" if (
                failed) else ""
            return StepResult(step, "failed", records=ok, seconds=seconds,
                              detail=f"{detail}{named}; see {log}", exit_code=2,
                              started_at=started_at)
        return StepResult(step, "ran", records=ok, seconds=seconds, detail=detail,
                          started_at=started_at)

    def _dbt_views(self) -> set[tuple[str, str]]:
        """The views of the project's schemas (dbt's model names: no aliases here)."""
        rows = self.conn.execute(
            """
            select table_schema, table_name from information_schema.views
            where table_schema = any(%s)
            """,
            (list(DBT_SCHEMAS),),
        ).fetchall()
        return {(str(schema), str(name)) for schema, name in rows}

    # -- pushes -----------------------------------------------------------------------

    def _push(self, step: Step, *, dry_run: bool, skip_gate: bool,
              earlier: dict[str, StepResult]) -> StepResult:
        began, started_at = time.monotonic(), time.time()
        result = StepResult(step, "ran", started_at=started_at)
        notes: list[str] = []
        for name in step.syncs:
            sync = registry.by_name(name)
            try:
                target = build_destination(sync, self.settings, require_credentials=not dry_run)
            except Exception as error:  # DestinationConfigError: one clear line
                return self._failed(result, began, f"{name}: {error}", error)
            try:
                run = run_pass(self.settings, self.ledger, target, sync, dry_run=dry_run,
                               skip_gate=skip_gate, observer=self.pass_observer)
            except PassLocked as error:
                return self._failed(result, began, f"{name}: {error}", error)
            finally:
                usage_of = getattr(target, "api_usage", None)
                usage: dict[str, tuple[int, float]] = (
                    usage_of() if callable(usage_of) else {}
                )
                target.close()
            result.runs.append(run)
            result.records += run.counts.created + run.counts.updated + (
                run.counts.already_present
            ) + (run.counts.would_create + run.counts.would_update if dry_run else 0)
            result.rejected += run.counts.rejected
            for api, (sent, waited) in (usage or {sync.destination: (run.api_requests, 0.0)}
                                        ).items():
                result.api_requests[api] = result.api_requests.get(api, 0) + sent
                result.rate_wait_s[api] = round(result.rate_wait_s.get(api, 0.0) + waited, 3)
            notes.append(f"{sync.entity}: {run.status}, {_counts_text(run, dry_run)}")
            if run.exit_code not in (0, 1):
                result.status, result.exit_code = "failed", run.exit_code
                notes.append((run.error or run.status).splitlines()[0])
                break
            if run.counts.rejected:
                result.exit_code = 1
        extra = self._sent_nested(result) if step.key == "7" else None
        result.detail = "; ".join([*notes, *([extra] if extra else [])])
        result.seconds = time.monotonic() - began
        return result

    @staticmethod
    def _failed(result: StepResult, began: float, message: str, error: Exception) -> StepResult:
        result.status = "failed"
        result.exit_code = int(getattr(error, "exit_code", 3) or 3)
        result.detail = redact(message)
        result.seconds = time.monotonic() - began
        return result

    def _sent_nested(self, result: StepResult) -> str | None:
        """Locations and contacts that went inside step 7's new customers."""
        run_ids = [run.run_id for run in result.runs
                   if run.run_id is not None and run.sync_name.endswith("customers.create")
                   and not run.dry_run and "parent" not in run.sync_name]
        if not run_ids:
            return None
        row = self.conn.execute(
            """
            select
                coalesce(sum(jsonb_array_length(coalesce(payload -> 'locations', '[]'))), 0),
                coalesce(sum(jsonb_array_length(coalesce(payload -> 'contacts', '[]'))), 0)
            from reverse_etl.sync_records
            where run_id = any(%s) and outcome = 'created'
            """,
            (run_ids,),
        ).fetchone()
        locations, contacts = (int(row[0]), int(row[1])) if row else (0, 0)
        if not locations and not contacts:
            return None
        return f"{locations} locations and {contacts} contacts sent inside the new customers"

    # -- reports ----------------------------------------------------------------------

    def _report(self, step: Step, earlier: dict[str, StepResult]) -> StepResult:
        """Steps 8 and 9: ServiceFusion takes locations and contacts only inside a new
        customer's body (sent by step 7); for customers that existed already they are
        work for a person, listed by the drift report."""
        began, started_at = time.monotonic(), time.time()
        exists = self.conn.execute("select to_regclass(%s) is not null",
                                   (DRIFT_REPORT,)).fetchone()
        if not exists or not exists[0]:
            return StepResult(step, "failed", detail=f"{DRIFT_REPORT} is missing: run dbt build",
                              exit_code=2, started_at=started_at,
                              seconds=time.monotonic() - began)
        patterns = [f"%{kind}%" for kind in step.drift_kinds]
        row = self.conn.execute(
            f"select count(*) from {DRIFT_REPORT} where drift_type ilike any(%s)",
            (patterns,),
        ).fetchone()
        count = int(row[0]) if row else 0
        sent = earlier.get("7")
        kind = step.drift_kinds[0]
        detail = (
            f"{count} {kind} change(s) on existing customers need manual action in "
            f"ServiceFusion (its API cannot add them): see {DRIFT_REPORT}"
            if count else f"no {kind} drift on existing customers"
        )
        if sent is not None and sent.status == "ran":
            detail += f"; new customers' {kind}s went with step 7"
        return StepResult(step, "ran", records=count, detail=detail,
                          seconds=time.monotonic() - began, started_at=started_at)


def _counts_text(run: RunResult, dry_run: bool) -> str:
    counts = run.counts
    if dry_run:
        return f"{counts.would_create + counts.would_update} would be sent"
    parts = [f"{counts.created} created" if counts.created else "",
             f"{counts.updated} updated" if counts.updated else "",
             f"{counts.already_present} already present" if counts.already_present else "",
             f"{counts.rejected} rejected" if counts.rejected else "",
             f"{counts.skipped} set aside" if counts.skipped else ""]
    text = ", ".join(part for part in parts if part)
    return text or "nothing to send"


def _run_results(path: Path) -> tuple[dict[str, int], list[str]]:
    """Nodes per status in dbt's run_results.json, and the names of those that failed."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, []
    statuses: dict[str, int] = {}
    failed: list[str] = []
    for item in body.get("results", []):
        status = str(item.get("status"))
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            failed.append(str(item.get("unique_id", "?")).split(".")[-1])
    return statuses, failed


def chain_exit_code(results: Sequence[StepResult]) -> int:
    """The worst step: a failure's own code (2 configuration/build, 3 unreachable,
    4 blocked), else 1 when records were rejected, else 0."""
    failures = [r.exit_code or 3 for r in results if r.status == "failed"]
    if failures:
        return max(failures)
    return 1 if any(r.rejected for r in results) else 0


def slowest_api_bound(result: ChainResult, rates: dict[str, float]) -> tuple[str, float] | None:
    """The API whose requests take longest at its configured rate, and that time."""
    candidates = [(api, count / rates[api]) for api, count in result.requests_by_api().items()
                  if rates.get(api)]
    return max(candidates, key=lambda item: item[1]) if candidates else None


__all__ = [
    "BUILD",
    "STEPS",
    "STEP_KEYS",
    "ChainObserver",
    "ChainResult",
    "Step",
    "StepResult",
    "UnknownStep",
    "WorkOrderChain",
    "chain_exit_code",
    "select_steps",
    "slowest_api_bound",
]
