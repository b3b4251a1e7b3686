"""What passes between the HTTPS server and the handlers: `Request`, `Reply`, the errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

# The reason phrases of the framework behind the real API (Yii2): its error bodies
# carry them as `name`.
STATUS_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    422: "Data Validation Failed.",
    429: "Too Many Requests.",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>Not Found (#404)</title>\n</head>\n<body>\n<h1>Not Found (#404)</h1>\n"
    "<p>Page not found.</p>\n</body>\n</html>\n"
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form_or_json(self) -> Any:
        """The body as the real API reads it: JSON, or a flat urlencoded form."""
        content_type = self.headers.get("content-type", "").lower()
        text = self.body.decode("utf-8", "replace")
        if "application/x-www-form-urlencoded" in content_type:
            return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise ApiError(400, "Invalid JSON data in request body: Syntax error.") from None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    html: str | None = None  # sent as text/html instead of `body` as JSON
    delay_s: float = 0.0  # the server waits this long before answering (the slow fault)


class ApiError(Exception):
    """A request-level failure, answered as `{code, name, message}`."""

    def __init__(self, status: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = headers or {}

    def reply(self) -> Reply:
        body = {"code": self.status, "name": STATUS_NAMES.get(self.status, "Error"),
                "message": self.message}
        return Reply(self.status, body, dict(self.headers))


class ValidationFailed(Exception):
    """422 with the real API's list of `{field, message}`."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors

    def reply(self) -> Reply:
        return Reply(422, list(self.errors))


class HtmlNotFound(Exception):
    """An unknown path or id: the real API has been seen to answer these with a web page."""

    def reply(self) -> Reply:
        return Reply(404, html=NOT_FOUND_HTML)
