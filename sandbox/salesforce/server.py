"""HTTPS plumbing: TLS per connection, keep-alive, dispatch to API or admin, drops."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from sandbox.https_simulator import TlsServer, drop_connection
from sandbox.salesforce.messages import Reply, Request

if TYPE_CHECKING:
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    server_version = "SalesforceSimulator/1.0"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: TlsServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.simulator.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()}, body,
        )
        simulator = self.server.simulator
        try:
            if parts.path.startswith("/__sandbox/"):
                reply = simulator.admin.handle(request)
            else:
                reply = simulator.api.handle(request)
        except psycopg.Error as error:
            reply = Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                 "message": f"simulator state store failed: {error}"}])
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            # Say so: without the header an HTTP/1.1 client pools the socket and may
            # send its next request into the close that follows.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        drop_connection(self)
