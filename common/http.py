"""One HTTP policy stack for every client of the project: `PolicySession`.

`PolicySession` is a `requests.Session`, so the pusher uses it directly, dlt's
`RESTClient` and its OAuth2 helpers take it as their `session`, and zeep takes it
as `Transport(session=...)`. Each attempt, from the outside in:

- retries (tenacity) on 429, 5xx and connection errors, with exponential backoff and
  jitter, honouring `Retry-After` up to `HTTP_RETRY_AFTER_MAX_S`;
- a circuit breaker (pybreaker) counting consecutive failed attempts (5xx and
  connection errors; a 429 proves the service is alive, so it does not count), so a
  dead service stops the run after a handful of attempts instead of a full backoff
  schedule per request;
- a client-side rate limiter (pyrate-limiter, common/rate_limit.py), one per API
  (`<API>_MAX_RPS`), that blocks until a slot is free, so clients stay under the
  service's limit instead of provoking 429s; the sessions of `policy_session` share
  it with every process using the same warehouse;
- TLS verification that is always on: the CA bundle is the settings' one
  (`REQUESTS_CA_BUNDLE`, read once by common.settings), an exported variable cannot
  replace it and no caller can switch it off; default connect and read timeouts;
  optionally `Connection: close` for services that hang on reused sockets.

The policies sit in the session's HTTP(S) adapter rather than in `Session.send`,
because that is the one place every request passes exactly once per attempt:
`request`/`get`/`post`, `send(prepared)` (dlt, zeep), each redirect hop, and
response hooks that re-send through `response.connection` (dlt's token renewal).
Response hooks therefore see only the final answer, never a 503 that is about to be
retried. Non-retryable answers (2xx, other 4xx) are returned to the caller, which
knows the service's error shapes. Secrets never leave this module in clear: every
message of `HttpError` and every log line passes through `common.redaction.redact`.

This is the only module that imports tenacity and pybreaker, and with
common/rate_limit.py the only one that imports pyrate-limiter (tests/unit/test_http.py
checks it).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pybreaker
import requests
from pyrate_limiter import AbstractClock
from requests.adapters import BaseAdapter, HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

# The limiter's home is common.rate_limit; its names stay importable from here.
from common.rate_limit import RateLimiter as RateLimiter
from common.rate_limit import RateLimitError
from common.rate_limit import rate_for as rate_for
from common.rate_limit import shared_limiter as shared_limiter
from common.redaction import RedactingFilter, redact, register_secrets
from common.settings import ConfigurationError, Settings

log = logging.getLogger("common.http")
log.addFilter(RedactingFilter())

USER_AGENT = "propsync/0.1"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


# -- errors ---------------------------------------------------------------------------


class HttpError(RuntimeError):
    """A request could not be completed; the message is already redacted.

    `detail` is the message without the `<api>: ` prefix, for callers that name the
    service in their own words.
    """

    exit_code = 3

    def __init__(self, detail: str, *, api: str | None = None) -> None:
        self.api = api
        self.detail = redact(detail)
        super().__init__(f"{api}: {self.detail}" if api else self.detail)


class ServiceUnavailable(HttpError):
    """Retries exhausted or the service unreachable: the run must stop (exit 3).

    `unreachable` is true when the last attempt got no answer at all (refused, reset,
    timed out), as opposed to an answer that kept saying 5xx or 429.
    """

    def __init__(self, detail: str, *, api: str | None = None, unreachable: bool = False) -> None:
        super().__init__(detail, api=api)
        self.unreachable = unreachable


class CircuitOpen(ServiceUnavailable):
    """Too many consecutive failures: no further request is sent for a while."""


class TlsError(HttpError):
    """The server's certificate is not trusted; a configuration problem, not retried."""

    exit_code = 2


class _RetryableFailure(Exception):
    def __init__(
        self, description: str, retry_after: float | None = None, gist: str | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after
        # What failed in a few words ("HTTP 503", "Connection refused"), for a terminal.
        self.gist = gist or description.splitlines()[0]


class _Throttled(_RetryableFailure):
    """429: the service is alive and asks us to slow down."""


class _ServerError(_RetryableFailure):
    """5xx."""


class _ConnectionFailed(_RetryableFailure):
    """Reset, refused, timed out, or the body was cut off."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _describe(response: requests.Response) -> str:
    body = (response.text or "").strip().replace("\n", " ")
    return f"HTTP {response.status_code} from {_path_of(response.url)}: {body[:300]}"


def _path_of(url: str | None) -> str:
    # Query strings may carry SOQL or, for some APIs, keys: show host and path only.
    return (url or "").split("?", 1)[0]


def _reason(error: BaseException) -> BaseException:
    # urllib3 wraps the socket error in "Max retries exceeded with url", which reads as
    # if urllib3 had retried; it never does here (tenacity does).
    inner = error.args[0] if error.args else None
    reason = getattr(inner, "reason", None)
    return reason if isinstance(reason, BaseException) else error


def _gist(error: BaseException) -> str:
    """The innermost reason of a connection failure, without its errno prefix."""
    innermost = str(error).rsplit(": ", 1)[-1]
    return re.sub(r"^\[Errno -?\d+\]\s*", "", innermost).strip() or type(error).__name__


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "..."


# -- the session ----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0


# What `requests` accepts as `timeout`: seconds, (connect, read), or None.
_Timeout = float | tuple[float | None, float | None] | None


class PolicySession(requests.Session):
    """A `requests.Session` whose every HTTP(S) request goes through the policies.

    `requests_sent` counts every attempt that reached the network layer (retries and
    token requests included); `retries` counts the waits between attempts.
    """

    def __init__(
        self,
        *,
        name: str,
        max_rps: float,
        verify: str | bool = True,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 90.0,
        retry: RetryPolicy | None = None,
        breaker_fail_max: int = 5,
        breaker_reset_s: float = 60.0,
        keep_alive: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: AbstractClock | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self._trusted: str | bool = self._checked(verify)
        super().__init__()  # assigns `verify = True`, which the property ignores
        self.timeout: tuple[float, float] = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self.keep_alive = keep_alive
        self.requests_sent = 0
        self.retries = 0
        self._sleep = sleep
        # One limiter per API and rate in a process (unless a test brings its own
        # clock): a chain builds a session per pass, and back-to-back passes to one
        # API must not each start with a full allowance. `policy_session` brings the
        # one shared through the warehouse.
        if clock is not None:
            self.limiter = RateLimiter(max_rps, clock=clock)
        else:
            self.limiter = limiter or shared_limiter(name, max_rps)
        self._rate_wait_s = 0.0
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset_s,
            exclude=[_Throttled],
            name=name,
        )
        self.headers["User-Agent"] = USER_AGENT
        self._policy_adapter = _PolicyAdapter(self)
        self.mount("https://", self._policy_adapter)
        self.mount("http://", self._policy_adapter)

    # -- keeping every request on the policy adapter and the settings' CA ---------------

    @property
    def rate_wait_s(self) -> float:
        """Seconds this session's requests waited for the client-side rate limit."""
        return self._rate_wait_s

    @property  # type: ignore[override]
    def verify(self) -> str | bool:
        return self._trusted

    @verify.setter
    def verify(self, value: Any) -> None:
        if value is not True and value != self._trusted:
            self._checked(value)
            raise ConfigurationError(
                f"{self.name}: the CA bundle is REQUESTS_CA_BUNDLE's; it cannot be replaced"
            )

    def _checked(self, verify: Any) -> str | bool:
        if verify is False:
            raise ConfigurationError(f"{self.name}: TLS verification cannot be switched off")
        return verify

    def mount(self, prefix: str, adapter: BaseAdapter) -> None:
        # zeep mounts a file:// adapter, which is fine; an HTTP(S) adapter of its own
        # would bypass every policy.
        policy = getattr(self, "_policy_adapter", None)
        if policy is not None and prefix.lower().startswith("http") and adapter is not policy:
            raise ConfigurationError(
                f"{self.name}: HTTP(S) requests must go through the policy adapter; "
                f"cannot mount {type(adapter).__name__} for {prefix!r}"
            )
        super().mount(prefix, adapter)

    def merge_environment_settings(
        self,
        url: str,
        proxies: Mapping[str, str] | None,
        stream: bool | None,
        verify: Any,
        cert: Any,
    ) -> dict[str, Any]:
        # requests would let an exported REQUESTS_CA_BUNDLE replace the session's
        # bundle; the settings already merged that variable into ours.
        merged = super().merge_environment_settings(
            url,
            proxies,  # type: ignore[arg-type]
            stream,
            verify,
            cert,
        )
        merged["verify"] = self.trusted_ca(verify)
        return merged

    def trusted_ca(self, requested: Any = None) -> str | bool:
        """What verifies the server: the session's CA whatever the caller asks for."""
        if requested is None or requested is True or requested == self._trusted:
            return self._trusted
        self._checked(requested)
        raise ConfigurationError(
            f"{self.name}: the CA bundle is REQUESTS_CA_BUNDLE's; a request cannot name "
            f"another one ({requested!r})"
        )

    # Invalid URLs fail in `prepare_request` or `get_adapter`, before the adapter: one
    # HttpError for them too, so callers catch one family.
    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        try:
            return super().request(method, url, *args, **kwargs)
        except _INVALID_URL as error:
            raise HttpError(f"invalid URL {_path_of(str(url))!r}: {error}", api=self.name) from None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        try:
            return super().send(request, **kwargs)
        except _INVALID_URL as error:
            raise HttpError(
                f"invalid URL {_path_of(request.url)!r}: {error}", api=self.name
            ) from None

    # -- the retry loop, called by the adapter with one way to send an attempt ----------

    def _with_policies(
        self, request: requests.PreparedRequest, send_once: Callable[[], requests.Response]
    ) -> requests.Response:
        retrying = Retrying(
            stop=self._should_stop,
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableFailure),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self.breaker.call, self._attempt, request, send_once)
        except pybreaker.CircuitBreakerError as error:
            # On the tripping call the failure that tripped it is the context; on later
            # calls the circuit was already open and nothing was sent.
            cause = error.__context__
            last = cause.description if isinstance(cause, _RetryableFailure) else "none sent"
            raise CircuitOpen(
                f"circuit open after {self.breaker.fail_max} consecutive failed "
                f"requests; not sending more (last failure: {last})",
                api=self.name,
                unreachable=isinstance(cause, _ConnectionFailed) or cause is None,
            ) from None
        except _RetryableFailure as failure:
            unreachable = isinstance(failure, _ConnectionFailed)
            if (
                failure.retry_after is not None
                and failure.retry_after > self.retry.retry_after_max_s
            ):
                raise ServiceUnavailable(
                    f"{failure.description}; the server asks to wait "
                    f"{failure.retry_after:.0f} s, more than HTTP_RETRY_AFTER_MAX_S="
                    f"{self.retry.retry_after_max_s:.0f}",
                    api=self.name,
                    unreachable=unreachable,
                ) from None
            raise ServiceUnavailable(
                f"gave up after {self.retry.max_attempts} attempts: {failure.description}",
                api=self.name,
                unreachable=unreachable,
            ) from None

    def _attempt(
        self, request: requests.PreparedRequest, send_once: Callable[[], requests.Response]
    ) -> requests.Response:
        waiting_since = time.monotonic()
        try:
            self.limiter.acquire()
        except RateLimitError as error:
            raise HttpError(str(error), api=self.name) from None
        finally:
            self._rate_wait_s += time.monotonic() - waiting_since
        self.requests_sent += 1
        if not self.keep_alive:
            # Here rather than in the session's headers: a request prepared outside the
            # session and handed to `send` carries none of those.
            request.headers["Connection"] = "close"
        try:
            response = send_once()
        except requests.exceptions.SSLError as error:
            raise TlsError(
                f"TLS verification failed for {_path_of(request.url)} ({_short(error)}); "
                "set REQUESTS_CA_BUNDLE to the CA that signed the server's certificate",
                api=self.name,
            ) from None
        except requests.exceptions.InvalidURL as error:
            raise HttpError(
                f"invalid URL {_path_of(request.url)!r}: {error}", api=self.name
            ) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            raise _ConnectionFailed(
                f"{request.method} {_path_of(request.url)}: {type(error).__name__}: "
                f"{_short(_reason(error))}",
                gist=_gist(_reason(error)),
            ) from None
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            kind = _Throttled if response.status_code == 429 else _ServerError
            description = redact(_describe(response))
            response.close()  # back to the pool before the next attempt
            raise kind(description, retry_after, gist=f"HTTP {response.status_code}")
        return response

    def _should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.retry.max_attempts:
            return True
        failure = state.outcome.exception() if state.outcome else None
        retry_after = getattr(failure, "retry_after", None)
        return retry_after is not None and retry_after > self.retry.retry_after_max_s

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        retry_after = getattr(failure, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        if self.retry.backoff_initial_s <= 0:
            return 0.0
        backoff = wait_exponential_jitter(
            multiplier=self.retry.backoff_initial_s,
            max=self.retry.backoff_max_s,
            jitter=self.retry.backoff_initial_s,
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        gist = getattr(failure, "gist", None) or str(failure)
        # The log keeps the whole reason; `retry_line` is what a terminal shows.
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            self.name,
            state.attempt_number,
            failure,
            wait,
            extra={
                RETRY_LINE: redact(
                    f"{self.name}: attempt {state.attempt_number} failed ({gist}); "
                    f"retrying in {wait:.1f} s"
                )
            },
        )

    def __enter__(self) -> PolicySession:
        return self


# The attribute of a retry's log record that holds its one-line form.
RETRY_LINE = "retry_line"


class _RetryLineHandler(logging.Handler):
    def __init__(self, emit: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = getattr(record, RETRY_LINE, None) or record.getMessage().splitlines()[0]
            self._emit(f"{record.levelname.lower()}: {line}")
        except Exception:  # a logging handler must never break the pass
            self.handleError(record)


@contextlib.contextmanager
def retry_lines(emit: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, hand each warning of this module to `emit` as one line.

    For the CLIs: the policies only log; what a terminal shows is the caller's
    choice. Not propagated meanwhile, so a root handler that a library installs does
    not print every retry a second time.
    """
    handler = _RetryLineHandler(emit)
    propagate = log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


_INVALID_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


class _PolicyAdapter(HTTPAdapter):
    """Where every HTTP(S) request of a PolicySession leaves for the network."""

    def __init__(self, session: PolicySession) -> None:
        super().__init__()
        self._session = session

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        session = self._session
        trusted = session.trusted_ca(verify)
        # A caller's own timeout wins (zeep passes one for WSDL downloads); None would
        # mean "wait forever" to requests.
        effective = session.timeout if timeout is None else timeout

        def send_once() -> requests.Response:
            if not session.keep_alive:
                # A server may close after `Connection: close` without saying so in its
                # answer, and urllib3 would then reuse the dead socket: forget every
                # idle connection, so each attempt opens its own.
                self.poolmanager.clear()
                for manager in self.proxy_manager.values():
                    manager.clear()
            return HTTPAdapter.send(
                self,
                request,
                stream=stream,
                timeout=effective,
                verify=trusted,
                cert=cert,
                proxies=proxies,
            )

        return session._with_policies(request, send_once)


def policy_session(
    settings: Settings,
    api: str,
    *,
    keep_alive: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: AbstractClock | None = None,
) -> PolicySession:
    """The session for one API (`salesforce`, ...): its rate from `settings.<api>.max_rps`,
    everything else from `settings.http`."""
    register_secrets(settings)
    group = getattr(settings, api, None)
    max_rps = getattr(group, "max_rps", None)
    if max_rps is None:
        raise ConfigurationError(
            f"no rate limit configured for API {api!r} ({api.upper()}_MAX_RPS)"
        )
    http = settings.http
    # The check of REQUESTS_CA_BUNDLE comes first: a configuration error must not wait
    # on the warehouse.
    verify: str | bool = True
    if http.requests_ca_bundle:
        if not Path(http.requests_ca_bundle).is_file():
            raise ConfigurationError(f"REQUESTS_CA_BUNDLE: no such file: {http.requests_ca_bundle}")
        verify = http.requests_ca_bundle
    return PolicySession(
        name=api,
        max_rps=float(max_rps),
        verify=verify,
        connect_timeout_s=http.connect_timeout_s,
        read_timeout_s=http.timeout_s,
        retry=RetryPolicy(
            max_attempts=http.max_attempts,
            backoff_initial_s=http.backoff_initial_s,
            backoff_max_s=http.backoff_max_s,
            retry_after_max_s=http.retry_after_max_s,
        ),
        breaker_fail_max=http.breaker_fail_max,
        breaker_reset_s=http.breaker_reset_s,
        keep_alive=keep_alive,
        sleep=sleep,
        clock=clock,
        limiter=None if clock is not None else shared_limiter(api, float(max_rps), settings),
    )
