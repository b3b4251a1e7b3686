"""Legacy dispatch -> Supabase end to end, as a user runs it, on a stack of its own:
`python -m extract dispatch supabase`, `dbt build --selector dispatch`, `reverse-etl
push supabase --pass create`, then `--pass update` (which validates).

The source and the half-migrated target are generated (sandbox.generate.dispatch,
sandbox.generate.supabase: every quirk, random uuids of the initial migration, rows the
new app edited). What the target holds after each sync is compared with
tests/e2e/dispatch_oracle.py, an independent statement of the spec's rules, computed
from the data *before* the sync.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reverse_etl.validation import EXIT_INVALID
from sandbox.generate.dispatch import mutate_dispatch
from sandbox.generate.supabase import app_edit
from sandbox.stack import free_port, read_env_file
from tests.e2e.dispatch_oracle import (
    ENTITIES,
    LEGACY_KEY,
    Expected,
    Source,
    Target,
    differences,
    expected_target,
)

# Three syncs and a killed push on one stack: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROWS, SEED = 4000, 11


class Stack:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PG", "SALESFORCE_", "PROPERTYWARE_", "SERVICEFUSION_",
                                    "DISPATCH_", "SUPABASE_", "SAFE_MODE", "DRY_RUN"))
            and name not in ("RDS_DATABASE_URL", "REQUESTS_CA_BUNDLE")
        }
        self.env.update(
            SANDBOX_DIR=str(base),
            SANDBOX_PG_PORT=str(free_port()),
            SANDBOX_SALESFORCE_PORT=str(free_port()),
            SANDBOX_PROPERTYWARE_PORT=str(free_port()),
            SANDBOX_SERVICEFUSION_PORT=str(free_port()),
            DLT_DATA_DIR=str(base / "dlt"),
            DBT_TARGET_PATH=str(base / "dbt-target"),
            DBT_LOG_PATH=str(base / "dbt-logs"),
            COLUMNS="200",
        )

    def run(self, *command: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(command), cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        assert result.returncode in ok, (
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-5000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
        return result

    def up(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "up")
        self.env.update(read_env_file(self.base / "sandbox.env"))

    def down(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "down", ok=(0, 1, 2, 3))

    @property
    def source(self) -> str:
        return self.env["DISPATCH_DATABASE_URL"]

    @property
    def target(self) -> str:
        return self.env["SUPABASE_DATABASE_URL"]

    @property
    def warehouse(self) -> str:
        e = self.env
        return (f"postgresql://{e['PGUSER']}:{e['PGPASSWORD']}@{e['PGHOST']}:{e['PGPORT']}/"
                f"{e['PGDATABASE']}")

    def extract_and_build(self, *, tests: bool = False) -> None:
        """The extracts and the models; with `tests`, dbt's data and unit tests too (the
        first sync runs them; later ones change only data the same tests covered)."""
        self.run(sys.executable, "-m", "extract", "dispatch", "supabase")
        self.run(str(BIN / "dbt"), "seed", "--quiet")
        self.run(str(BIN / "dbt"), "build" if tests else "run", "--selector", "dispatch",
                 "--quiet")

    def push(self, pass_name: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "reverse-etl"), "push", "supabase", "--pass", pass_name)

    def sync(self, *, tests: bool = False) -> None:
        self.extract_and_build(tests=tests)
        self.push("create")
        self.push("update")

    def writes_since(self, started: float) -> dict[str, int]:
        """Rows the pusher created or updated in real runs begun after `started`."""
        with psycopg.connect(self.warehouse) as conn:
            rows = conn.execute(
                "select outcome, count(*) from reverse_etl.sync_records r "
                "join reverse_etl.sync_runs s using (run_id) "
                "where s.destination = 'supabase' and not s.dry_run "
                "and s.started_at >= to_timestamp(%s) group by outcome",
                (started,),
            ).fetchall()
        return {outcome: count for outcome, count in rows}


@pytest.fixture
def stack() -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="propsync-e2e-dispatch-"))
    stack = Stack(base)
    stack.up()
    try:
        stack.run(sys.executable, "-m", "sandbox", "seed", "dispatch", "--rows", str(ROWS),
                  "--seed", str(SEED), "--migrated-share", "0.6", "--app-edit-share", "0.05")
        yield stack
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


def check(expected: Expected, stack: Stack) -> None:
    found = differences(expected, Target.read(stack.target))
    assert found == [], "\n".join(found)


def test_sync_reaches_the_specified_state_reruns_write_nothing_and_a_killed_push_converges(
    stack: Stack,
) -> None:
    before = Target.read(stack.target)
    first = expected_target(Source.read(stack.source), before)
    # The data exercises what the spec is about, or the comparison proves little.
    assert sum(len(first.created[t]) for t in ENTITIES) > 1000
    assert sum(len(first.updated[t]) for t in ENTITIES) > 50
    assert first.conflicts["operations"] and first.held("operations")
    assert any(first.rejected[t] for t in ENTITIES)

    stack.sync(tests=True)

    check(first, stack)
    # Pre-migrated rows keep their random uuids.
    after = Target.read(stack.target)
    kept = [(t, legacy) for t in ENTITIES for legacy in before.tables[t]]
    assert all(after.tables[t][legacy]["id"] == before.tables[t][legacy]["id"]
               for t, legacy in kept)
    with psycopg.connect(stack.warehouse) as conn:
        rejected = conn.execute(
            "select entity, legacy_id from marts.dispatch_rejected_records"
        ).fetchall()
        held = conn.execute(
            "select entity, legacy_id from marts.sync_conflicts where strategy <> 'source_wins'"
        ).fetchall()
    assert {(e, int(i)) for e, i in rejected} == {
        (t, legacy) for t in ENTITIES for legacy in first.rejected[t]
    }
    assert {(e, int(i)) for e, i in held} == {
        (t, legacy) for t in ENTITIES for legacy in first.held(t)
    }

    # A second run with no source change writes nothing.
    started = time.time()
    stack.sync()
    assert stack.writes_since(started).keys() <= {"already_present"}, stack.writes_since(started)
    check(first, stack)

    # A day of legacy changes, and the new app edits rows the product pushed.
    mutate_dispatch(stack.source, share=0.05, seed=SEED + 1)
    app_edit(stack.target, share=0.05, seed=SEED + 2)
    second = expected_target(Source.read(stack.source), Target.read(stack.target),
                             previous=first)
    assert any(second.deleted[t] for t in ENTITIES)
    assert sum(len(second.created[t]) for t in ENTITIES) > 50

    # The create pass is killed (kill -9) while it writes, then the whole sync reruns.
    stack.extract_and_build()
    process = subprocess.Popen(
        [str(BIN / "reverse-etl"), "push", "supabase", "--pass", "create"],
        cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Once a table after the first is being written (its pass is recorded as
        # running), or at the latest after 60 s.
        deadline = time.monotonic() + 60
        with psycopg.connect(stack.warehouse, autocommit=True) as conn:
            while time.monotonic() < deadline and process.poll() is None:
                running = conn.execute(
                    "select count(*) from reverse_etl.sync_runs where destination = 'supabase' "
                    "and status = 'running' and object_name <> 'offices'"
                ).fetchone()
                if running and running[0]:
                    break
                time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    stack.sync()

    check(second, stack)
    with psycopg.connect(stack.target) as conn:
        for table in ENTITIES:
            duplicates = conn.execute(
                f"select count(*) - count(distinct {LEGACY_KEY[table]}) from {table}"
            ).fetchone()
            assert duplicates == (0,), table

    # A row written into the target behind the product's back (no legacy row has its
    # id): nothing of the sync removes it, so the validation fails, exits 5 and names
    # the office and type whose money no longer adds up.
    with psycopg.connect(stack.target) as conn:
        conn.execute(
            "insert into operations (id, legacy_operation_id, case_id, operation_type, amount,"
            " metadata, created_at, updated_at)"
            " select gen_random_uuid(), 99999999, case_id, operation_type, 7.00, '{}'::jsonb,"
            " now(), now() from operations order by legacy_operation_id limit 1"
        )
    stack.extract_and_build()
    stack.push("create")
    failed = stack.run(str(BIN / "reverse-etl"), "push", "supabase", "--pass", "update",
                       ok=(EXIT_INVALID,))
    output = failed.stdout + failed.stderr
    assert "validation failed" in output, output
    assert "operations: amount_sum (office " in output, output
    assert "operations: row_count" in output, output
