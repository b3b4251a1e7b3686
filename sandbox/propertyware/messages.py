"""What passes between the HTTPS server and the handlers: `Request`, `Reply`, `SoapFault`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    # How many requests this TLS connection carried before this one: a keep-alive
    # client's second call has 1. The reset-on-reuse fault keys on it.
    earlier_on_connection: int = 0

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection with a TCP reset and no response
    delay_s: float = 0.0  # wait this long before answering (the `slow` fault)

    @classmethod
    def json(cls, status: int, body: Any) -> Reply:
        return cls(status, json.dumps(body).encode(), "application/json")


class SoapFault(Exception):
    """A request answered with a `soapenv:Fault` (HTTP 500), like Axis 1 does.

    `code` is the local part of the faultcode in the envelope namespace:
    `Server.userException` for exceptions of the service and for unreadable
    parameters, `Client` for an operation Axis does not know.
    """

    def __init__(self, message: str, code: str = "Server.userException") -> None:
        super().__init__(message)
        self.message, self.code = message, code
