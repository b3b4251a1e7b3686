"""The HTTP policy session against a tiny scripted server on 127.0.0.1.

Waits are never slept: the session's sleep is a recorder, and the rate limiter runs
on a fake clock. So every assertion counts requests and waits instead of timing them.
"""

from __future__ import annotations

import ast
import http.server
import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrate_limiter.limiter
import pytest
import requests
from pyrate_limiter import AbstractClock

from common.http import (
    CircuitOpen,
    HttpError,
    PolicySession,
    RateLimiter,
    ServiceUnavailable,
    TlsError,
    parse_retry_after,
    policy_session,
    rate_for,
)
from common.redaction import redact, register_secret
from common.settings import ConfigurationError, Settings

# An action is (status, headers, body), "reset" (the connection is torn down) or
# "hang" (no answer for a second, then OK).
Action = tuple[int, dict[str, str], str] | str


class ScriptedServer:
    """Answers each request with the next scripted action; the last one repeats."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.script: list[Action] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.peers: list[tuple[str, int]] = []  # the client's address: one per connection
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                server.peers.append(self.client_address)
                action = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if action == "reset":
                    # SO_LINGER 0: close() sends a TCP RST, like a dropped connection.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if action == "hang":
                    time.sleep(1.0)
                    action = OK
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
        "salesforce_max_rps": 1000.0,
        # A unit test talks to no warehouse: the limiter stays in the process (the
        # shared one is tests/integration/test_rate_limit_shared.py's).
        "http_rate_limit_shared": False,
    }
    values.update(overrides)
    return Settings.from_env(values)  # type: ignore[call-arg]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(settings: Settings, sleeps: Sleeps) -> PolicySession:
    return policy_session(settings, "salesforce", sleep=sleeps)


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
    assert raised.value.unreachable is True


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
    assert message.startswith("salesforce: gave up after 3 attempts: HTTP 503 from ")
    assert raised.value.detail == message.removeprefix("salesforce: ")
    assert raised.value.unreachable is False
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
    client = policy_session(
        config(salesforce_max_rps=2), "salesforce", sleep=Sleeps(), clock=clock
    )
    with client:
        for _ in range(5):
            client.request("GET", f"{server.url}/x")
    # 2 per second: requests 1-2 pass, 3-4 wait for the next second, 5 for the third.
    assert len(blocked) == 2
    assert client.requests_sent == 5


# -- TLS and configuration ----------------------------------------------------------


def test_verification_is_on_and_a_bundle_only_adds_a_ca(tmp_path: Path) -> None:
    assert policy_session(config(), "salesforce").verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    assert policy_session(config(requests_ca_bundle=str(bundle)), "salesforce").verify == str(
        bundle
    )
    with pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE"):
        policy_session(config(requests_ca_bundle=str(tmp_path / "missing.pem")), "salesforce")
    with pytest.raises(ConfigurationError, match="cannot be switched off"):
        PolicySession(name="t", max_rps=1, verify=False)


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
    with policy_session(config(), "salesforce") as reusing:
        for _ in range(3):
            reusing.get(f"{server.url}/x")
    assert len(set(server.peers)) == 1
    server.peers.clear()
    client = policy_session(config(), "salesforce", keep_alive=False)
    with client:
        for _ in range(3):
            client.request("GET", f"{server.url}/x")
    assert server.requests[-1][2].get("Connection") == "close"
    assert len(set(server.peers)) == 3  # the test server says nothing, yet none is reused


def test_an_exported_ca_bundle_does_not_replace_the_sessions_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import certifi

    from sandbox.certs import ensure_certificates

    certs = ensure_certificates(tmp_path / "certs")
    tls_server = ScriptedServer(tls=(certs.cert, certs.key))
    tls_server.script = [OK]
    try:
        # requests alone would pick the exported variable over the session's verify.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
        untrusting = policy_session(config(requests_ca_bundle=None), "salesforce")
        assert untrusting.verify is True
        with untrusting, pytest.raises(TlsError):
            untrusting.get(f"{tls_server.url}/x")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
        with policy_session(config(requests_ca_bundle=str(certs.ca)), "salesforce") as trusting:
            assert trusting.get(f"{tls_server.url}/x").status_code == 200
    finally:
        tls_server.stop()


def test_no_caller_can_switch_verification_off_or_bypass_the_adapter(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.script = [OK]
    with policy_session(config(), "salesforce") as session:
        with pytest.raises(ConfigurationError, match="cannot be switched off"):
            session.get(f"{server.url}/x", verify=False)
        with pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE"):
            session.get(f"{server.url}/x", verify=str(tmp_path / "other.pem"))
        with pytest.raises(ConfigurationError, match="policy adapter"):
            session.mount("https://", requests.adapters.HTTPAdapter())
        with pytest.raises(ConfigurationError, match="cannot be switched off"):
            session.verify = False
        assert session.verify is True
        with pytest.raises(ConfigurationError, match="cannot be replaced"):
            session.verify = str(tmp_path / "other.pem")
    assert server.requests == []


def test_default_timeouts_apply_and_a_callers_own_wins(server: ScriptedServer) -> None:
    server.script = ["hang"]
    sleeps = Sleeps()
    settings = config(http_timeout_s=0.2, http_max_attempts=2)
    with client_for(settings, sleeps) as session:
        assert session.timeout == (2.0, 0.2)
        with pytest.raises(ServiceUnavailable, match="ReadTimeout") as raised:
            session.get(f"{server.url}/x")
        assert raised.value.unreachable is True
        assert session.requests_sent == 2
        assert session.get(f"{server.url}/x", timeout=5).status_code == 200


def test_invalid_urls_are_http_errors() -> None:
    with policy_session(config(), "salesforce") as session:
        with pytest.raises(HttpError, match="invalid URL"):
            session.get("salesforce.example.com/services")
        with pytest.raises(HttpError, match="invalid URL"):
            session.get("ftp://127.0.0.1/x")


def test_an_api_slots_in_with_its_settings_group_and_its_rate() -> None:
    # Each API's group brings its `max_rps`; nothing else changes.
    session = policy_session(config(servicefusion_max_rps=0.5), "servicefusion")
    assert session.name == "servicefusion"
    assert (session.limiter.rate.limit, session.limiter.rate.interval) == (1, 2000)
    assert policy_session(config(salesforce_max_rps=3), "salesforce").limiter.rate.limit == 3
    assert policy_session(config(), "propertyware").limiter.rate.limit == 2  # its default
    # A group without a rate (a database: the dispatch source) is not an API.
    with pytest.raises(ConfigurationError, match="DISPATCH_MAX_RPS"):
        policy_session(config(), "dispatch")


# -- every way of sending -----------------------------------------------------------


def test_send_of_a_prepared_request_goes_through_the_policies(server: ScriptedServer) -> None:
    # dlt's RESTClient and zeep prepare requests themselves and call `send`.
    server.script = [UNAVAILABLE, OK]
    sleeps = Sleeps()
    with policy_session(config(), "salesforce", keep_alive=False, sleep=sleeps) as session:
        prepared = requests.Request("POST", f"{server.url}/x", data=b"<a/>").prepare()
        response = session.send(prepared)
    assert response.status_code == 200
    assert session.requests_sent == 2 and len(sleeps) == 1
    assert [body for *_, body in server.requests] == [b"<a/>", b"<a/>"]
    # Built outside the session, so none of its headers: the adapter still adds it.
    assert all(headers.get("Connection") == "close" for _, _, headers, _ in server.requests)


def test_response_hooks_see_only_the_final_answer(server: ScriptedServer) -> None:
    server.script = [UNAVAILABLE, (429, {"Retry-After": "0"}, "{}"), OK]
    seen: list[int] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        seen.append(response.status_code)

    with client_for(config(), Sleeps()) as session:
        session.get(f"{server.url}/x", hooks={"response": [record]})
    assert seen == [200] and session.requests_sent == 3


def test_a_hook_that_sends_again_through_the_connection_is_governed_too(
    server: ScriptedServer,
) -> None:
    # dlt's session renewal (extract/salesforce.py) re-sends from a response hook.
    server.script = [(401, {}, "{}"), UNAVAILABLE, OK]
    sleeps = Sleeps()

    def renew(response: requests.Response, *_args: Any, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        assert response.connection is not None
        return response.connection.send(response.request.copy(), **kwargs)

    with client_for(config(), sleeps) as session:
        response = session.get(f"{server.url}/x", hooks={"response": [renew]})
    assert response.status_code == 200
    assert session.requests_sent == 3 and len(sleeps) == 1


def _parse(source: str, filename: str) -> ast.Module:
    """`ast.parse`, once more on CPython 3.11's "AST constructor recursion depth
    mismatch" (gh-106905, fixed in 3.11.8): a spurious SystemError while other threads of
    the process (this module's test servers) run; a real syntax error still raises."""
    try:
        return ast.parse(source, filename=filename)
    except SystemError:
        return ast.parse(source, filename=filename)


def test_only_common_http_imports_the_policy_libraries() -> None:
    """One retry library, one rate limiter, one breaker, and no second HTTP stack."""
    root = Path(__file__).resolve().parents[2]
    policy = {"tenacity", "pyrate_limiter", "pybreaker"}
    # The rate limiter has a module of its own (it keeps the allowance in the warehouse).
    allowed = {"common/http.py": policy, "common/rate_limit.py": {"pyrate_limiter"}}
    # dlt's own retrying session: a second retry policy.
    second_stack = {"dlt.sources.helpers.requests"}
    offenders: list[str] = []
    for package in ("common", "extract", "reverse_etl"):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            for node in ast.walk(_parse(path.read_text(), relative)):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if (top in policy and top not in allowed.get(relative, ())) or any(
                        name == s or name.startswith(f"{s}.") for s in second_stack
                    ):
                        offenders.append(f"{relative}:{node.lineno} imports {name}")
    assert offenders == []
    # The walk does see imports (a check that cannot fail proves nothing).
    assert "pybreaker" in (root / "common" / "http.py").read_text()
    assert "pyrate_limiter" in (root / "common" / "rate_limit.py").read_text()


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


# -- retry lines for a terminal ----------------------------------------------------


def test_each_retry_is_one_short_line_for_a_terminal(server: ScriptedServer) -> None:
    from common.http import retry_lines

    server.script = [UNAVAILABLE, OK]
    lines: list[str] = []
    quick = config(http_backoff_initial_s=0)  # no jitter: the wait reads 0.0 s
    with retry_lines(lines.append), policy_session(quick, "salesforce", sleep=Sleeps()) as s:
        assert s.get(f"{server.url}/x").status_code == 200
    assert lines == ["warning: salesforce: attempt 1 failed (HTTP 503); retrying in 0.0 s"]

    # Nobody listens: the innermost reason, not the chain of wrappers around it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    lines.clear()
    with (
        retry_lines(lines.append),
        policy_session(
            config(http_max_attempts=2, http_backoff_initial_s=0), "salesforce", sleep=Sleeps()
        ) as s,
        pytest.raises(ServiceUnavailable),
    ):
        s.get(f"http://127.0.0.1:{dead}/x")
    assert lines == [
        "warning: salesforce: attempt 1 failed (Connection refused); retrying in 0.0 s"
    ]

    # Outside the block nothing is handed on.
    server.script = [UNAVAILABLE, OK]
    with policy_session(config(), "salesforce", sleep=Sleeps()) as s:
        s.get(f"{server.url}/x")
    assert len(lines) == 1


def test_sessions_to_one_api_share_its_rate_limit_in_a_process() -> None:
    # A chain builds one session per pass; back to back, they must not each get a
    # fresh allowance. 4 requests/s is a burst of 4 a second: the fifth slot, taken
    # by the second session, waits for the next second.
    first = PolicySession(name="shared-limit-test", max_rps=4)
    second = PolicySession(name="shared-limit-test", max_rps=4)
    other_api = PolicySession(name="another-api-test", max_rps=4)
    assert first.limiter is second.limiter
    assert other_api.limiter is not first.limiter
    started = time.monotonic()
    for _ in range(4):
        first.limiter.acquire()
    assert time.monotonic() - started < 0.5
    second.limiter.acquire()
    assert time.monotonic() - started >= 0.5


# -- the rate limit across processes (the shared allowance itself is
# tests/integration/test_rate_limit_shared.py's, on a real warehouse) -----------------


def test_without_a_reachable_warehouse_the_limit_holds_in_the_process_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    settings = config(
        http_rate_limit_shared=True, pghost="127.0.0.1", pgport=dead,
        pgpassword="pg-secret-7f3e",
    )
    with caplog.at_level(logging.WARNING, logger="common.http"):
        session = policy_session(settings, "salesforce")
    assert session.limiter.shared is False
    assert isinstance(session.limiter, RateLimiter)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("salesforce: rate limit held in this process only: the ")
    assert f"127.0.0.1:{dead}" in lines[0] and "pg-secret-7f3e" not in lines[0]
    # Once per process and API: the next session reuses the decision, silently.
    assert policy_session(settings, "salesforce").limiter is session.limiter
    assert len(caplog.records) == 1


def test_with_the_shared_allowance_off_no_warehouse_is_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The default warehouse settings (the embedded cluster) may well be up: off means
    # not asking it, so nothing is logged either way.
    with caplog.at_level(logging.WARNING, logger="common.http"):
        session = policy_session(config(salesforce_max_rps=7), "salesforce")
    assert session.limiter.shared is False and caplog.records == []
    assert session.limiter is policy_session(config(salesforce_max_rps=7), "salesforce").limiter
