"""HTTPS plumbing: TLS per connection, keep-alive, dispatch to API or admin, drops, delays."""

from __future__ import annotations

import json
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from sandbox.https_simulator import TlsServer, drop_connection
from sandbox.servicefusion.messages import ApiError, Reply, Request

if TYPE_CHECKING:
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    server_version = "nginx"  # what the real API answers in `Server`
    sys_version = ""
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: TlsServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
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
            reply = ApiError(500, f"simulator state store failed: {error}").reply()
        except Exception as error:  # a simulator bug: answer 500 rather than hang up
            if simulator.verbose:
                traceback.print_exc()
            reply = ApiError(500, f"simulator error: {type(error).__name__}: {error}").reply()
        if reply.delay_s > 0:
            # Outside the store lock (taken and released in handle): a slow answer holds
            # up only its own connection, as on the real service.
            time.sleep(reply.delay_s)
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.html is not None:
            data = reply.html.encode()
            content_type = "text/html; charset=UTF-8"
        else:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            content_type = "application/json; charset=UTF-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
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
