"""The embedded Postgres: one local cluster in a folder of its own.

Used by `make demo` and the tests when no `PGHOST` is configured. It prefers the
PostgreSQL server binaries found on PATH (run as the unprivileged `postgres` user
when we are root, because Postgres refuses to run as root) and falls back to the
`pgserver` wheel, which ships its own binaries, on machines without a server.

Every operation is idempotent: `start` on a running cluster and `stop` on a
stopped one do nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

DEFAULT_USER = "postgres"
# dlt's Postgres destination insists on a password even where the server trusts
# local connections, so the embedded cluster has a fixed, non-secret one.
DEFAULT_PASSWORD = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """The local cluster could not be created, started or reached."""


def _server_bin_dir() -> Path | None:
    """Folder with initdb/pg_ctl: PATH first, then the pgserver wheel."""
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and shutil.which("initdb"):
        return Path(os.path.realpath(pg_ctl)).parent
    try:
        import pgserver  # type: ignore[import-not-found]
    except ImportError:
        return None
    candidate = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return candidate if (candidate / "pg_ctl").exists() else None



def shared_buffers_mb() -> int:
    """A sixteenth of the machine's memory, between Postgres' default 128 MB and 1 GB.

    The default keeps a 2M-row warehouse's indexes out of the buffer cache: the
    dispatch create pass of 485k rows took 70 s with 128 MB and 50 s with 1 GB.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 128
    return max(128, min(1024, total // 16 // 2**20))

@dataclass
class EmbeddedPostgres:
    """A Postgres cluster living in `data_dir`, listening on 127.0.0.1:`port` only."""

    base_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    _bin: Path | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def dsn(self, database: str = "postgres") -> str:
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def env(self, database: str) -> dict[str, str]:
        """The libpq variables that point dlt, dbt and the pusher at this cluster."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }

    # -- lifecycle -----------------------------------------------------------

    def _binary(self, name: str) -> str:
        if self._bin is None:
            self._bin = _server_bin_dir()
            if self._bin is None:
                raise EmbeddedPostgresError(
                    "no PostgreSQL server found: install PostgreSQL (initdb, pg_ctl) "
                    "or `pip install pgserver`, or set PGHOST to an existing server"
                )
        return str(self._bin / name)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if os.geteuid() == 0 and self._uses_system_binaries():
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()}"
            )
        return result

    def _uses_system_binaries(self) -> bool:
        self._binary("pg_ctl")
        return "pgserver" not in str(self._bin)

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and self._uses_system_binaries():
            shutil.chown(self.base_dir, user="postgres", group="postgres")
            # The postgres user must be able to reach the folder through its parents.
            for parent in self.base_dir.resolve().parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        result = self._run(self._binary("pg_ctl"), "status", "-D", str(self.data_dir), check=False)
        return result.returncode == 0

    def start(self, timeout_s: float = 60.0) -> None:
        self._prepare_dirs()
        if not self.initialised():
            self._run(
                self._binary("initdb"),
                "-D", str(self.data_dir),
                "-U", self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )
        if not self.running():
            options = (
                f"-c listen_addresses={self.host} -p {self.port} "
                f"-c unix_socket_directories='{self.base_dir}' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                # The dbt tests and monitoring views are many-CTE aggregates whose
                # estimates run far past their rows: JIT compiled each for seconds
                # (dbt test of the dispatch slice at 500k rows: 80 s with, 42 s without).
                "-c jit=off "
                f"-c shared_buffers={shared_buffers_mb()}MB "
                "-c max_connections=200"
            )
            self._run(
                self._binary("pg_ctl"), "start", "-D", str(self.data_dir),
                "-l", str(self.log_file), "-o", options, "-w", "-t", str(int(timeout_s)),
            )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                last_error = error
                time.sleep(0.2)
        raise EmbeddedPostgresError(f"Postgres on port {self.port} not ready: {last_error}")

    def stop(self) -> None:
        if self.running():
            self._run(self._binary("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- databases -----------------------------------------------------------

    def ensure_database(self, name: str) -> str:
        """Create database `name` if it is missing; return its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            statement = sql.SQL("drop database if exists {} with (force)")
            conn.execute(statement.format(sql.Identifier(name)))
