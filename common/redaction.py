"""The one redaction function of the project: `redact(text)`.

Every message that may reach a terminal, a log or the warehouse passes through
it: known secret values (configuration, tokens issued at run time) and
secret-looking fragments (bearer tokens, `password=...`, `user:pass@` in URLs)
become `***`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import unquote

from pydantic import SecretStr

if TYPE_CHECKING:
    from common.settings import Settings

REDACTED = "***"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|oauth|basic)\s+[A-Za-z0-9._~+/=!\-]+"), rf"\1 {REDACTED}"),
    (
        re.compile(
            # A key, not the end of a URL path like ".../oauth2/token: ..."
            r"(?i)((?<![\w/.\-])[\"']?(?:access_token|refresh_token|id_token|client_secret|"
            r"client_id|password|passwd|secret|api_key|token)\b[\"']?\s*[:=]\s*[\"']?)"
            r"([^\"'&\s,;}]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # user:password@ in URLs (DSNs, basic auth in URLs)
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)([^@\s]+)(@)"), rf"\1{REDACTED}\3"),
)
# A password inside a connection URL is a secret of its own: drivers quote it alone.
_URL_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")


class Redactor:
    """Replaces known secret values and secret-looking fragments with ***."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        # Documented values that look like secrets but are not (the embedded
        # cluster's password): redacting them would blank innocent words.
        self.harmless: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | SecretStr | None) -> None:
        with self._lock:
            for value in values:
                text = value.get_secret_value() if isinstance(value, SecretStr) else value
                if not text:
                    continue
                candidates = {text}
                password = _URL_PASSWORD.search(text)
                if password:
                    candidates |= {password.group(1), unquote(password.group(1))}
                # Very short values would redact innocent text everywhere.
                self._secrets |= {
                    c for c in candidates if len(c) >= 4 and c not in self.harmless
                }

    def __call__(self, text: object) -> str:
        result = str(text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        # Longest first, so a URL is replaced whole before the password inside it.
        for secret in secrets:
            result = result.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            result = pattern.sub(replacement, result)
        return result


REDACTOR = Redactor()


def redact(text: object) -> str:
    return REDACTOR(text)


def register_secret(*values: str | SecretStr | None) -> None:
    """Make values obtained at run time (tokens) known to the redactor."""
    REDACTOR.add(*values)


def register_secrets(settings: Settings) -> None:
    """Make every secret of the configuration known to the redactor."""
    from common.settings import EMBEDDED_PASSWORD

    # The embedded cluster's fixed password is documented and equals its user name
    # (also inside the sandbox's RDS_DATABASE_URL); treating it as a secret would
    # only blank out "postgres" everywhere.
    REDACTOR.harmless.add(EMBEDDED_PASSWORD)
    for secret in settings.secrets():
        REDACTOR.add(secret)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
