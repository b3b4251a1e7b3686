"""`<API>_MAX_RPS` holds across processes: two real processes, one simulator, its log.

Each process is a client as the pusher and the extract build theirs
(`common.http.policy_session(settings, "salesforce")`): a token request, then GETs.
Both start sending at the same moment; the Salesforce simulator stamps every request
it serves (milliseconds), and the merged stamps are what is checked: at
SALESFORCE_MAX_RPS=4 (a burst of four within each second, docs/configuration.md) no
window of one second holds more than four requests of the two processes together.

The second test is the same run with the allowance kept per process
(HTTP_RATE_LIMIT_SHARED=off): the two processes together then send twice the rate,
which the same check sees. That is what the shared allowance exists to prevent, and
it shows the check can fail.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from common.rate_limit import shared_limiter
from common.settings import Settings
from tests.conftest import PostgresServer
from tests.integration.conftest import SalesforceSim

ROOT = Path(__file__).resolve().parents[2]
MAX_RPS = 4
WINDOW_MS = 1000
# The stamps are taken when the simulator serves a request, after the client's
# limiter granted it: a TLS handshake and the simulator serving one request at a time
# put 10 to 110 ms between the two here (a burst of four is stamped over ~100 ms). A
# window this much shorter absorbs that, and still sees twice the rate: unshared, the
# two processes' bursts land within ~100 ms of each other.
JITTER_MS = 200
REQUESTS_EACH = 10

# One client process: ready once its session (and the shared limiter) exists, then
# waits for the go file so that both processes start sending together.
CLIENT = """
import json, os, sys, time
from pathlib import Path
from common.http import policy_session
from common.settings import load_settings

ready, go, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = load_settings()
session = policy_session(settings, "salesforce")
ready.touch()
while not go.exists():
    time.sleep(0.01)
url = settings.salesforce.instance_url
token = session.post(f"{url}/services/oauth2/token", data={
    "grant_type": "client_credentials",
    "client_id": settings.salesforce.client_id.get_secret_value(),
    "client_secret": settings.salesforce.client_secret.get_secret_value(),
}).json()["access_token"]
for _ in range(count):
    answer = session.get(f"{url}/services/data/v62.0/limits",
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
print(json.dumps({"shared": session.limiter.shared, "sent": session.requests_sent}))
"""


@pytest.fixture
def warehouse(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("ratelimit")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def run_two_clients(
    sim: SalesforceSim, server: PostgresServer, warehouse: str, tmp_path: Path,
    *, shared: bool,
) -> list[dict[str, object]]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PG", "SALESFORCE_", "HTTP_", "REQUESTS_CA_BUNDLE"))
    }
    env.update(sim.settings_env())
    env.update(server.env(warehouse))
    env.update(
        SANDBOX_DIR=str(tmp_path / "no-sandbox"),
        SALESFORCE_MAX_RPS=str(MAX_RPS),
        HTTP_RATE_LIMIT_SHARED="on" if shared else "off",
    )
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(flag), str(go), str(REQUESTS_EACH)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready):
            assert all(child.poll() is None for child in children), [
                child.communicate() for child in children
            ]
            assert time.monotonic() < deadline, "the clients never got ready"
            time.sleep(0.02)
        sim.admin.clear_requests()
        go.touch()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    reports = []
    for child, (stdout, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    return reports


def served_at_ms(sim: SalesforceSim) -> list[int]:
    stamps = []
    for entry in sim.admin.requests():
        moment = dt.datetime.strptime(str(entry["at"]), "%Y-%m-%dT%H:%M:%S.%f%z")
        stamps.append(round(moment.timestamp() * 1000))
    return sorted(stamps)


def busiest_window(stamps: list[int], window_ms: int) -> int:
    """The most requests served within any `window_ms` (a window starts at a request)."""
    return max(sum(1 for t in stamps if start <= t < start + window_ms) for start in stamps)


def test_two_processes_together_stay_under_the_api_rate(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    reports = run_two_clients(salesforce_sim, postgres_server, warehouse, tmp_path, shared=True)
    assert [report["shared"] for report in reports] == [True, True]
    stamps = served_at_ms(salesforce_sim)
    total = 2 * (REQUESTS_EACH + 1)  # a token request each, then the GETs
    assert len(stamps) == total
    assert busiest_window(stamps, WINDOW_MS - JITTER_MS) <= MAX_RPS
    # 22 requests at four a second: the first four at once, then five more seconds.
    assert stamps[-1] - stamps[0] >= (total // MAX_RPS) * WINDOW_MS - JITTER_MS
    # The allowance is the warehouse's: one table for the API, in its own schema.
    with psycopg.connect(postgres_server.dsn(warehouse)) as conn:
        tables = conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'rate_limits'"
        ).fetchall()
    assert tables == [("ratelimit___salesforce",)]


def test_without_the_shared_allowance_two_processes_double_the_rate(
    salesforce_sim: SalesforceSim, postgres_server: PostgresServer, warehouse: str,
    tmp_path: Path,
) -> None:
    reports = run_two_clients(salesforce_sim, postgres_server, warehouse, tmp_path, shared=False)
    assert [report["shared"] for report in reports] == [False, False]
    stamps = served_at_ms(salesforce_sim)
    # Each process alone keeps four a second; together they send eight.
    assert busiest_window(stamps, WINDOW_MS - JITTER_MS) > MAX_RPS


def test_a_warehouse_lost_mid_run_leaves_the_limit_in_the_process(
    postgres_server: PostgresServer, warehouse: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    settings = Settings.from_env(postgres_server.env(warehouse))
    limiter = shared_limiter("lostwarehouse", 50.0, settings)
    assert limiter.shared
    with caplog.at_level(logging.WARNING, logger="common.http"):
        limiter.acquire()
        # A restart drops the limiter's connections: it takes new ones, still shared.
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            dropped = conn.execute(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
                " where application_name = 'propsync rate limit (lostwarehouse)') as t"
            ).fetchone()
        assert dropped is not None and dropped[0] >= 1
        limiter.acquire()
        assert caplog.records == []
        # The warehouse gone for good: one warning, then the limit holds in the process.
        postgres_server.drop_database(warehouse)
        for _ in range(3):
            limiter.acquire()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith(
        "lostwarehouse: rate limit held in this process only from now on: the warehouse failed"
    )
