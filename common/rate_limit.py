"""Client-side rate limits, one per API, held across processes through the warehouse.

`<API>_MAX_RPS` is the API's rate, not one process's: two pushers, or a pusher and an
extract, talking to Salesforce at once must together stay under `SALESFORCE_MAX_RPS`.
So when the warehouse can be reached (and `HTTP_RATE_LIMIT_SHARED` is on, the default)
each API's allowance lives there, in pyrate-limiter's `PostgresBucket`: one table per
API in the schema `rate_limits`, which this module creates itself (extract/ and
reverse_etl/ both use it and share only common/; the table holds nothing but request
times, so no migration has to know it).

`PostgresBucket` counts and then inserts in two statements, which two processes could
interleave. The processes therefore take turns: one acquire at a time per API holds a
transaction-level advisory lock while it waits for its slot and records it, and the
time it records is the warehouse's (pyrate's `PostgresClock`), so hosts whose clocks
disagree still share one timeline. A process that crashes mid-turn loses its
connection and with it the lock.

Without a reachable warehouse the limit holds within the process only, and the
process says so in one warning; the same happens, for the rest of the run, if the
warehouse fails later (the requests go on at the rate, never unthrottled).

This module and common/http.py are the only ones that import pyrate-limiter.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import re
import threading
from collections.abc import Iterator

import psycopg
import psycopg_pool
from pyrate_limiter import (
    AbstractBucket,
    AbstractClock,
    BucketFactory,
    InMemoryBucket,
    Limiter,
    LimiterDelayException,
    MonotonicClock,
    PostgresBucket,
    PostgresClock,
    Rate,
    RateItem,
)
from pyrate_limiter.buckets.postgres import Queries

from common.redaction import RedactingFilter, redact
from common.settings import Settings

log = logging.getLogger("common.http")
log.addFilter(RedactingFilter())

POOL_PREFIX = "rate-limit-"


class _QuietPools(logging.Filter):
    """psycopg's pool logs each failed reconnection of our pools (a dozen warnings while
    a lost warehouse is found out, on stderr when nothing handles them); what the user
    needs of it is this module's one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"'{POOL_PREFIX}" not in record.getMessage()


logging.getLogger("psycopg.pool").addFilter(_QuietPools())

SCHEMA = "rate_limits"
# Advisory-lock keys (hashtextextended of these), apart from every other lock's.
_TURN_KEY = "common.rate_limit.turn:{api}"
_SETUP_KEY = "common.rate_limit.setup"
# A turn lasts at most one rate interval; longer means a process hangs holding it.
LOCK_TIMEOUT_S = 120
CONNECT_TIMEOUT_S = 5


class RateLimitError(RuntimeError):
    """No slot could be granted (a broken clock, or a process holding the turn)."""


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

    def __init__(self, bucket: AbstractBucket, clock: AbstractClock) -> None:
        self.bucket = bucket
        self.clock = clock

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, int(self.clock.now()), weight=weight)  # type: ignore[arg-type]

    def get(self, _item: RateItem) -> AbstractBucket:
        return self.bucket


class RateLimiter:
    """Blocks the caller until the rate allows one more request (within this process)."""

    # Small safety margin pyrate adds to every computed wait, so a request never lands
    # a millisecond early in the server's window.
    BUFFER_MS = 10
    shared = False

    def __init__(
        self,
        max_rps: float,
        clock: AbstractClock | None = None,
        bucket: AbstractBucket | None = None,
    ) -> None:
        self.rate = rate_for(max_rps)
        self._clock = clock or MonotonicClock()
        self._bucket = bucket or InMemoryBucket([self.rate])
        self._turn = threading.Lock()
        self._limiter = Limiter(
            _SingleBucket(self._bucket, self._clock),
            # Bounded so that a broken clock raises instead of hanging; one caller
            # never has to wait more than one interval once it has the turn.
            max_delay=2 * self.rate.interval + 1000,
            retry_until_max_delay=True,
            buffer_ms=self.BUFFER_MS,
        )

    def acquire(self) -> None:
        # One caller at a time (sessions of several threads share a limiter): a
        # waiter holds the turn while it sleeps, so slots go out in order.
        with self._turn:
            self._grant()

    def _grant(self) -> None:
        # Forget requests older than the window so the bucket stays small.
        self._bucket.leak(int(self._clock.now()))  # type: ignore[arg-type]
        try:
            acquired = self._limiter.try_acquire("request")
        except LimiterDelayException as error:
            raise RateLimitError(
                f"client-side rate limiter could not grant a slot: {error}"
            ) from None
        if not acquired:
            raise RateLimitError("client-side rate limiter could not grant a slot")


class _WarehouseBucket(PostgresBucket):
    """pyrate's Postgres bucket, in our schema rather than the search path's."""

    def _create_table(self) -> None:
        self._full_tbl = f"{SCHEMA}.ratelimit___{self.table}"
        with self._get_conn() as conn, conn.transaction():
            # Two processes starting together would race on `create ... if not exists`.
            conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (_SETUP_KEY,))
            conn.execute(f"create schema if not exists {SCHEMA}")
            # pyrate's own statements, in the same transaction as the schema.
            conn.execute(Queries.CREATE_BUCKET_TABLE.format(table=self._full_tbl))
            conn.execute(Queries.CREATE_INDEX_ON_TIMESTAMP.format(
                table=self._full_tbl, index=f"timestampIndex_{self.table}"
            ))


class WarehouseRateLimiter(RateLimiter):
    """The API's allowance kept in the warehouse: every process using that warehouse
    takes its slots from it. Falls back to `RateLimiter` if the warehouse fails."""

    shared = True

    def __init__(self, api: str, max_rps: float, pool: psycopg_pool.ConnectionPool) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", api):
            raise ValueError(f"not an API name: {api!r}")
        self.api = api
        self._pool = pool
        self._turn_key = _TURN_KEY.format(api=api)
        bucket = _WarehouseBucket(pool, api, [rate_for(max_rps)])
        super().__init__(max_rps, clock=PostgresClock(pool), bucket=bucket)
        self._max_rps = max_rps
        self._fallback: RateLimiter | None = None

    def acquire(self) -> None:
        with self._turn:
            if self._fallback is None:
                try:
                    with self._shared_turn():
                        self._grant()
                    return
                except psycopg.errors.LockNotAvailable:
                    raise RateLimitError(
                        f"{self.api}: another process has held the shared rate limit for "
                        f"more than {LOCK_TIMEOUT_S} s"
                    ) from None
                except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
                    log.warning(
                        "%s: rate limit held in this process only from now on: the "
                        "warehouse failed (%s)", self.api, redact(_first_line(error)),
                    )
                    self._fallback = RateLimiter(self._max_rps)
                    # Stop its reconnection attempts; nothing asks it again.
                    self._pool.close(timeout=0)
            self._fallback.acquire()

    @contextlib.contextmanager
    def _shared_turn(self) -> Iterator[None]:
        """This process's turn at the API's allowance, for as long as the block runs."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._turn_key,)
            )
            yield


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


_LIMITERS: dict[tuple[str, float, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(api: str, max_rps: float, settings: Settings | None = None) -> RateLimiter:
    """The limiter of one API at one rate: every session of the process to that API
    takes its slots from it, and with `settings` whose warehouse answers (and
    HTTP_RATE_LIMIT_SHARED on), so does every other process using that warehouse."""
    warehouse = (
        settings.warehouse.dsn() if settings is not None and settings.http.rate_limit_shared
        else ""
    )
    key = (api, max_rps, warehouse)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = _new_limiter(api, max_rps, settings if warehouse else None)
        return limiter


def _new_limiter(api: str, max_rps: float, settings: Settings | None) -> RateLimiter:
    if settings is None:
        return RateLimiter(max_rps)
    label = settings.warehouse.label()
    conninfo = settings.warehouse.dsn()
    try:
        # Fail fast and plainly when nothing answers, before a pool starts retrying.
        psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S).close()
        pool = _pool(conninfo, api)
        try:
            return WarehouseRateLimiter(api, max_rps, pool)
        except BaseException:
            pool.close()
            raise
    except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
        log.warning(
            "%s: rate limit held in this process only: the warehouse %s cannot keep it "
            "(%s)", api, label, redact(_first_line(error)),
        )
        return RateLimiter(max_rps)


def _pool(conninfo: str, api: str) -> psycopg_pool.ConnectionPool:
    pool = psycopg_pool.ConnectionPool(
        conninfo,
        # One connection holds the turn, one counts and records; none kept when idle,
        # so a process holds no connection between runs of requests.
        min_size=0,
        max_size=2,
        max_idle=60,
        # A lost warehouse is known after this long (then the process keeps the limit).
        timeout=CONNECT_TIMEOUT_S,
        name=f"{POOL_PREFIX}{api}",
        # A connection the warehouse dropped (a restart) is replaced, not reused.
        check=psycopg_pool.ConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            # PostgresBucket stores `timestamp` and reads it back as epoch: UTC keeps
            # the two the same instant whatever the server's zone.
            "options": f"-c TimeZone=UTC -c lock_timeout={LOCK_TIMEOUT_S}s",
            "application_name": f"propsync rate limit ({api})",
        },
        open=True,
    )
    atexit.register(pool.close)
    return pool
