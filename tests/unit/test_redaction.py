"""The one redaction function: configured secrets, URL passwords, harmless defaults."""

from __future__ import annotations

from common.redaction import Redactor, redact, register_secrets
from common.settings import Settings


def test_a_url_password_is_a_secret_of_its_own() -> None:
    redactor = Redactor()
    redactor.add("postgresql://app:s3cr%40t-pw@rds.example:5432/app")
    # Drivers quote the password alone, sometimes decoded.
    assert redactor("auth failed for password s3cr%40t-pw") == "auth failed for password ***"
    assert redactor("auth failed for password s3cr@t-pw") == "auth failed for password ***"


def test_the_embedded_password_is_not_blanked_everywhere() -> None:
    settings = Settings.from_env(
        {
            "PGPASSWORD": "postgres",
            "RDS_DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:54329/rds",
            "SALESFORCE_CLIENT_SECRET": "sf-secret-1234",
        }
    )
    register_secrets(settings)
    assert redact("postgresql://bob:pw@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact("connecting as postgres") == "connecting as postgres"
    assert redact("secret sf-secret-1234 leaked") == "secret *** leaked"
