"""Configuration: flags, precedence, validation errors that name the variable, no secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from common.settings import ConfigurationError, Settings, load_settings

SECRET_VALUES = {
    "PGPASSWORD": "pg-pass-7f3a9c",
    "SALESFORCE_CLIENT_ID": "3MVG9-client-id-51b2",
    "SALESFORCE_CLIENT_SECRET": "sf-secret-e81d44",
    "RDS_DATABASE_URL": "postgresql://rds:rds-pass-0c9e@rds.example:5432/app",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No variable of the developer's shell and no sandbox.env leaks into a test."""
    for name in Settings.variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path))
    yield tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", True),
        ("1", True),
        ("true", True),
        ("YES", True),
        ("off", False),
        ("0", False),
        ("false", False),
        ("no", False),
    ],
)
def test_flags_parse(monkeypatch: pytest.MonkeyPatch, text: str, expected: bool) -> None:
    monkeypatch.setenv("DRY_RUN", text)
    monkeypatch.setenv("SAFE_MODE", text)
    settings = load_settings()
    assert settings.safety.dry_run is expected
    assert settings.safety.safe_mode is expected


def test_defaults_of_contracts_md() -> None:
    settings = load_settings()
    assert settings.safety.dry_run is False
    assert settings.safety.safe_mode is True
    assert settings.salesforce.max_rps == 5.0
    assert settings.salesforce.api_version == "62.0"
    assert settings.http.requests_ca_bundle is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DRY_RUN", "maybe"),
        ("SAFE_MODE", "sometimes"),
        ("SALESFORCE_MAX_RPS", "0"),
        ("SALESFORCE_MAX_RPS", "fast"),
        ("PGPORT", "not-a-port"),
        ("HTTP_MAX_ATTEMPTS", "0"),
        ("HTTP_BREAKER_FAIL_MAX", "0"),
        ("SAFE_MODE_MAX_CREATES", "-1"),
    ],
)
def test_bad_value_names_the_variable_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for name, secret in SECRET_VALUES.items():
        monkeypatch.setenv(name, secret)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    for secret in SECRET_VALUES.values():
        assert secret not in message
    # `from None`: no chained pydantic error (which would echo inputs) in a traceback.
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DRY_RUN", "maybe", "DRY_RUN: not a boolean flag: 'maybe' (use on/off, true/false, 1/0)"),
        ("SAFE_MODE", "sometimes", "SAFE_MODE: not a boolean flag: 'sometimes'"),
        ("SALESFORCE_MAX_RPS", "0", "SALESFORCE_MAX_RPS: Input should be greater than 0"),
        ("PGPORT", "not-a-port", "PGPORT: Input should be a valid integer"),
    ],
)
def test_bad_values_read_as_plain_sentences(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """The line a user sees: the variable and what is wrong, not pydantic's wording."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("invalid configuration: ")
    assert expected in message
    assert "Value error" not in message
    assert "\n" not in message  # one line
    assert "pydantic" not in message.lower()  # no "For further information visit ..." URL


def test_several_bad_values_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "maybe")
    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert "DRY_RUN: not a boolean flag" in message and "HTTP_MAX_ATTEMPTS: " in message
    assert "Value error" not in message and "\n" not in message


def test_repr_and_str_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, secret in SECRET_VALUES.items():
        monkeypatch.setenv(name, secret)
    settings = load_settings()
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        for secret in SECRET_VALUES.values():
            assert secret not in text
    assert "pg-pass-7f3a9c" not in settings.warehouse.label()
    assert settings.salesforce.client_secret is not None
    assert settings.salesforce.client_secret.get_secret_value() == "sf-secret-e81d44"


def test_environment_wins_over_sandbox_env(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    (clean_environment / "sandbox.env").write_text(
        "SALESFORCE_MAX_RPS=3\nSALESFORCE_INSTANCE_URL=https://127.0.0.1:8443/\nPGHOST=10.0.0.9\n"
    )
    settings = load_settings()
    assert settings.salesforce.max_rps == 3.0
    assert settings.salesforce.instance_url == "https://127.0.0.1:8443"  # slash stripped
    assert settings.warehouse.host == "10.0.0.9"

    monkeypatch.setenv("SALESFORCE_MAX_RPS", "7.5")
    assert load_settings().salesforce.max_rps == 7.5


def test_embedded_warehouse_detection(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    assert load_settings().warehouse.is_embedded() is True
    monkeypatch.setenv("PGHOST", "db.example")
    assert load_settings().warehouse.is_embedded() is False


def test_sandbox_ca_is_trusted_in_addition_to_an_exported_bundle(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    exported = clean_environment / "machine-bundle.pem"
    exported.write_text("-----BEGIN CERTIFICATE-----\nMACHINE\n-----END CERTIFICATE-----\n")
    sandbox_ca = clean_environment / "sandbox-ca.pem"
    sandbox_ca.write_text("-----BEGIN CERTIFICATE-----\nSANDBOX\n-----END CERTIFICATE-----\n")
    (clean_environment / "sandbox.env").write_text(f"REQUESTS_CA_BUNDLE={sandbox_ca}\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(exported))

    bundle = load_settings().http.requests_ca_bundle
    assert bundle is not None
    text = Path(bundle).read_text()
    # The machine's bundle, the sandbox CA and the public CAs are all trusted.
    assert "MACHINE" in text
    assert "SANDBOX" in text
    assert Path(certifi.where()).read_text()[:200] in text


def test_an_explicit_ca_bundle_is_taken_as_it_is(clean_environment: Path) -> None:
    sandbox_ca = clean_environment / "sandbox-ca.pem"
    sandbox_ca.write_text("-----BEGIN CERTIFICATE-----\nSANDBOX\n-----END CERTIFICATE-----\n")
    (clean_environment / "sandbox.env").write_text(f"REQUESTS_CA_BUNDLE={sandbox_ca}\n")
    settings = Settings.from_env({"REQUESTS_CA_BUNDLE": "/explicit.pem"})
    assert settings.http.requests_ca_bundle == "/explicit.pem"


def test_the_work_order_slice_variables_keep_their_names() -> None:
    settings = load_settings(
        {
            "PROPERTYWARE_WSDL_URL": "https://pw.example/pw/services/PWServices?wsdl",
            "PROPERTYWARE_USERNAME": "api-user",
            "PROPERTYWARE_PASSWORD": "pw-secret-93",
            "SERVICEFUSION_BASE_URL": "https://sf.example/",
            "SERVICEFUSION_CLIENT_ID": "sf-id",
            "ENABLE_SERVICE_FUSION": "off",
            "PW_OPEN_STATUSES": " Open , WO Received,,",
        }
    )
    assert settings.propertyware.max_rps == 2.0 and settings.servicefusion.max_rps == 0.5
    assert settings.propertyware.missing() == []
    assert settings.servicefusion.base_url == "https://sf.example"
    assert settings.servicefusion.missing() == ["SERVICEFUSION_CLIENT_SECRET"]
    assert settings.workorders.enable_service_fusion is False
    assert settings.workorders.pw_wo_verify_strict is False
    assert settings.workorders.open_statuses() == ["open", "wo received"]
    assert "pw-secret-93" not in repr(settings)
    assert load_settings().workorders.open_statuses() is None  # the seed's list
