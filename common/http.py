"""One HTTP session factory for every destination.

Every request the pusher sends goes through `HttpClient.request`, which layers, from
the outside in:

- retries (tenacity) on 429, 5xx and connection errors, with exponential backoff and
  jitter, honouring `Retry-After` up to `HTTP_RETRY_AFTER_MAX_S`;
- a circuit breaker (pybreaker) counting consecutive failed attempts (5xx and
  connection errors; a 429 proves the service is alive, so it does not count), so a
  dead service stops the pass after a handful of attempts instead of a full backoff
  schedule per batch;
- a client-side rate limiter (pyrate-limiter) that blocks until a slot is free, so
  the pusher stays under the destination's limit instead of provoking 429s;
- TLS verification that is always on (`REQUESTS_CA_BUNDLE` may add a CA, nothing
  can switch it off), connect and read timeouts.

Non-retryable answers (2xx, other 4xx) are returned to the caller, which knows the
destination's error shapes. Secrets never leave this module in clear: every message
of `HttpError` and every log line passes through `redact`.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pybreaker
import requests
from pyrate_limiter import (
    AbstractClock,
    BucketFactory,
    InMemoryBucket,
    Limiter,
    LimiterDelayException,
    MonotonicClock,
    Rate,
    RateItem,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from common.redaction import RedactingFilter, redact, register_secrets
from common.settings import ConfigurationError, Settings

log = logging.getLogger("common.http")

USER_AGENT = "propsync-reverse-etl/0.1"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


log.addFilter(RedactingFilter())


# -- errors ---------------------------------------------------------------------------


class HttpError(RuntimeError):
    """A request could not be completed; the message is already redacted."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ServiceUnavailable(HttpError):
    """Retries exhausted or the service unreachable: the pass must stop (exit 3)."""


class CircuitOpen(ServiceUnavailable):
    """Too many consecutive failures: no further request is sent for a while."""


class TlsError(HttpError):
    """The server's certificate is not trusted; a configuration problem, not retried."""

    exit_code = 2


class _RetryableFailure(Exception):
    def __init__(self, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


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


# -- rate limiting --------------------------------------------------------------------


def rate_for(max_rps: float) -> Rate:
    """The pyrate-limiter Rate that allows at most `max_rps` requests a second.

    A whole number of requests per second allows that burst within each second;
    a fractional rate becomes one request every 1/rps seconds.
    """
    if max_rps <= 0:
        raise ValueError("max_rps must be positive")
    limit = max(1, math.floor(max_rps))
    interval_ms = math.ceil(1000 * limit / max_rps)
    return Rate(limit, interval_ms)


class _SingleBucket(BucketFactory):
    """One bucket, leaked by the caller: pyrate's default factory starts a background
    leaker thread per limiter, which we neither need nor can stop cleanly."""

    def __init__(self, bucket: InMemoryBucket, clock: AbstractClock) -> None:
        self.bucket = bucket
        self.clock = clock

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, int(self.clock.now()), weight=weight)  # type: ignore[arg-type]

    def get(self, _item: RateItem) -> InMemoryBucket:
        return self.bucket


class RateLimiter:
    """Blocks the caller until the rate allows one more request."""

    # Small safety margin pyrate adds to every computed wait, so a request never lands
    # a millisecond early in the server's window.
    BUFFER_MS = 10

    def __init__(self, max_rps: float, clock: AbstractClock | None = None) -> None:
        self.rate = rate_for(max_rps)
        self._clock = clock or MonotonicClock()
        self._bucket = InMemoryBucket([self.rate])
        self._limiter = Limiter(
            _SingleBucket(self._bucket, self._clock),
            # Bounded so that a broken clock raises instead of hanging; one thread
            # never has to wait more than one interval.
            max_delay=2 * self.rate.interval + 1000,
            retry_until_max_delay=True,
            buffer_ms=self.BUFFER_MS,
        )

    def acquire(self) -> None:
        # Forget requests older than the window so the bucket stays small.
        self._bucket.leak(int(self._clock.now()))  # type: ignore[arg-type]
        try:
            acquired = self._limiter.try_acquire("request")
        except LimiterDelayException as error:
            raise HttpError(f"client-side rate limiter could not grant a slot: {error}") from None
        if not acquired:
            raise HttpError("client-side rate limiter could not grant a slot")


# -- the client -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0


class HttpClient:
    """A `requests.Session` with the policies above; counts every request it sends."""

    def __init__(
        self,
        *,
        name: str,
        verify: str | bool,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_rps: float,
        retry: RetryPolicy,
        breaker_fail_max: int,
        breaker_reset_s: float,
        keep_alive: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: AbstractClock | None = None,
    ) -> None:
        if verify is False:  # a guard against future edits, not a reachable path
            raise ConfigurationError("TLS verification cannot be switched off")
        self.name = name
        self.verify = verify
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry
        self.requests_sent = 0
        self.retries = 0
        self._sleep = sleep
        self.limiter = RateLimiter(max_rps, clock=clock)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset_s,
            exclude=[_Throttled],
            name=name,
        )
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if not keep_alive:
            # Some services hang on reused sockets; one connection per request.
            self.session.headers["Connection"] = "close"

    # The whole retry loop: returns the first non-retryable response.
    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        retrying = Retrying(
            stop=self._should_stop,
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableFailure),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self.breaker.call, self._attempt, method, url, **kwargs)
        except pybreaker.CircuitBreakerError as error:
            # On the tripping call the failure that tripped it is the context; on later
            # calls the circuit was already open and nothing was sent.
            cause = error.__context__
            last = cause.description if isinstance(cause, _RetryableFailure) else "none sent"
            raise CircuitOpen(
                f"{self.name}: circuit open after {self.breaker.fail_max} consecutive failed "
                f"requests; not sending more (last failure: {last})"
            ) from None
        except _RetryableFailure as failure:
            if (
                failure.retry_after is not None
                and failure.retry_after > self.retry.retry_after_max_s
            ):
                raise ServiceUnavailable(
                    f"{self.name}: {failure.description}; the server asks to wait "
                    f"{failure.retry_after:.0f} s, more than HTTP_RETRY_AFTER_MAX_S="
                    f"{self.retry.retry_after_max_s:.0f}"
                ) from None
            raise ServiceUnavailable(
                f"{self.name}: gave up after {self.retry.max_attempts} attempts: "
                f"{failure.description}"
            ) from None

    def _attempt(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.limiter.acquire()
        self.requests_sent += 1
        try:
            response = self.session.request(
                method, url, timeout=self.timeout, verify=self.verify, **kwargs
            )
        except requests.exceptions.SSLError as error:
            raise TlsError(
                f"{self.name}: TLS verification failed for {_path_of(url)} ({error}); "
                "set REQUESTS_CA_BUNDLE to the CA that signed the server's certificate"
            ) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as error:
            raise HttpError(f"{self.name}: invalid URL {_path_of(url)!r}: {error}") from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            raise _ConnectionFailed(
                f"{method} {_path_of(url)}: {type(error).__name__}: {_short(error)}"
            ) from None
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            kind = _Throttled if response.status_code == 429 else _ServerError
            raise kind(redact(_describe(response)), retry_after)
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
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            self.name,
            state.attempt_number,
            failure,
            wait,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "..."


def make_client(
    settings: Settings,
    *,
    name: str,
    max_rps: float,
    keep_alive: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: AbstractClock | None = None,
) -> HttpClient:
    """The session factory: every destination builds its client here."""
    register_secrets(settings)
    http = settings.http
    verify: str | bool = True
    if http.requests_ca_bundle:
        if not Path(http.requests_ca_bundle).is_file():
            raise ConfigurationError(f"REQUESTS_CA_BUNDLE: no such file: {http.requests_ca_bundle}")
        verify = http.requests_ca_bundle
    return HttpClient(
        name=name,
        verify=verify,
        connect_timeout_s=http.connect_timeout_s,
        read_timeout_s=http.timeout_s,
        max_rps=max_rps,
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
    )
