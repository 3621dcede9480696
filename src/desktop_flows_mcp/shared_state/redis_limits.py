"""The fleet's run-start window per connection and its pauses after a 429, each one atomic script in Redis.

The window is a sorted set of start times on Redis's own clock (``TIME``, microseconds), so replicas whose
clocks differ still count one window: the script drops starts older than the window, takes a slot if fewer
than the limit remain, and otherwise answers exactly how long until the oldest leaves.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..call_scope import SHARED, current_owner, owned
from ..clock import SYSTEM_CLOCK, Clock
from ..dataverse.resilience import CALLER_SHARE, share_full, window_full
from ..errors import DesktopFlowsError
from .redis_state import describe, fail_closed

log = logging.getLogger("desktop_flows_mcp")
QUIET_SECONDS = 5.0
STORE_SECONDS = 0.5  # Redis answers in about a millisecond: a pause check that takes longer is not waited for

_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


_TAKE_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local spacing, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], due + spacing, 'PX', math.ceil((due + spacing - now) / 1000) + 1)
return math.max(0, due - tolerance - now)
"""


class RedisReadBudget:
    """The identity's read budget (``ReadPacer``) for the whole fleet: one GCRA on Redis's clock, so replicas whose
    clocks differ still share one pace. Best effort: bounded to ``STORE_SECONDS``, and after a failure this replica
    paces itself alone for ``QUIET_SECONDS``."""

    def __init__(self, redis: Redis, prefix: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._key = prefix + "reads"
        self._take = redis.register_script(_TAKE_READ)
        self._clock = clock
        self._quiet_until = 0.0

    async def take(self, spacing: float, tolerance: float) -> float | None:
        if self._clock.monotonic() < self._quiet_until:
            return None
        try:
            with anyio.fail_after(STORE_SECONDS):
                wait_us: Any = await self._take(
                    keys=[self._key], args=[max(1, round(spacing * 1_000_000)), round(tolerance * 1_000_000)]
                )
        except (RedisError, TimeoutError) as error:
            why = describe(error) if isinstance(error, RedisError) else f"no answer within {STORE_SECONDS:g} s"
            log.warning("the fleet's read budget is not in Redis (%s); this replica paces itself meanwhile", why)
            self._quiet_until = self._clock.monotonic() + QUIET_SECONDS
            return None
        return int(wait_us) / 1_000_000


class RedisRunWindow:
    """At most ``limit`` starts per ``window`` seconds per connection, and ``share`` of them for one person (as
    ``RunRateLimiter``), fleet-wide; waits up to ``max_wait``."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        clock: Clock,
        limit: int = 70,
        share: int = CALLER_SHARE,
        window: float = 60.0,
        max_wait: float = 5.0,
    ) -> None:
        self._prefix = prefix
        self._take = redis.register_script(_TAKE_SLOT)
        self._sleep = clock.sleep
        self._limit, self._share, self._window, self._max_wait = limit, share, window, max_wait

    async def acquire(self, connection: str) -> None:
        key, owner = f"{self._prefix}runs:{connection.lower()}", current_owner()
        if owner != SHARED:  # the person's own share first: a person over it never spends the connection's
            share = self._share
            await self._take_slot(owned(key, owner), share, lambda wait: share_full(connection, share, wait))
        await self._take_slot(key, self._limit, lambda wait: window_full(connection, self._limit, self._window, wait))

    async def _take_slot(self, key: str, limit: int, refuse: Callable[[float], DesktopFlowsError]) -> None:
        while True:
            with fail_closed():
                wait_us: Any = await self._take(
                    keys=[key], args=[limit, int(self._window * 1_000_000), secrets.token_hex(6)]
                )
            if not wait_us:
                return
            wait = int(wait_us) / 1_000_000
            if wait > self._max_wait:
                raise refuse(wait)
            await self._sleep(wait)


class RedisPauseBoard:
    """Pauses every replica honours; without Redis each replica keeps its own (``ThrottleGate``), so never raises."""

    def __init__(self, redis: Redis, prefix: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._redis = redis
        self._prefix = prefix
        self._pause = redis.register_script(_PAUSE)
        self._clock = clock
        self._quiet_until = 0.0  # after a failure every Dataverse call would wait on Redis's timeout: skip it a while

    async def close_for(self, seconds: float, scope: str) -> None:
        try:
            with anyio.fail_after(STORE_SECONDS):
                await self._pause(keys=[self._prefix + "pause:" + scope], args=[max(1, int(seconds * 1000))])
        except (RedisError, TimeoutError) as error:
            why = describe(error) if isinstance(error, RedisError) else f"no answer within {STORE_SECONDS:g} s"
            log.warning("could not share a Dataverse pause through Redis: %s", why)

    async def remaining(self, scopes: tuple[str, ...]) -> float:
        """Asked before every Dataverse call: never waits on a stalled Redis longer than ``STORE_SECONDS``, and
        after a failure not at all for ``QUIET_SECONDS``."""
        if self._clock.monotonic() < self._quiet_until:
            return 0.0
        try:
            with anyio.fail_after(STORE_SECONDS):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for scope in scopes:
                        pipe.pttl(self._prefix + "pause:" + scope)
                    left: list[Any] = await pipe.execute()
        except (RedisError, TimeoutError):
            self._quiet_until = self._clock.monotonic() + QUIET_SECONDS
            return 0.0  # reads go on with this replica's own pauses
        return max(0, *(int(ms) for ms in left)) / 1000  # PTTL: -2 missing, -1 no expiry (never written so)
