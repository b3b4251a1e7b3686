"""What every simulator shares: an HTTPS server on the loopback, run in a thread.

The simulators share this plumbing with each other, never with the clients they
stand in for (import-linter keeps `sandbox/` apart from the product). Each
simulator keeps its own request handler (the wire format is its business) and
its own store; this module holds the socket-level behaviour that must be the
same everywhere: the TLS handshake in the connection's own thread, no Nagle
delay, a way to drop a connection the way a failing load balancer does, a clean
stop that also ends kept-alive connections, and the `python -m` entry point.
"""

from __future__ import annotations

import argparse
import signal
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from sandbox.certs import ensure_certificates


class SimulatorHandler(BaseHTTPRequestHandler):
    """A keep-alive request handler that hands every method to `dispatch()`.

    Subclasses set `server_version` and implement `dispatch`, reading the request
    with `read_request()`; the wire format of the answer is theirs.
    """

    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    sys_version = ""
    timeout = 60  # an idle keep-alive connection frees its thread after a minute
    server: TlsServer

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server.simulator, "verbose", False):
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def read_request(self) -> tuple[str, dict[str, list[str]], dict[str, str], bytes]:
        """(path, query, lower-cased headers, body) of the request being handled."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        return parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body

    def dispatch(self) -> None:
        raise NotImplementedError


class TlsServer(ThreadingHTTPServer):
    """A threading HTTPS server whose handler reaches its simulator as `server.simulator`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        handler: type[BaseHTTPRequestHandler],
        simulator: Any,
    ) -> None:
        self.context = context
        self.simulator = simulator
        self.handler = handler
        self.open_sockets: set[ssl.SSLSocket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

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
        # A slow-answer fault may hold a reply longer than the handshake timeout.
        tls.settimeout(120)
        with self.sockets_lock:
            self.open_sockets.add(tls)
        try:
            self.handler(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(tls)
            with suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if getattr(self.simulator, "verbose", False):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def drop_connection(handler: BaseHTTPRequestHandler) -> None:
    """End the request's connection with no response at all.

    Nothing is written; SO_LINGER 0 makes the close that follows abort the TCP
    connection (no TLS close_notify either), so the client sees it die with no
    response, as when a load balancer fails mid-request.
    """
    handler.close_connection = True
    with suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class HttpsSimulator:
    """A simulator as an object: `start()` serves in a background thread.

    Subclasses set `handler` (their request handler) and `label`, build their
    store as `self.store` (with `ensure_schema()` and `close()`), and call
    `super().__init__`.
    """

    handler: type[BaseHTTPRequestHandler]
    label = "simulator"
    store: Any

    def __init__(self, port: int, certs_dir: Path, host: str, verbose: bool) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the simulator listens on the loopback interface only")
        self.port, self.host = port, host
        self.certs_dir = Path(certs_dir)
        self.verbose = verbose
        self._server: TlsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        certs = ensure_certificates(self.certs_dir)
        self.store.ensure_schema()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certs.cert, certs.key)
        self._server = TlsServer((self.host, self.port), context, self.handler, self)
        self.port = self._server.server_address[1]  # port 0 means "any free port"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"{self.label}-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_credentials(parser: argparse.ArgumentParser, path: Path) -> tuple[str, str]:
    """The two lines of a credentials file: a user or client id, then its secret.

    The stack passes credentials as a file: a secret in argv shows in `ps`, and a
    value starting with `-` reads to argparse as an option.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        parser.error(f"--credentials-file: {error.strerror}: {path}")
    if len(lines) < 2 or not lines[0].strip() or not lines[1].strip():
        parser.error(f"--credentials-file: {path} must hold two lines")
    return lines[0].strip(), lines[1].strip()


def serve_until_signalled(simulator: HttpsSimulator, name: str) -> int:
    """`python -m sandbox.<name>`: start, print the URL, serve until SIGTERM/SIGINT."""
    try:
        simulator.start()
    except (OSError, psycopg.Error, ValueError) as error:
        print(f"{name} simulator: cannot start: {error}", file=sys.stderr)
        return 3
    stopping = threading.Event()
    stop: Callable[..., None] = lambda *_: stopping.set()  # noqa: E731
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    print(f"{name} simulator listening on {simulator.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    simulator.stop()
    print(f"{name} simulator stopped", flush=True)
    return 0


__all__ = [
    "HttpsSimulator",
    "SimulatorHandler",
    "TlsServer",
    "drop_connection",
    "read_credentials",
    "serve_until_signalled",
]
