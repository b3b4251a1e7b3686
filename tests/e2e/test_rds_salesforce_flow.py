"""The RDS -> Salesforce slice end to end, the way a user (and the acceptance check) runs it.

Each test brings up a stack of its own (Postgres + Salesforce simulator in a temp
folder on free ports), seeds the generated RDS source and today's Salesforce
state, then runs the real commands as subprocesses:

    python -m extract rds salesforce -> dbt build -> reverse-etl push salesforce --pass create
    -> python -m extract salesforce -> dbt build -> reverse-etl push salesforce --pass update

and compares what Salesforce holds with tests/e2e/oracle.py, an independent
Python statement of the spec's rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.generate.rds import mutate_rds
from sandbox.salesforce_admin import SalesforceAdmin
from sandbox.stack import free_port, read_env_file
from tests.e2e.oracle import expected_salesforce

# Each cycle runs the slice's `dbt build` up to five times a test: minutes, past the
# default 300 s on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROPERTIES = 300
CHECKED_FIELDS = (
    "Name", "Company_Name__c", "Street__c", "City__c", "State__c", "Postal_Code__c",
    "Fraud_Detection_Enabled__c", "Fraud_Detection_Enabled_Date__c",
    "Income_Verification_Enabled__c", "Income_Verification_Enabled_Date__c",
    "IDV_Enabled__c", "IDV_Enabled_Date__c", "Rent_Verification_Enabled__c",
    "Rent_Verification_Enabled_Date__c", "Active_Property_Count__c",
    "Contributing_Property_IDs__c",
)


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
        }
        # The stack's own file must decide where everything is, not the caller's shell.
        owned = ("PG", "SALESFORCE_", "PROPERTYWARE_", "SERVICEFUSION_")
        for name in list(self.env):
            if name.startswith(owned) or name in ("RDS_DATABASE_URL", "REQUESTS_CA_BUNDLE"):
                self.env.pop(name, None)

    def run(self, *command: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(command), cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        assert result.returncode in ok, (
            f"{' '.join(command)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
        return result

    def up(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "up")
        self.env.update(read_env_file(self.base / "sandbox.env"))

    def down(self) -> None:
        self.run(sys.executable, "-m", "sandbox", "down", ok=(0, 1, 2, 3))

    @property
    def admin(self) -> SalesforceAdmin:
        return SalesforceAdmin(self.env["SALESFORCE_INSTANCE_URL"], self.env["REQUESTS_CA_BUNDLE"])

    @property
    def rds_dsn(self) -> str:
        return self.env["RDS_DATABASE_URL"]

    @property
    def warehouse_dsn(self) -> str:
        e = self.env
        return (f"postgresql://{e['PGUSER']}:{e['PGPASSWORD']}@{e['PGHOST']}:{e['PGPORT']}/"
                f"{e['PGDATABASE']}")

    # the commands of the acceptance flow
    def extract(self, *sources: str) -> None:
        self.run(sys.executable, "-m", "extract", *sources)

    def dbt_build(self) -> None:
        # What a scheduled sync of this slice builds: its two sync views with all they
        # are built from, and the tests of those models (`make test` has built and
        # tested the whole project once already).
        self.run(str(BIN / "dbt"), "build", "--quiet", "--indirect-selection", "buildable",
                 "--select", "+exposure:salesforce_product_property_create_pass",
                 "+exposure:salesforce_product_property_update_pass")

    def push(self, pass_name: str, *flags: str) -> subprocess.CompletedProcess[str]:
        # 1 = finished with rejected records: the generated data holds a few on purpose.
        return self.run(str(BIN / "reverse-etl"), "push", "salesforce", "--pass", pass_name,
                        *flags, ok=(0, 1))

    def full_cycle(self) -> None:
        self.extract("rds", "salesforce")
        self.dbt_build()
        self.push("create")
        self.extract("salesforce")
        self.dbt_build()
        self.push("update")


@pytest.fixture
def stack() -> Iterator[Stack]:
    if not (ROOT / "profiles.yml").exists():
        shutil.copy(ROOT / "profiles.yml.example", ROOT / "profiles.yml")
    base = Path(tempfile.mkdtemp(prefix="propsync-e2e-"))
    stack = Stack(base)
    stack.up()
    try:
        stack.run(sys.executable, "-m", "sandbox.demo", "seed", "--properties", str(PROPERTIES))
        yield stack
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)


def _write_requests(admin: SalesforceAdmin, since: int = 0) -> list[dict[str, Any]]:
    return [
        entry for entry in admin.requests(since_index=since)
        if entry["method"] in ("POST", "PATCH") and "/composite/sobjects" in entry["path"]
    ]


def assert_salesforce_as_specified(stack: Stack, initial: list[dict[str, Any]]) -> None:
    by_id, new_by_snappt = expected_salesforce(stack.rds_dsn, initial)
    records = stack.admin.records()

    snappt_counts = Counter((r.get("Snappt_Property_ID__c") or "").lower() for r in records)
    duplicates = {key: n for key, n in snappt_counts.items() if key and n > 1}
    assert not duplicates, f"duplicate staging records: {duplicates}"

    initial_by_id = {r["Id"]: r for r in initial}
    problems: list[str] = []
    created = [r for r in records if r["Id"] not in initial_by_id]
    created_keys = {(r["Snappt_Property_ID__c"] or "").lower() for r in created}
    missing = set(new_by_snappt) - created_keys
    unexpected = created_keys - set(new_by_snappt)
    if missing:
        problems.append(f"{len(missing)} groups not created, e.g. {sorted(missing)[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected creates, e.g. {sorted(unexpected)[:3]}")

    for record in records:
        if record["Id"] in initial_by_id:
            # An orphan or a record Salesforce refused to update keeps its values.
            expected = by_id[record["Id"]] or initial_by_id[record["Id"]]
        else:
            expected = new_by_snappt.get((record["Snappt_Property_ID__c"] or "").lower(), {})
        for field in CHECKED_FIELDS:
            if field in expected and _norm(record.get(field)) != _norm(expected[field]):
                problems.append(
                    f"{record['Id']} {field}: Salesforce {record.get(field)!r}, "
                    f"spec {expected[field]!r}"
                )
    assert not problems, "\n".join(problems[:40])


def _norm(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def test_flow_reaches_the_specified_state_and_reruns_send_nothing(stack: Stack) -> None:
    initial = stack.admin.records()
    assert initial, "the seed must load today's Salesforce state"

    mark = stack.admin.request_count()
    stack.extract("rds", "salesforce")
    stack.dbt_build()
    stack.push("create", "--dry-run")
    stack.push("update", "--dry-run")
    assert _write_requests(stack.admin, mark) == [], "a dry run sent a write request"

    stack.push("create")
    stack.extract("salesforce")
    stack.dbt_build()
    stack.push("update")
    assert_salesforce_as_specified(stack, initial)

    creates = _write_requests(stack.admin, mark)
    records_written = sum(entry["records"] for entry in creates)
    # Collections of 200: N records cost about N/200 write requests (+1 per partial batch
    # per pass), never one request per record.
    assert len(creates) <= records_written // 200 + 2

    mark = stack.admin.request_count()
    stack.full_cycle()
    assert _write_requests(stack.admin, mark) == [], "a rerun with no change sent writes"


def test_flow_with_twenty_percent_faults_converges_without_duplicates(stack: Stack) -> None:
    initial = stack.admin.records()
    mark = stack.admin.request_count()
    # The acceptance scenario: a fifth of all requests (token, query, writes) fail.
    stack.admin.set_faults(
        rate=0.2, kinds=("503_before", "503_after", "drop_before", "drop_after"), seed=11
    )
    stack.full_cycle()
    stack.admin.clear_faults()
    assert_salesforce_as_specified(stack, initial)
    assert any(entry.get("fault") for entry in stack.admin.requests(since_index=mark))

    # RDS changes (new properties, features switched, a property moved into a group),
    # and this time the first two writes are certain to be lost after Salesforce
    # applied them: the case that duplicates records in naive clients.
    mutate_rds(stack.rds_dsn, seed=7)
    before_changes = stack.admin.records()
    mark = stack.admin.request_count()
    stack.admin.set_faults(
        rate=0.2, kinds=("503_before", "503_after", "drop_before", "drop_after"), seed=5,
        next=["drop_after", "503_after"], paths=["/composite/sobjects"],
    )
    stack.full_cycle()
    stack.admin.clear_faults()
    assert_salesforce_as_specified(stack, before_changes)
    lost_after_processing = [
        entry for entry in stack.admin.requests(since_index=mark)
        if entry.get("fault") in ("drop_after", "503_after")
    ]
    assert len(lost_after_processing) >= 2
    # At least one of them had really written records when its answer was lost.
    assert any(entry["applied"] for entry in lost_after_processing)
