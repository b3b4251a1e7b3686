"""Configuration from the environment (contracts.md section 2), validated once.

Precedence, highest first: real environment variables, then `.env`-style
`.local/sandbox.env` written by `python -m sandbox up` (so that a fresh clone talks
to the embedded Postgres and the simulators with no setup), then the defaults
below. Secrets are `SecretStr`: they never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import certifi
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sandbox_dir() -> Path:
    """Where the embedded Postgres and the simulators keep their state."""
    return Path(os.environ.get("SANDBOX_DIR", PROJECT_ROOT / ".local"))


def sandbox_env_file() -> Path:
    return sandbox_dir() / "sandbox.env"


EMBEDDED_PG_PORT = 54329
EMBEDDED_SALESFORCE_PORT = 8443
EMBEDDED_WAREHOUSE_DB = "warehouse"


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean flag: {value!r} (use on/off, true/false, 1/0)")


class Settings(BaseSettings):
    """Every variable of contracts.md section 2 that this code reads."""

    model_config = SettingsConfigDict(
        env_file=None,  # set per instance in load_settings()
        extra="ignore",
        case_sensitive=False,
    )

    # Warehouse: the standard libpq names; defaults are the embedded cluster.
    pghost: str = "127.0.0.1"
    pgport: int = EMBEDDED_PG_PORT
    pguser: str = "postgres"
    pgpassword: SecretStr = SecretStr("postgres")
    pgdatabase: str = EMBEDDED_WAREHOUSE_DB

    rds_database_url: SecretStr | None = None

    salesforce_instance_url: str | None = None
    salesforce_client_id: SecretStr | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_api_version: str = "62.0"
    salesforce_max_rps: float = Field(default=5.0, gt=0)

    requests_ca_bundle: str | None = None

    dry_run: bool = False
    safe_mode: bool = True
    # SAFE_MODE caps: a pass that would write more rows than this refuses to start.
    # Sized from production (~9,000 active properties, 1,081 missing, 7,980 to update)
    # with room for a first full load; a runaway join yields far more.
    safe_mode_max_creates: int = Field(default=25000, ge=0)
    safe_mode_max_updates: int = Field(default=50000, ge=0)

    # Where the data-quality gate keeps its Great Expectations project (`<root>/gx`:
    # stores, validation results, Data Docs); None means the sandbox folder `.local/`,
    # which is gitignored, so nothing machine-specific is ever committed.
    quality_gx_root: Path | None = None

    http_timeout_s: float = Field(default=90.0, gt=0)
    http_max_attempts: int = Field(default=6, ge=1)
    # A dead host should fail fast even though a slow answer may take up to 90 s.
    http_connect_timeout_s: float = Field(default=10.0, gt=0)
    # Exponential backoff between attempts: 0.5 s, 1 s, 2 s ... capped, plus jitter.
    http_backoff_initial_s: float = Field(default=0.5, ge=0)
    http_backoff_max_s: float = Field(default=30.0, ge=0)
    # A server's Retry-After is honoured up to this long; beyond it we would rather
    # give up (exit 3) and let the next scheduled run try again.
    http_retry_after_max_s: float = Field(default=120.0, ge=0)
    # Consecutive failed attempts (5xx, connection errors; not 429) that open the
    # circuit, and how long it stays open before one trial call.
    http_breaker_fail_max: int = Field(default=5, ge=1)
    http_breaker_reset_s: float = Field(default=60.0, gt=0)

    @field_validator("dry_run", "safe_mode", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return _flag(value)

    @field_validator("salesforce_instance_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _trust_sandbox_ca_as_extra(self) -> Settings:
        """REQUESTS_CA_BUNDLE is an *extra* CA (contracts.md): add, never replace.

        A machine may export REQUESTS_CA_BUNDLE for its own reasons (the system
        bundle), which then outranks the sandbox file. Trusting only one of the two
        would break either the simulators or the real services, so when the sandbox
        file names a CA, clients get one bundle: the public CAs, the exported bundle
        and the sandbox CA together.
        """
        sandbox_ca = _file_value(sandbox_env_file(), "REQUESTS_CA_BUNDLE")
        if not sandbox_ca or not Path(sandbox_ca).is_file():
            return self
        configured = self.requests_ca_bundle
        if configured not in (os.environ.get("REQUESTS_CA_BUNDLE"), sandbox_ca):
            return self  # passed explicitly by the caller: taken as it is
        sources = [certifi.where(), configured, sandbox_ca]
        self.requests_ca_bundle = str(_merged_bundle([s for s in sources if s]))
        return self

    def warehouse_dsn(self) -> str:
        """A libpq URL for psycopg; contains the password, never log it."""
        password = self.pgpassword.get_secret_value()
        return (
            f"postgresql://{self.pguser}:{password}@{self.pghost}:{self.pgport}/{self.pgdatabase}"
        )

    def warehouse_label(self) -> str:
        """Where the warehouse is, safe to print."""
        return f"{self.pguser}@{self.pghost}:{self.pgport}/{self.pgdatabase}"

    def uses_embedded_warehouse(self) -> bool:
        """No PGHOST in the real environment: the default or the sandbox file's own."""
        return "PGHOST" not in os.environ


def _file_value(path: Path, name: str) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def _merged_bundle(paths: list[str]) -> Path:
    """One PEM file holding every CA of `paths`, rewritten only when they change."""
    texts: list[str] = []
    for path in dict.fromkeys(paths):  # keep order, drop repeats
        if Path(path).is_file():
            texts.append(Path(path).read_text())
    content = "\n".join(texts)
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    target = sandbox_dir() / "certs" / f"trusted-{digest}.pem"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(content)
        temporary.replace(target)
    return target


class ConfigurationError(RuntimeError):
    """A variable is missing or invalid; the message names it and never a secret."""


def load_settings() -> Settings:
    """Read and validate the configuration; raise ConfigurationError on bad values."""
    from pydantic import ValidationError

    env_file = sandbox_env_file()
    try:
        return Settings(_env_file=env_file if env_file.exists() else None)  # type: ignore[call-arg]
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc']).upper()}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
