"""Retries, the shared 429 gate and the per-connection run limit, all on an injectable clock.

Why hand-written rather than tenacity/stamina or aiolimiter: the retry decision depends on whether a
request could have started a desktop flow run (a POST to RunDesktopFlow is retried only when it certainly
did not), a 429 must pause *every* call rather than the one that got it, and the run limit must be able
to refuse with an exact "retry after" instead of only waiting. Each piece is a few lines over a clock
and a sleep that tests replace, so no test ever sleeps.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from ..errors import DesktopFlowsError, ErrorCode

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # first try included
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited out inside a tool call; the agent is told instead.
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter exponential back-off for the attempt that just failed (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * (0.5 + rng() / 2)


class ThrottleGate:
    """After Dataverse answers 429, every call waits out Retry-After, not only the one that got it."""

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._open_at = 0.0

    def close_for(self, seconds: float) -> None:
        self._open_at = max(self._open_at, self._clock() + seconds)

    def remaining(self) -> float:
        return max(0.0, self._open_at - self._clock())

    async def wait(self, max_wait: float) -> None:
        remaining = self.remaining()
        if remaining <= 0:
            return
        if remaining > max_wait:
            raise throttled(
                f"Dataverse asked this server to pause for {remaining:.0f} more seconds.",
                retry_after=remaining,
            )
        await self._sleep(remaining)


class RunRateLimiter:
    """At most ``limit`` RunDesktopFlow calls per ``window`` seconds per connection (Dataverse allows 70/min).

    A sliding log, not a token bucket, so it matches the service's own count exactly. A call that would
    exceed it waits up to ``max_wait`` for a slot, or is refused with the time to retry.
    """

    def __init__(
        self,
        limit: int = 70,
        window: float = 60.0,
        *,
        max_wait: float = 5.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._limit = limit
        self._window = window
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}

    async def acquire(self, connection: str) -> None:
        sent = self._sent.setdefault(connection.lower(), deque())
        while True:
            now = self._clock()
            while sent and sent[0] <= now - self._window:
                sent.popleft()
            if len(sent) < self._limit:
                sent.append(now)
                return
            wait = sent[0] + self._window - now
            if wait > self._max_wait:
                raise throttled(
                    f"Connection {connection!r} already started {self._limit} desktop flow runs in the last "
                    f"{self._window:.0f} seconds, the most Dataverse allows. No run was started.",
                    retry_after=wait,
                )
            await self._sleep(wait)


def throttled(message: str, *, retry_after: float | None) -> DesktopFlowsError:
    when = f"after {retry_after:.0f} seconds" if retry_after is not None else "shortly"
    return DesktopFlowsError(
        ErrorCode.THROTTLED,
        message,
        hint=f"Retry the same call {when}. Do not retry in a tight loop.",
        retryable=True,
        http_status=429,
        retry_after_seconds=retry_after,
    )
