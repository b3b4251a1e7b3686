"""The embedded default: local Postgres plus the simulators, started and stopped as one.

`up` is idempotent: it starts what is not running, creates the databases that are
missing and (re)writes `sandbox.env`, the contract variables that point every
command at this stack. Real environment variables always take precedence over
that file (see common/settings.py), so the same commands run against real
services by changing only the environment.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.certs import ensure_certificates
from sandbox.postgres import EmbeddedPostgres

# The embedded defaults (docs/configuration.md). The product's settings state the
# same numbers: the sandbox shares no code with the clients it stands in for.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_PG_PORT = 54329
EMBEDDED_SALESFORCE_PORT = 8443
EMBEDDED_WAREHOUSE_DB = "warehouse"
RDS_DB = "rds"
SALESFORCE_STATE_DB = "sandbox_salesforce"


class SandboxError(RuntimeError):
    """A part of the local stack could not be started."""


def sandbox_dir() -> Path:
    """Where the stack keeps its state: SANDBOX_DIR, else `.local/` in the project."""
    return Path(os.environ.get("SANDBOX_DIR", PROJECT_ROOT / ".local"))


def free_port() -> int:
    """A port nobody listens on right now, for stacks that must not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_env_file(path: Path) -> dict[str, str]:
    """The variables `up` wrote (KEY=value lines), for commands started beside it."""
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def stack_env() -> dict[str, str]:
    """The stack's variables as a command sees them: the environment over `sandbox.env`."""
    path = sandbox_dir() / "sandbox.env"
    values = read_env_file(path) if path.exists() else {}
    # The stack's own CA stays: a machine-wide REQUESTS_CA_BUNDLE does not sign it.
    overridden = {key for key in os.environ if key != "REQUESTS_CA_BUNDLE"}
    values.update({key: os.environ[key] for key in overridden & {*values, "RDS_DATABASE_URL"}})
    return values


def warehouse_dsn(env: dict[str, str]) -> str:
    """The libpq URL of the PG* variables in `env` (the embedded defaults otherwise)."""
    return (
        f"postgresql://{env.get('PGUSER', 'postgres')}:{env.get('PGPASSWORD', 'postgres')}"
        f"@{env.get('PGHOST', '127.0.0.1')}:{env.get('PGPORT', EMBEDDED_PG_PORT)}"
        f"/{env.get('PGDATABASE', EMBEDDED_WAREHOUSE_DB)}"
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class SandboxStack:
    base_dir: Path
    pg_port: int = EMBEDDED_PG_PORT
    salesforce_port: int = EMBEDDED_SALESFORCE_PORT
    host: str = "127.0.0.1"

    @classmethod
    def default(cls) -> SandboxStack:
        return cls(
            base_dir=sandbox_dir(),
            pg_port=int(os.environ.get("SANDBOX_PG_PORT", EMBEDDED_PG_PORT)),
            salesforce_port=int(
                os.environ.get("SANDBOX_SALESFORCE_PORT", EMBEDDED_SALESFORCE_PORT)
            ),
        )

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.base_dir / "postgres", self.pg_port, host=self.host)

    @property
    def env_file(self) -> Path:
        return self.base_dir / "sandbox.env"

    @property
    def certs_dir(self) -> Path:
        return self.base_dir / "certs"

    @property
    def salesforce_url(self) -> str:
        return f"https://{self.host}:{self.salesforce_port}"

    def _pid_file(self, name: str) -> Path:
        return self.base_dir / f"{name}.pid"

    def _salesforce_credentials(self) -> tuple[str, str]:
        """Stable per stack, generated once: the simulator accepts only these."""
        path = self.base_dir / "salesforce.credentials"
        if not path.exists():
            path.write_text(f"sandbox-client-{secrets.token_hex(4)}\n{secrets.token_urlsafe(24)}\n")
            path.chmod(0o600)
        client_id, client_secret = path.read_text().split()
        return client_id, client_secret

    # -- lifecycle -----------------------------------------------------------

    def up(self) -> dict[str, str]:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        cluster = self.postgres
        cluster.start()
        for database in (EMBEDDED_WAREHOUSE_DB, RDS_DB, SALESFORCE_STATE_DB):
            cluster.ensure_database(database)
        certs = ensure_certificates(self.certs_dir)
        self._start_salesforce(cluster.dsn(SALESFORCE_STATE_DB))
        env = {
            **cluster.env(EMBEDDED_WAREHOUSE_DB),
            "RDS_DATABASE_URL": cluster.dsn(RDS_DB),
            "SALESFORCE_INSTANCE_URL": self.salesforce_url,
            "REQUESTS_CA_BUNDLE": str(certs.ca),
        }
        client_id, client_secret = self._salesforce_credentials()
        env["SALESFORCE_CLIENT_ID"] = client_id
        env["SALESFORCE_CLIENT_SECRET"] = client_secret
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        self.env_file.chmod(0o600)
        return env

    def _start_salesforce(self, state_dsn: str) -> None:
        if self._process_alive("salesforce") and _port_open(self.host, self.salesforce_port):
            return
        if _port_open(self.host, self.salesforce_port):
            raise SandboxError(
                f"port {self.salesforce_port} is taken by another program; "
                "set SANDBOX_SALESFORCE_PORT to a free port"
            )
        client_id, client_secret = self._salesforce_credentials()
        log = (self.base_dir / "salesforce.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable, "-m", "sandbox.salesforce",
                "--host", self.host,
                "--port", str(self.salesforce_port),
                "--dsn", state_dsn,
                "--certs-dir", str(self.certs_dir),
                "--client-id", client_id,
                "--client-secret", client_secret,
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives the command that started it
        )
        self._pid_file("salesforce").write_text(str(process.pid))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SandboxError(
                    f"the Salesforce simulator exited; see {self.base_dir / 'salesforce.log'}"
                )
            if _port_open(self.host, self.salesforce_port):
                return
            time.sleep(0.2)
        raise SandboxError("the Salesforce simulator did not start within 30 s")

    def _process_alive(self, name: str) -> bool:
        pid_file = self._pid_file(name)
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (ProcessLookupError, ValueError):
            return False
        return True

    def down(self) -> None:
        pid_file = self._pid_file("salesforce")
        if self._process_alive("salesforce"):
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._process_alive("salesforce"):
                time.sleep(0.1)
            if self._process_alive("salesforce"):
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        if self.postgres.initialised():
            self.postgres.stop()

    def status(self) -> dict[str, bool]:
        return {
            "postgres": self.postgres.running(),
            "salesforce": self._process_alive("salesforce")
            and _port_open(self.host, self.salesforce_port),
        }
