"""The PropertyWare <-> ServiceFusion chain end to end, as a user (and the acceptance
check) runs it: `reverse-etl sync workorders` on a stack of its own.

The simulators are seeded with overlapping data (sandbox.generate.servicefusion:
exact, automatic, near and far duplicates; corrupted unit ids; mixed-case statuses).
What they hold after the chain is compared with tests/e2e/workorders_oracle.py, an
independent statement of the spec's rules, read from the data *before* the chain.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.demo_workorders import admins
from sandbox.propertyware_admin import COLLECTIONS, PropertyWareAdmin
from sandbox.servicefusion_admin import ServiceFusionAdmin
from sandbox.stack import free_port, read_env_file
from tests.e2e.workorders_oracle import Expected, expected_outcome, status_key

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUILDINGS, SEED = 14, 5
# Fast enough for a test, still a limit the simulators can check: at most this many
# requests in any second.
TEST_RPS = {"SERVICEFUSION_MAX_RPS": "8", "PROPERTYWARE_MAX_RPS": "8"}


class Stack:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.env = {
            **os.environ,
            "SANDBOX_DIR": str(base),
            "SANDBOX_PG_PORT": str(free_port()),
            "SANDBOX_SALESFORCE_PORT": str(free_port()),
            "SANDBOX_PROPERTYWARE_PORT": str(free_port()),
            "SANDBOX_SERVICEFUSION_PORT": str(free_port()),
            "DLT_DATA_DIR": str(base / "dlt"),
            "DBT_TARGET_PATH": str(base / "dbt-target"),
            "DBT_LOG_PATH": str(base / "dbt-logs"),
            **TEST_RPS,
        }
        owned = ("PG", "SALESFORCE_", "PROPERTYWARE_", "SERVICEFUSION_", "PW_", "SAFE_MODE",
                 "DRY_RUN", "ENABLE_SERVICE_FUSION")
        for name in list(self.env):
            if name.startswith(owned) and name not in TEST_RPS:
                self.env.pop(name, None)
            if name in ("RDS_DATABASE_URL", "REQUESTS_CA_BUNDLE"):
                self.env.pop(name, None)

    def run(self, *command: str, ok: tuple[int, ...] = (0,),
            extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(command), cwd=ROOT, env={**self.env, **(extra or {})}, capture_output=True,
            text=True, check=False,
        )
        assert result.returncode in ok, (
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
        return result

    def up(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "up")
        self.env.update(read_env_file(self.base / "sandbox.env"))
        self.pw, self.sf = admins(self.env)
        # The simulator's own limit (60 a minute per token) would make the test wait
        # minutes on 429s; the client-side rate is what is under test here.
        self.sf.configure(rate_limit=100_000)

    def down(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "down", ok=(0, 1, 2, 3))

    @property
    def warehouse_dsn(self) -> str:
        e = self.env
        return (f"postgresql://{e['PGUSER']}:{e['PGPASSWORD']}@{e['PGHOST']}:{e['PGPORT']}/"
                f"{e['PGDATABASE']}")

    def chain(self, *flags: str, extra: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "reverse-etl"), "sync", "workorders", *flags, ok=(0, 1),
                        extra=extra)


@pytest.fixture
def stack() -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="propsync-e2e-wo-"))
    stack = Stack(base)
    stack.up()
    try:
        stack.run(sys.executable, "-m", "sandbox", "seed", "workorders",
                  "--buildings", str(BUILDINGS), "--seed", str(SEED))
        yield stack
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


def _pw_state(pw: PropertyWareAdmin) -> dict[str, list[dict[str, Any]]]:
    return {collection: pw.objects(collection) for collection in COLLECTIONS}


def _sf_writes(sf: ServiceFusionAdmin, since: int) -> list[dict[str, Any]]:
    return [e for e in sf.requests(since_index=since) if e.get("method") == "POST"
            and not str(e.get("path", "")).startswith("/oauth")]


def _pw_writes(pw: PropertyWareAdmin, since: int) -> list[dict[str, Any]]:
    return [e for e in pw.requests(since_index=since) if e.get("operation") == "updateWorkOrder"]


def assert_as_specified(stack: Stack, expected: Expected, jobs_before: list[dict[str, Any]],
                        customers_before: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    customers = stack.sf.customers()
    jobs = stack.sf.jobs()
    before_ids = {int(job["id"]) for job in jobs_before}
    new_jobs = [job for job in jobs if int(job["id"]) not in before_ids]
    po_counts = Counter(str(job.get("po_number")) for job in jobs if job.get("po_number"))
    duplicates = {po: n for po, n in po_counts.items() if n > 1}
    if duplicates:
        problems.append(f"duplicate jobs by po_number: {duplicates}")
    created = {str(job.get("po_number")): job for job in new_jobs}
    missing = set(expected.new_jobs) - set(created)
    unexpected = set(created) - set(expected.new_jobs)
    if missing:
        problems.append(f"{len(missing)} work orders without their job: {sorted(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected jobs: "
            + ", ".join(f"{po} ({expected.no_job.get(po, '?')})" for po in sorted(unexpected))
        )
    for number, want in expected.new_jobs.items():
        job = created.get(number)
        if job is None:
            continue
        if job.get("street_1") != want["street_1"]:
            problems.append(f"job {number} at {job.get('street_1')!r}, spec {want['street_1']!r}")
        if job.get("status") != want["status"]:
            problems.append(f"job {number} status {job.get('status')!r}, spec {want['status']!r}")

    accounts = Counter(c.get("account_number") for c in customers if c.get("account_number"))
    twice = {a: n for a, n in accounts.items() if n > 1}
    if twice:
        problems.append(f"duplicate customers by account number: {twice}")
    new_accounts = {c.get("account_number") for c in customers} - {
        c.get("account_number") for c in customers_before}
    for building, decision in expected.buildings.items():
        created_it = f"PW-B-{building}" in new_accounts
        if decision == "create" and not created_it:
            problems.append(f"building {building}: its customer was not created")
        if decision in ("match", "review", "waits_on_parent") and created_it:
            problems.append(f"building {building} ({decision}) got a new customer")

    work_orders = {wo["ID"]: wo for wo in stack.pw.objects("workOrders")}
    for work_order_id, status in expected.written_back.items():
        now = work_orders[work_order_id].get("status")
        if status_key(now) != status_key(status):
            problems.append(f"work order {work_order_id}: PropertyWare {now!r}, job {status!r}")
    assert not problems, "\n".join(problems[:40])


def _review_queue(stack: Stack) -> set[str]:
    with psycopg.connect(stack.warehouse_dsn) as conn:
        rows = conn.execute("select * from marts.manual_review_queue").fetchall()
        columns = [c.name for c in conn.execute(
            "select * from marts.manual_review_queue limit 0").description or []]
    return {str(value) for row in rows for name, value in zip(columns, row, strict=True)
            if name.startswith("pw") or name.endswith("_id")}


def test_chain_reaches_the_specified_state_reruns_write_nothing_and_statuses_flow_back(
    stack: Stack,
) -> None:
    pw_before = _pw_state(stack.pw)
    customers_before, jobs_before = stack.sf.customers(), stack.sf.jobs()
    expected = expected_outcome(pw_before, customers_before, jobs_before)
    assert expected.new_jobs and expected.written_back and "review" in expected.buildings.values()

    pw_mark, sf_mark = stack.pw.request_count(), stack.sf.request_count()
    dry = stack.chain("--dry-run")
    assert "step    11" in dry.stdout or "11" in dry.stdout
    assert _sf_writes(stack.sf, sf_mark) == [], "a dry run created something in ServiceFusion"
    assert _pw_writes(stack.pw, pw_mark) == [], "a dry run updated PropertyWare"

    first = stack.chain()
    assert "failed" not in first.stdout.split("workorders chain")[0], first.stdout
    assert_as_specified(stack, expected, jobs_before, customers_before)

    # near duplicates are waiting for a person, not created
    queued = _review_queue(stack)
    for building, decision in expected.buildings.items():
        if decision == "review":
            assert str(building) in queued, f"building {building} is not in the review queue"

    # a second run with no change anywhere writes nothing
    pw_mark, sf_mark = stack.pw.request_count(), stack.sf.request_count()
    stack.chain()
    assert _sf_writes(stack.sf, sf_mark) == []
    assert _pw_writes(stack.pw, pw_mark) == []

    # the simulators never saw more requests in a second than configured
    for log, limit in ((stack.sf.requests(), 8), (stack.pw.requests(), 8)):
        moments = sorted(dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
                         for e in log)
        for i in range(len(moments) - limit):
            assert moments[i + limit] - moments[i] >= dt.timedelta(seconds=0.95), (
                f"{limit + 1} requests within a second at {moments[i]}"
            )

    # status changes between two syncs (one stack for both halves: a chain run is
    # the expensive part of these tests)
    status_changes_flow_back_and_are_kept_as_history(stack)


def status_changes_flow_back_and_are_kept_as_history(stack: Stack) -> None:
    jobs_before = {int(j["id"]): j for j in stack.sf.jobs()}
    with psycopg.connect(stack.warehouse_dsn) as conn:
        created = [int(r[0]) for r in conn.execute(
            """select r.record_id::bigint from reverse_etl.sync_records r
               join reverse_etl.sync_runs s using (run_id)
               where s.sync_name = 'servicefusion.jobs.create' and r.outcome = 'created'
               order by 1 limit 2""").fetchall()]
    assert len(created) == 2
    stack.sf.set_job_status(created[0], "On Site")
    stack.sf.set_job_status(created[1], "Completed")
    pw_mark = stack.pw.request_count()
    stack.chain()
    writes = _pw_writes(stack.pw, pw_mark)
    assert len(writes) == 2, writes
    by_number = {str(wo["number"]): wo for wo in stack.pw.objects("workOrders")}
    for job_id, status in zip(created, ("On Site", "Completed"), strict=True):
        number = str(jobs_before[job_id]["po_number"])
        assert by_number[number]["status"] == status
    # The next run reads the written statuses back: nothing to write, and the
    # snapshot keeps one row per observed state of each work order, the old and the new.
    pw_mark, sf_mark = stack.pw.request_count(), stack.sf.request_count()
    stack.chain()
    assert _pw_writes(stack.pw, pw_mark) == []
    assert _sf_writes(stack.sf, sf_mark) == []
    with psycopg.connect(stack.warehouse_dsn) as conn:
        rows = conn.execute(
            "select count(*) from snapshots.snap_work_orders"
            " where work_order_number::text = any(%s)",
            ([str(jobs_before[j]["po_number"]) for j in created],),
        ).fetchone()
    assert rows is not None and rows[0] == 4


def test_with_faults_on_the_end_state_is_the_same_and_nothing_is_duplicated(stack: Stack) -> None:
    pw_before = _pw_state(stack.pw)
    customers_before, jobs_before = stack.sf.customers(), stack.sf.jobs()
    expected = expected_outcome(pw_before, customers_before, jobs_before)
    stack.sf.set_faults(rate=0.2, kinds=("503_before", "503_after", "drop_before",
                                         "drop_after", "429"))
    stack.pw.set_faults(rate=0.2, kinds=("reset_on_reuse", "soap_fault"))
    fast_retries = {"HTTP_BACKOFF_INITIAL_S": "0.05", "HTTP_BACKOFF_MAX_S": "0.2",
                    "HTTP_MAX_ATTEMPTS": "10", "HTTP_BREAKER_FAIL_MAX": "50"}
    for _ in range(3):  # a step that gave up converges on the next run
        result = stack.run(str(BIN / "reverse-etl"), "sync", "workorders", ok=(0, 1, 3),
                           extra=fast_retries)
        if result.returncode in (0, 1):
            break
    stack.sf.clear_faults()
    stack.pw.clear_faults()
    stack.chain()
    assert_as_specified(stack, expected, jobs_before, customers_before)
