"""Configuration from the environment (docs/configuration.md), validated once.

The variables keep their public names (`PGHOST`, `SALESFORCE_CLIENT_ID`, ...);
in code they are grouped per system: `settings.warehouse.host`,
`settings.salesforce.client_id`, `settings.http.timeout_s`. Each group is a
pydantic-settings class with its own prefix, so a new system is one more group.

Precedence, highest first: real environment variables, then `.local/sandbox.env`
written by `python -m sandbox up` (so that a fresh clone talks to the embedded
Postgres and the simulators with no setup), then the defaults below. Secrets are
`SecretStr`: they never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import certifi
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The embedded stack's defaults (`python -m sandbox up` uses the same numbers; the
# two packages share no code, so the values are stated in both and documented).
EMBEDDED_PG_PORT = 54329
EMBEDDED_WAREHOUSE_DB = "warehouse"
EMBEDDED_PASSWORD = "postgres"  # the embedded cluster's documented password, not a secret


def sandbox_dir() -> Path:
    """Where the embedded Postgres and the simulators keep their state."""
    return Path(os.environ.get("SANDBOX_DIR", PROJECT_ROOT / ".local"))


def sandbox_env_file() -> Path:
    return sandbox_dir() / "sandbox.env"


class ConfigurationError(RuntimeError):
    """A variable is missing or invalid; the message names it and never a secret."""

    exit_code = 2


def parse_flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean flag: {value!r} (use on/off, true/false, 1/0)")


class _Group(BaseSettings):
    """One system's variables: `env_prefix` + the field name, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of a field, as users write it."""
        info = cls.model_fields[field]
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[0]).upper()
        if isinstance(alias, str):
            return alias.upper()
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def variables(cls) -> dict[str, str]:
        return {cls.variable(name): name for name in cls.model_fields}

    # The fields a real call to this system needs (none: the group has defaults).
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def missing(self) -> list[str]:
        """The variables a real call needs that are not set."""
        return [self.variable(name) for name in self.REQUIRED if not _is_set(getattr(self, name))]

    def unconfigured(self) -> bool:
        """Not one of the required variables is set: the user does not use this system
        (as opposed to a half-done configuration, which is an error)."""
        return bool(self.REQUIRED) and len(self.missing()) == len(self.REQUIRED)


class WarehouseSettings(_Group):
    """The warehouse: the standard libpq names; defaults are the embedded cluster."""

    model_config = SettingsConfigDict(env_prefix="PG")

    host: str = "127.0.0.1"
    port: int = EMBEDDED_PG_PORT
    user: str = "postgres"
    password: SecretStr = SecretStr(EMBEDDED_PASSWORD)
    database: str = EMBEDDED_WAREHOUSE_DB

    def dsn(self) -> str:
        """A libpq URL for psycopg; contains the password, never log it."""
        password = self.password.get_secret_value()
        return f"postgresql://{self.user}:{password}@{self.host}:{self.port}/{self.database}"

    def label(self) -> str:
        """Where the warehouse is, safe to print."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def is_embedded(self) -> bool:
        """No PGHOST in the real environment: the default or the sandbox file's own."""
        return "PGHOST" not in os.environ


class RdsSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="RDS_")

    database_url: SecretStr | None = None


class DispatchSettings(_Group):
    """The legacy dispatch application's Postgres (a source)."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_")

    database_url: SecretStr | None = None


class SupabaseSettings(_Group):
    """The Supabase Postgres: the target of the dispatch sync, and read back."""

    model_config = SettingsConfigDict(env_prefix="SUPABASE_")
    REQUIRED = ("database_url",)

    database_url: SecretStr | None = None


class SalesforceSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="SALESFORCE_")
    REQUIRED = ("instance_url", "client_id", "client_secret")

    instance_url: str | None = None
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    api_version: str = "62.0"
    max_rps: float = Field(default=5.0, gt=0)
    # A pass with more records than this goes through Bulk API 2.0 ingest jobs
    # instead of sObject Collections (0: every pass does).
    bulk_threshold: int = Field(default=10_000, ge=0)
    # Records a Bulk job at most (the engine's fetch of the view, 5,000, caps it too).
    bulk_job_records: int = Field(default=10_000, ge=1)

    @field_validator("instance_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value



class PropertyWareSettings(_Group):
    """The PropertyWare SOAP API (an API user per organization, HTTP Basic)."""

    model_config = SettingsConfigDict(env_prefix="PROPERTYWARE_")
    REQUIRED = ("wsdl_url", "username", "password")

    wsdl_url: str | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    org_id: str | None = None
    max_rps: float = Field(default=2.0, gt=0)



class ServiceFusionSettings(_Group):
    """The ServiceFusion REST API (OAuth2 client credentials)."""

    model_config = SettingsConfigDict(env_prefix="SERVICEFUSION_")
    REQUIRED = ("client_id", "client_secret")

    base_url: str = "https://api.servicefusion.com"
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    max_rps: float = Field(default=0.5, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")



class WorkOrderSettings(_Group):
    """The operational flags of the PropertyWare <-> ServiceFusion work-order sync."""

    enable_service_fusion: bool = True
    pw_wo_verify_strict: bool = False
    # Empty: the open statuses of the dbt seed; else a comma-separated override.
    pw_open_statuses: str | None = None

    @field_validator("enable_service_fusion", "pw_wo_verify_strict", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return parse_flag(value)

    def open_statuses(self) -> list[str] | None:
        """The override, trimmed and lower-cased as the rule compares; None: the seed's."""
        if not self.pw_open_statuses or not self.pw_open_statuses.strip():
            return None
        return [s.strip().lower() for s in self.pw_open_statuses.split(",") if s.strip()]


class HttpSettings(_Group):
    """The HTTP policy stack shared by every client (common/http.py)."""

    model_config = SettingsConfigDict(env_prefix="HTTP_")

    # TLS is shared by every API; REQUESTS_CA_BUNDLE adds a CA, nothing removes one.
    requests_ca_bundle: str | None = Field(
        default=None, validation_alias=AliasChoices("REQUESTS_CA_BUNDLE", "requests_ca_bundle")
    )
    timeout_s: float = Field(default=90.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    # A dead host should fail fast even though a slow answer may take up to 90 s.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Exponential backoff between attempts: 0.5 s, 1 s, 2 s ... capped, plus jitter.
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    # A server's Retry-After is honoured up to this long; beyond it we would rather
    # give up (exit 3) and let the next scheduled run try again.
    retry_after_max_s: float = Field(default=120.0, ge=0)
    # Consecutive failed attempts (5xx, connection errors; not 429) that open the
    # circuit, and how long it stays open before one trial call.
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=60.0, gt=0)
    # Each API's rate limit is held across processes through the warehouse
    # (common/rate_limit.py); off, each process keeps its own allowance.
    rate_limit_shared: bool = True

    @field_validator("rate_limit_shared", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return parse_flag(value)

    @model_validator(mode="after")
    def _trust_sandbox_ca_as_extra(self) -> HttpSettings:
        """REQUESTS_CA_BUNDLE is an *extra* CA: add, never replace.

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


class SafetySettings(_Group):
    """The operational flags that guard every push."""

    dry_run: bool = False
    safe_mode: bool = True
    # SAFE_MODE caps: a pass that would write more rows than this refuses to start.
    # Sized from production (~9,000 active properties, 1,081 missing, 7,980 to update)
    # with room for a first full load; a runaway join yields far more. A sync of the
    # registry may declare a cap of its own and a share of the destination's records.
    safe_mode_max_creates: int = Field(default=25000, ge=0)
    safe_mode_max_updates: int = Field(default=50000, ge=0)

    @field_validator("dry_run", "safe_mode", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> bool:
        return parse_flag(value)


class QualitySettings(_Group):
    model_config = SettingsConfigDict(env_prefix="QUALITY_")

    # Where the data-quality gate keeps its Great Expectations project (`<root>/gx`);
    # None means the sandbox folder `.local/`, which is gitignored.
    gx_root: Path | None = None
    # Raw data landed longer ago than this blocks a real push (the gate's freshness).
    max_raw_age_hours: float = Field(default=24.0, gt=0)


class Settings(BaseModel):
    """Every group; built by `load_settings()` (or `Settings.from_env` in tests)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    GROUPS: ClassVar[dict[str, type[_Group]]] = {
        "warehouse": WarehouseSettings,
        "rds": RdsSettings,
        "dispatch": DispatchSettings,
        "supabase": SupabaseSettings,
        "salesforce": SalesforceSettings,
        "propertyware": PropertyWareSettings,
        "servicefusion": ServiceFusionSettings,
        "workorders": WorkOrderSettings,
        "http": HttpSettings,
        "safety": SafetySettings,
        "quality": QualitySettings,
    }

    warehouse: WarehouseSettings
    rds: RdsSettings
    dispatch: DispatchSettings
    supabase: SupabaseSettings
    salesforce: SalesforceSettings
    propertyware: PropertyWareSettings
    servicefusion: ServiceFusionSettings
    workorders: WorkOrderSettings
    http: HttpSettings
    safety: SafetySettings
    quality: QualitySettings

    @classmethod
    def from_env(
        cls, values: Mapping[str, Any] | None = None, *, env_file: Path | None = None
    ) -> Settings:
        """Settings from `values` (variable names as in the environment), then the
        real environment, then `env_file`; raise ConfigurationError naming the
        variable on a bad value."""
        given = {key.upper(): value for key, value in (values or {}).items()}
        groups: dict[str, _Group] = {}
        problems: list[str] = []
        for attribute, group in cls.GROUPS.items():
            init = {
                field: given[variable]
                for variable, field in group.variables().items()
                if variable in given
            }
            try:
                groups[attribute] = group(_env_file=env_file, **init)  # type: ignore[call-arg]
            except ValidationError as error:
                for issue in error.errors():
                    field = str(issue["loc"][0]) if issue["loc"] else "?"
                    name = group.variable(field) if field in group.model_fields else field
                    message = str(issue["msg"]).removeprefix("Value error, ")
                    problems.append(f"{name.upper()}: {message}")
        if problems:
            raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}")
        return cls(**groups)  # type: ignore[arg-type]

    @classmethod
    def variables(cls) -> list[str]:
        """Every variable any group reads."""
        return [name for group in cls.GROUPS.values() for name in group.variables()]

    def secrets(self) -> list[SecretStr]:
        """Every secret value set in any group (for the redactor)."""
        found: list[SecretStr] = []
        for attribute in self.GROUPS:
            group = getattr(self, attribute)
            for name in type(group).model_fields:
                value = getattr(group, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value)
        return found


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)


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


def load_settings(values: Mapping[str, Any] | None = None) -> Settings:
    """Read and validate the configuration; raise ConfigurationError on bad values."""
    env_file = sandbox_env_file()
    return Settings.from_env(values, env_file=env_file if env_file.exists() else None)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
