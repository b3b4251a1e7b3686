"""The product's own commands run as child processes (an extract, a read-back), with
their output in a log file: the chain and the post-push validation share this."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# A runner: (command, log file) -> exit code. Tests may replace it.
Runner = Callable[[list[str], Path], int]


def run_logged(command: list[str], log: Path) -> int:
    """Run a command with its output in `log`; the caller reports on it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        return subprocess.run(
            command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, check=False,
            env=os.environ.copy(),
        ).returncode


def last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line and not line.startswith("$ ")]
    return lines[-1] if lines else ""
