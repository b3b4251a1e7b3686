"""HTTPS plumbing: TLS per connection, keep-alive, dispatch to API or admin, drops, delays."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from sandbox.servicefusion.messages import ApiError, Reply, Request

if TYPE_CHECKING:
    from sandbox.servicefusion.simulator import ServiceFusionSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    server_version = "nginx"  # what the real API answers in `Server`
    sys_version = ""
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: HttpsServer

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
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Nothing is written; SO_LINGER 0 makes the close that follows abort the TCP
        # connection (no TLS close_notify either), so the client sees it die with no
        # response at all, as when a load balancer fails mid-request.
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))


class HttpsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext,
                 simulator: ServiceFusionSimulator) -> None:
        self.context = context
        self.simulator = simulator
        self.open_sockets: set[ssl.SSLSocket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a slow or
        # half-open client (a port probe) never blocks the accept loop.
        request.settimeout(10)
        # Headers and body leave in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK would add 40 ms to every response.
        with suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        # The slow fault may hold a reply longer than the handshake timeout above.
        tls.settimeout(120)
        with self.sockets_lock:
            self.open_sockets.add(tls)
        try:
            _Handler(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(tls)
            with suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.simulator.verbose:
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
