"""What every benchmark shares: a stack of its own and a measured child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.stack import free_port, read_env_file

ROOT = Path(__file__).resolve().parent.parent

# The child's own last stdout line, when it is a JSON object, comes back as
# `reported` (figures only the child can take, such as the time of one step).
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
child = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
seconds = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
lines = child.stdout.strip().splitlines()
try:
    reported = json.loads(lines[-1]) if lines else {}
except ValueError:
    reported = {}
print(json.dumps({"code": child.returncode, "seconds": seconds, "peak_mib": peak_kib / 1024,
                  "reported": reported if isinstance(reported, dict) else {}}))
"""


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall time and the peak RSS of one command, in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["code"] not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {figures['code']}")
    return figures


def stack_env(base: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(
        SANDBOX_DIR=str(base),
        SANDBOX_PG_PORT=str(free_port()),
        SANDBOX_SALESFORCE_PORT=str(free_port()),
        SANDBOX_PROPERTYWARE_PORT=str(free_port()),
        SANDBOX_SERVICEFUSION_PORT=str(free_port()),
        DLT_DATA_DIR=str(base / "dlt"),
        DBT_TARGET_PATH=str(base / "dbt-target"),
        DBT_LOG_PATH=str(base / "dbt-logs"),
        SAFE_MODE="off",
        SALESFORCE_MAX_RPS="1000",
    )
    subprocess.run([sys.executable, "-m", "sandbox", "up"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    env.update(read_env_file(base / "sandbox.env"))
    return env


def warehouse_dsn(env: dict[str, str], database: str | None = None) -> str:
    return (f"postgresql://{env['PGUSER']}:{env['PGPASSWORD']}@{env['PGHOST']}:{env['PGPORT']}/"
            f"{database or env['PGDATABASE']}")


def comparison(
    unit: str, count: int, subject: str, measured: dict[str, float],
    baseline: str, floor: dict[str, float],
) -> dict[str, float]:
    """Time, throughput and peak memory of a subject beside its same-run baseline."""
    return {
        f"{subject}_seconds": round(measured["seconds"], 2),
        f"{subject}_{unit}_per_s": round(count / measured["seconds"]),
        f"{subject}_peak_mib": round(measured["peak_mib"], 1),
        f"{baseline}_seconds": round(floor["seconds"], 2),
        f"{baseline}_{unit}_per_s": round(count / floor["seconds"]),
        f"{subject}_vs_{baseline}": round(measured["seconds"] / floor["seconds"], 1),
    }


