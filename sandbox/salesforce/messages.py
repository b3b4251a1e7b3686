"""What passes between the HTTPS server and the handlers: `Request`, `Reply`, `ApiError`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {error}") from None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class ApiError(Exception):
    """A request-level failure, answered as Salesforce's `[{message, errorCode}]`."""

    def __init__(self, status: int, code: str, message: str,
                 fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        # sObject Rows errors name the fields at fault; request-level errors carry none.
        self.fields = fields

    def reply(self) -> Reply:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return Reply(self.status, [error])


def not_found() -> ApiError:
    """Salesforce's answer for an unknown resource: a path, an sObject or a record Id."""
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    def error_codes(self) -> list[str]:
        if isinstance(self.body, dict) and "error" in self.body:
            return [str(self.body["error"])]
        if not isinstance(self.body, list):
            return []
        codes = []
        for item in self.body:
            if isinstance(item, dict) and "errorCode" in item:
                codes.append(str(item["errorCode"]))
            elif isinstance(item, dict):
                codes.extend(str(e.get("statusCode")) for e in item.get("errors") or [])
        return codes
