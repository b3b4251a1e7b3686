"""The HTTP session factory against a tiny scripted server on 127.0.0.1.

Waits are never slept: the client's sleep is a recorder, and the rate limiter runs
on a fake clock. So every assertion counts requests and waits instead of timing them.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrate_limiter.limiter
import pytest
from pyrate_limiter import AbstractClock

from common.http import (
    CircuitOpen,
    HttpClient,
    RateLimiter,
    ServiceUnavailable,
    TlsError,
    make_client,
    parse_retry_after,
    rate_for,
)
from common.redaction import redact, register_secret
from common.settings import ConfigurationError, Settings

# An action is (status, headers, body) or "reset" (the connection is torn down).
Action = tuple[int, dict[str, str], str] | str


class ScriptedServer:
    """Answers each request with the next scripted action; the last one repeats."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.script: list[Action] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                action = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if action == "reset":
                    # SO_LINGER 0: close() sends a TCP RST, like a dropped connection.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                status, headers, text = action  # type: ignore[misc]
                payload = text.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.stop()


OK: Action = (200, {}, '{"ok": true}')
UNAVAILABLE: Action = (503, {}, '{"message": "try later"}')


def config(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "http_max_attempts": 6,
        "http_backoff_initial_s": 0.5,
        "http_backoff_max_s": 30.0,
        "http_retry_after_max_s": 120.0,
        "http_breaker_fail_max": 5,
        "http_connect_timeout_s": 2.0,
        "http_timeout_s": 5.0,
        "requests_ca_bundle": None,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(settings: Settings, sleeps: Sleeps, max_rps: float = 1000.0) -> HttpClient:
    return make_client(settings, name="test", max_rps=max_rps, sleep=sleeps)


# -- retries ------------------------------------------------------------------------


def test_429_then_success_honours_retry_after(server: ScriptedServer) -> None:
    server.script = [(429, {"Retry-After": "7"}, '{"message": "slow down"}'), OK]
    sleeps = Sleeps()
    with client_for(config(), sleeps) as client:
        response = client.request("GET", f"{server.url}/x")
    assert response.status_code == 200
    assert client.requests_sent == 2 and len(server.requests) == 2
    assert sleeps == [7.0]


def test_503_is_retried_with_exponential_backoff_and_jitter(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE, UNAVAILABLE, OK]
    sleeps = Sleeps()
    with client_for(config(http_backoff_initial_s=0.5), sleeps) as client:
        response = client.request("POST", f"{server.url}/x", json={"a": 1})
    assert response.status_code == 200 and client.requests_sent == 3
    # 0.5 * 2**0 and 0.5 * 2**1, each plus a jitter of at most 0.5.
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 1.5
    assert all(body == b'{"a": 1}' for _, _, _, body in server.requests)


def test_backoff_is_capped(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE] * 5 + [OK]
    sleeps = Sleeps()
    settings = config(http_backoff_initial_s=1.0, http_backoff_max_s=3.0, http_breaker_fail_max=9)
    with client_for(settings, sleeps) as client:
        client.request("GET", f"{server.url}/x")
    # 1, 2, then 4 and 8 are capped at 3 (jitter included in the cap).
    assert len(sleeps) == 5
    assert all(wait <= 3.0 for wait in sleeps)
    assert sleeps[2:] == [3.0, 3.0, 3.0]


def test_connection_reset_is_retried(server: ScriptedServer) -> None:
    server.script = ["reset", OK]
    sleeps = Sleeps()
    with client_for(config(), sleeps) as client:
        response = client.request("POST", f"{server.url}/x", json={})
    assert response.status_code == 200
    assert client.requests_sent == 2 and len(sleeps) == 1


def test_refused_connection_is_retried_then_reported(server: ScriptedServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # closed again: nobody listens there
    sleeps = Sleeps()
    with (
        client_for(config(http_max_attempts=3, http_breaker_fail_max=10), sleeps) as client,
        pytest.raises(ServiceUnavailable) as raised,
    ):
        client.request("GET", f"http://127.0.0.1:{dead_port}/x")
    assert client.requests_sent == 3 and len(sleeps) == 2
    assert "gave up after 3 attempts" in str(raised.value)
    assert "ConnectionError" in str(raised.value)


def test_retry_exhaustion_is_one_clear_error(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE]
    sleeps = Sleeps()
    with (
        client_for(config(http_max_attempts=3, http_breaker_fail_max=10), sleeps) as client,
        pytest.raises(ServiceUnavailable) as raised,
    ):
        client.request("GET", f"{server.url}/services/data?q=secretish")
    assert not isinstance(raised.value, CircuitOpen)
    assert len(server.requests) == 3 and client.requests_sent == 3
    message = str(raised.value)
    assert message.startswith("test: gave up after 3 attempts: HTTP 503 from ")
    assert "try later" in message
    assert "secretish" not in message  # the query string is not repeated
    assert raised.value.exit_code == 3


def test_client_errors_are_returned_not_retried(server: ScriptedServer) -> None:
    server.script = [(400, {}, '[{"errorCode": "JSON_PARSER_ERROR"}]')]
    sleeps = Sleeps()
    with client_for(config(), sleeps) as client:
        response = client.request("POST", f"{server.url}/x", json={})
    assert response.status_code == 400
    assert client.requests_sent == 1 and sleeps == []


def test_retry_after_beyond_the_cap_gives_up_at_once(server: ScriptedServer) -> None:
    server.script = [(503, {"Retry-After": "3600"}, "{}")]
    sleeps = Sleeps()
    with (
        client_for(config(http_retry_after_max_s=60), sleeps) as client,
        pytest.raises(ServiceUnavailable) as raised,
    ):
        client.request("GET", f"{server.url}/x")
    assert client.requests_sent == 1 and sleeps == []
    assert "HTTP_RETRY_AFTER_MAX_S" in str(raised.value)


# -- circuit breaker ----------------------------------------------------------------


def test_circuit_opens_after_consecutive_failures(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE]
    sleeps = Sleeps()
    settings = config(http_max_attempts=10, http_breaker_fail_max=3, http_breaker_reset_s=600)
    client = client_for(settings, sleeps)
    with pytest.raises(CircuitOpen) as raised:
        client.request("GET", f"{server.url}/x")
    assert client.requests_sent == 3
    assert "circuit open after 3 consecutive failed requests" in str(raised.value)
    assert "HTTP 503" in str(raised.value)  # the failure that opened it
    # While open, nothing more reaches the server.
    with pytest.raises(CircuitOpen):
        client.request("GET", f"{server.url}/x")
    assert client.requests_sent == 3 and len(server.requests) == 3
    client.close()


def test_throttling_does_not_open_the_circuit(server: ScriptedServer) -> None:
    throttled: Action = (429, {}, "{}")
    server.script = [throttled, throttled, throttled, OK]
    sleeps = Sleeps()
    with client_for(config(http_breaker_fail_max=2), sleeps) as client:
        response = client.request("GET", f"{server.url}/x")
    assert response.status_code == 200 and client.requests_sent == 4


def test_a_success_resets_the_failure_count(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE, UNAVAILABLE, OK, UNAVAILABLE, UNAVAILABLE, OK]
    sleeps = Sleeps()
    with client_for(config(http_breaker_fail_max=3), sleeps) as client:
        client.request("GET", f"{server.url}/x")
        client.request("GET", f"{server.url}/x")
    assert client.requests_sent == 6


# -- rate limiter -------------------------------------------------------------------


def test_rate_for_turns_requests_per_second_into_a_rate() -> None:
    assert (rate_for(5).limit, rate_for(5).interval) == (5, 1000)
    assert (rate_for(0.5).limit, rate_for(0.5).interval) == (1, 2000)
    assert (rate_for(2.5).limit, rate_for(2.5).interval) == (2, 800)


class FakeClock(AbstractClock):
    def __init__(self) -> None:
        self.ms = 1_000_000

    def now(self) -> int:
        return self.ms


def test_rate_limiter_never_lets_more_than_the_rate_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.ms += round(seconds * 1000)

    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", fake_sleep)
    limiter = RateLimiter(5, clock=clock)
    granted: list[int] = []
    for _ in range(23):
        limiter.acquire()
        granted.append(clock.ms)

    # The first five share the starting instant: a burst within the rate.
    assert granted.count(granted[0]) == 5
    # Whatever window of one second we look at, it holds at most five grants.
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + 1000) <= 5
    # 23 grants at 5 a second need at least four more seconds after the first burst.
    assert granted[-1] - granted[0] >= 4000
    assert waits, "the limiter must have blocked"


def test_client_waits_for_the_limiter_before_each_request(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    blocked: list[float] = []

    def fake_sleep(seconds: float) -> None:
        blocked.append(seconds)
        clock.ms += round(seconds * 1000)

    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", fake_sleep)
    server.script = [OK]
    client = make_client(config(), name="test", max_rps=2, sleep=Sleeps(), clock=clock)
    with client:
        for _ in range(5):
            client.request("GET", f"{server.url}/x")
    # 2 per second: requests 1-2 pass, 3-4 wait for the next second, 5 for the third.
    assert len(blocked) == 2
    assert client.requests_sent == 5


# -- TLS and configuration ----------------------------------------------------------


def test_verification_is_on_and_a_bundle_only_adds_a_ca(tmp_path: Path) -> None:
    assert make_client(config(), name="t", max_rps=1).verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    assert make_client(config(requests_ca_bundle=str(bundle)), name="t", max_rps=1).verify == str(
        bundle
    )
    with pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE"):
        make_client(config(requests_ca_bundle=str(tmp_path / "missing.pem")), name="t", max_rps=1)


def test_untrusted_certificate_fails_once_and_trusted_one_works(tmp_path: Path) -> None:
    from sandbox.certs import ensure_certificates

    certs = ensure_certificates(tmp_path / "certs")
    tls_server = ScriptedServer(tls=(certs.cert, certs.key))
    tls_server.script = [OK]
    try:
        sleeps = Sleeps()
        with (
            client_for(config(), sleeps) as untrusting,
            pytest.raises(TlsError) as raised,
        ):
            untrusting.request("GET", f"{tls_server.url}/x")
        assert untrusting.requests_sent == 1 and sleeps == []  # not retried
        assert raised.value.exit_code == 2
        assert "REQUESTS_CA_BUNDLE" in str(raised.value)
        with client_for(config(requests_ca_bundle=str(certs.ca)), sleeps) as trusting:
            assert trusting.request("GET", f"{tls_server.url}/x").status_code == 200
    finally:
        tls_server.stop()


def test_connection_close_when_keep_alive_is_off(server: ScriptedServer) -> None:
    server.script = [OK]
    client = make_client(config(), name="t", max_rps=100, keep_alive=False)
    with client:
        client.request("GET", f"{server.url}/x")
    assert server.requests[0][2].get("Connection") == "close"


# -- redaction ----------------------------------------------------------------------


def test_secrets_are_redacted_in_errors_and_logs(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    register_secret("s3cr3t-client-value")
    body = json.dumps(
        {"access_token": "00Dxx!AQ0AQtoken", "echo": "client_secret=s3cr3t-client-value"}
    )
    server.script = [(503, {}, body)]
    sleeps = Sleeps()
    caplog.set_level(logging.WARNING, logger="common.http")
    with (
        client_for(config(http_max_attempts=2), sleeps) as client,
        pytest.raises(ServiceUnavailable) as raised,
    ):
        client.request("POST", f"{server.url}/token", data={"client_secret": "x"})
    text = str(raised.value) + "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the retry is logged"
    assert "s3cr3t-client-value" not in text
    assert "00Dxx!AQ0AQtoken" not in text
    assert "***" in text


def test_redact_patterns() -> None:
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert redact('{"access_token": "tok123"}') == '{"access_token": "***"}'
    assert redact("password=hunter22&user=x") == "password=***&user=x"
    assert redact("postgresql://bob:pw@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact("nothing to hide") == "nothing to hide"
    # The end of a URL path is not a key.
    assert redact("POST /services/oauth2/token: ConnectionError") == (
        "POST /services/oauth2/token: ConnectionError"
    )


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    # An HTTP-date 30 s after "now".
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
