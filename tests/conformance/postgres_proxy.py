"""A TCP relay in front of a Postgres: the Supabase harness's "simulator".

The HTTP destinations' simulators log every request and inject faults on the wire; a
database destination has no simulator, so this relay stands between the pusher and
the real target database and does the same on the Postgres protocol:

- it logs each session (connection) and each statement the client sends (simple
  `Query` and extended-protocol `Parse` texts, one `Sync` or `Query` per round trip);
- `lose_next_commit_reply()` forwards the next `COMMIT` to the server, lets the
  server commit it, then drops the server's reply and cuts both sockets: the commit
  is applied and the client never learns it (the database analogue of a lost HTTP
  response);
- a session whose `application_name` is `SLOW_APPLICATION` has each `BEGIN` held
  for `SLOW_S` seconds, so a subprocess pass writes a batch a second.

Only what a test needs of the protocol is parsed: the client must connect with
`sslmode=disable` (no SSLRequest), after which every client message is typed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

SLOW_APPLICATION = "propsync-conformance-slow"
SLOW_S = 1.0
# The pseudo message kind logged when a client connects.
CONNECT = "connect"
# CommandComplete ('C', length 11) of a COMMIT.
_COMMITTED = b"C\x00\x00\x00\x0bCOMMIT\x00"


@dataclass(frozen=True)
class Message:
    session: int
    kind: str  # a protocol message type ('Q', 'P', 'S', ...) or CONNECT
    text: str = ""  # the statement of a Query or Parse message


def _statement(kind: str, body: bytes) -> str:
    if kind == "Q":
        return body.split(b"\0", 1)[0].decode(errors="replace")
    if kind == "P":
        # Parse: statement name, NUL, query text, NUL, parameter types.
        parts = body.split(b"\0", 2)
        return parts[1].decode(errors="replace") if len(parts) > 1 else ""
    return ""


def _startup_parameters(body: bytes) -> dict[str, str]:
    # After the 4-byte protocol version: NUL-terminated key/value pairs.
    fields = body[4:].split(b"\0")
    return {
        fields[i].decode(errors="replace"): fields[i + 1].decode(errors="replace")
        for i in range(0, len(fields) - 1, 2)
        if fields[i]
    }


class PostgresProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._log: list[Message] = []
        self._sessions = 0
        self._lose_commit_reply = False
        self.commits_unanswered = 0
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="pg-proxy", daemon=True)

    # -- the log and the faults ---------------------------------------------------------

    def log(self, since: int = 0) -> list[Message]:
        with self._lock:
            return self._log[since:]

    def mark(self) -> int:
        with self._lock:
            return len(self._log)

    def lose_next_commit_reply(self) -> None:
        with self._lock:
            self._lose_commit_reply = True

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        self._acceptor.start()

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            _close(sock)
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sessions += 1
                session = self._sessions
                self._log.append(Message(session, CONNECT))
                self._open.update((client, server))
            doomed = threading.Event()
            for target, args in (
                (self._from_client, (session, client, server, doomed)),
                (self._from_server, (client, server, doomed)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    def _from_client(
        self, session: int, client: socket.socket, server: socket.socket, doomed: threading.Event
    ) -> None:
        buffer = bytearray()
        started = False
        slow = False
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
                out = bytearray()
                while True:
                    if not started:
                        # The startup message has no type byte.
                        if len(buffer) < 4:
                            break
                        length = int.from_bytes(buffer[:4], "big")
                        if len(buffer) < length:
                            break
                        parameters = _startup_parameters(bytes(buffer[4:length]))
                        slow = parameters.get("application_name") == SLOW_APPLICATION
                        out += buffer[:length]
                        del buffer[:length]
                        started = True
                        continue
                    if len(buffer) < 5:
                        break
                    kind = chr(buffer[0])
                    length = int.from_bytes(buffer[1:5], "big")
                    if len(buffer) < 1 + length:
                        break
                    text = _statement(kind, bytes(buffer[5 : 1 + length]))
                    statement = text.strip().upper()
                    if kind in ("Q", "P", "S"):
                        with self._lock:
                            self._log.append(Message(session, kind, text))
                    if slow and statement.startswith("BEGIN"):
                        time.sleep(SLOW_S)
                    if statement == "COMMIT":
                        with self._lock:
                            lose, self._lose_commit_reply = self._lose_commit_reply, False
                        if lose:
                            # Set before the COMMIT leaves: the next bytes the server
                            # sends are its reply, and they must not reach the client.
                            doomed.set()
                    out += buffer[: 1 + length]
                    del buffer[: 1 + length]
                if out:
                    server.sendall(out)
        except OSError:
            return
        finally:
            self._end(client, server)

    def _from_server(
        self, client: socket.socket, server: socket.socket, doomed: threading.Event
    ) -> None:
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    return
                if doomed.is_set():
                    # Counted only when the reply says the commit happened: a test
                    # of a lost reply proves nothing if the write was never applied.
                    if _COMMITTED in data:
                        with self._lock:
                            self.commits_unanswered += 1
                    return
                client.sendall(data)
        except OSError:
            return
        finally:
            self._end(client, server)

    def _end(self, client: socket.socket, server: socket.socket) -> None:
        for sock in (client, server):
            _close(sock)
        with self._lock:
            self._open.difference_update((client, server))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
