"""Retries, the shared 429 gate and the per-connection run limit, all on the injected ``Clock``.

Why hand-written rather than tenacity/stamina or aiolimiter: the retry decision depends on whether a
request could have started a desktop flow run (a POST to RunDesktopFlow is retried only when it certainly
did not), a 429 must pause *every* call rather than the one that got it, and the run limit must be able
to refuse with an exact "retry after" instead of only waiting. Each piece is a few lines over the
app's ``Clock`` (its monotonic time and its sleep), which tests replace, so no test ever sleeps.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from ..call_scope import SHARED, current_owner, owned
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import DesktopFlowsError, throttled

log = logging.getLogger("desktop_flows_mcp")


CALLER_SHARE = 35  # run starts a minute for one person signed in on their own: half the connection's 70
MAX_WINDOWS = 10_000  # connections × people counted in process; past it, the idle windows are forgotten


# What a request is, for the retry decision: a read can always be sent again; a run start (and a cancel) only
# when Dataverse certainly did not act on it.
Idempotency = Literal["safe", "not_if_sent"]


class Failure(Enum):
    NOT_SENT = "not_sent"  # connect error, connect or pool timeout: the request never left this machine
    LOST = "lost"  # the connection broke or timed out after the request was sent
    THROTTLED = "throttled"  # 429: Dataverse refused it unprocessed
    SERVER = "server"  # 5xx or 408: Dataverse may or may not have acted on it
    REFUSED = "refused"  # any other 4xx: sending it again gives the same answer


# May a request of this kind be sent again after this failure? (Attempts and Retry-After limits apply on top.)
SEND_AGAIN: dict[tuple[Idempotency, Failure], bool] = {
    ("safe", Failure.NOT_SENT): True,
    ("safe", Failure.LOST): True,
    ("safe", Failure.THROTTLED): True,
    ("safe", Failure.SERVER): True,
    ("safe", Failure.REFUSED): False,
    ("not_if_sent", Failure.NOT_SENT): True,
    ("not_if_sent", Failure.LOST): False,
    ("not_if_sent", Failure.THROTTLED): True,
    ("not_if_sent", Failure.SERVER): False,
    ("not_if_sent", Failure.REFUSED): False,
}

MAX_RETRY_AFTER = 300.0  # a Retry-After beyond five minutes is read as five minutes
DEFAULT_RETRY_AFTER = 5.0  # a 429 whose Retry-After is missing or unreadable


@dataclass(frozen=True)
class RetryPolicy:
    """The one answer to "may this request be sent again, after which failure, and when"."""

    attempts: int = 4  # first try included
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited out inside a tool call; the agent is told instead.
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter exponential back-off for the attempt that just failed (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * (0.5 + rng() / 2)

    def delay(
        self,
        kind: Idempotency,
        failure: Failure,
        attempt: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before sending again, or None to give up and report the failure."""
        if attempt >= self.attempts or not SEND_AGAIN[(kind, failure)]:
            return None
        if failure is Failure.THROTTLED:
            wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
            return wait if wait <= self.max_retry_after else None
        return self.backoff(attempt, rng)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float:
    """Retry-After in seconds (a number or an HTTP date), capped at five minutes; unreadable → the default."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return DEFAULT_RETRY_AFTER
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


IDENTITY = "identity"  # the throttle scope of service-protection limits (per user, per web server)


class PauseBoard(Protocol):
    """Pauses shared with other replicas (``shared_state.redis_limits``); best effort, never raises."""

    async def close_for(self, seconds: float, scope: str) -> None: ...

    async def remaining(self, scopes: tuple[str, ...]) -> float: ...


class RunWindow(Protocol):
    """Takes a run-start slot on a connection, waits briefly for one, or raises ``throttled`` with retry_after."""

    async def acquire(self, connection: str) -> None: ...


class ThrottleGate:
    """After a 429, calls in its scope wait out Retry-After, not only the one that got it.

    Scopes: ``IDENTITY`` (service protection: every call of this identity) or ``connection:<name>`` (a run
    start refused for its connection: only runs on that connection pause). With a ``board``, a pause one replica
    took applies to every replica.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK, board: PauseBoard | None = None) -> None:
        self._clock = clock
        self._board = board
        self._open_at: dict[str, float] = {}

    async def close_for(self, seconds: float, scope: str = IDENTITY) -> None:
        opens = self._clock.monotonic() + seconds
        if opens > self._open_at.get(scope, 0.0):
            log.warning("Dataverse throttled %s: pausing it for %.0f s", scope, seconds)
            self._open_at[scope] = opens
        if self._board is not None:
            await self._board.close_for(seconds, scope)

    async def remaining(self, scopes: tuple[str, ...] = (IDENTITY,)) -> float:
        if not scopes:
            return 0.0
        now = self._clock.monotonic()
        local = max(self._open_at.get(scope, 0.0) - now for scope in scopes)
        return max(local, await self._board.remaining(scopes)) if self._board is not None else local

    async def wait(self, max_wait: float, scopes: tuple[str, ...] = (IDENTITY,)) -> None:
        remaining = await self.remaining(scopes)
        if remaining <= 0:
            return
        if remaining > max_wait:
            raise throttled(
                f"Dataverse asked this server to pause for {remaining:.0f} more seconds.",
                retry_after=remaining,
            )
        await self._clock.sleep(remaining)


def connection_scope(connection: str) -> str:
    return "connection:" + connection.lower()


class RunRateLimiter:
    """At most ``limit`` RunDesktopFlow calls per ``window`` seconds per connection (Dataverse allows 70/min), and
    at most ``share`` of them for any one person (``CALLER_SHARE``; callers of a single identity are one).

    A sliding log, not a token bucket, so it matches the service's own count exactly. A call that would
    exceed it waits up to ``max_wait`` for a slot, or is refused with the time to retry.
    """

    def __init__(
        self,
        limit: int = 70,
        window: float = 60.0,
        *,
        share: int = CALLER_SHARE,
        max_wait: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._limit = limit
        self._share = share
        self._window = window
        self._max_wait = max_wait
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    async def acquire(self, connection: str) -> None:
        key, owner = connection.lower(), current_owner()
        if owner != SHARED:  # the person's own share first: a person over it never spends the connection's
            await self._take(owned(key, owner), self._share, lambda wait: share_full(connection, self._share, wait))
        await self._take(key, self._limit, lambda wait: window_full(connection, self._limit, self._window, wait))

    async def _take(self, key: str, limit: int, refuse: Callable[[float], DesktopFlowsError]) -> None:
        if key not in self._sent and len(self._sent) >= MAX_WINDOWS:
            for idle in [
                k for k, sent in self._sent.items() if not sent or sent[-1] <= self._clock.monotonic() - self._window
            ]:
                del self._sent[idle]
        sent = self._sent.setdefault(key, deque())
        while True:
            now = self._clock.monotonic()
            while sent and sent[0] <= now - self._window:
                sent.popleft()
            if len(sent) < limit:
                sent.append(now)
                return
            wait = sent[0] + self._window - now
            if wait > self._max_wait:
                raise refuse(wait)
            await self._clock.sleep(wait)


class SharedReadBudget(Protocol):
    """The read budget kept for every replica of the identity (``shared_state.redis_limits``); never raises."""

    async def take(self, spacing: float, tolerance: float) -> float | None:
        """Take the next slot; the seconds until it is due, or None when the shared store cannot say."""
        ...


class ReadPacer:
    """One identity's budget for reading runs: at most ``rate`` reads a second on average, ``burst`` at once.

    A GCRA (the virtual-scheduling form of a leaky bucket): each read takes the next free slot. Background reads
    (task listeners) ``acquire`` and sleep until their slot, in the order they asked, so however many listen, the
    identity reads at the budget's pace and each run is read more rarely. Reads a person is waiting on ``charge``
    a slot without waiting: they count, and push background reads back, never the other way round. With ``shared``
    the slots are the fleet's (every replica reads as the same identity); when it cannot answer, this process's own.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = SYSTEM_CLOCK,
        shared: SharedReadBudget | None = None,
    ) -> None:
        self._spacing = 1.0 / rate
        self._tolerance = (burst - 1) * self._spacing
        self._clock = clock
        self._shared = shared
        self._next = float("-inf")  # the theoretical arrival time of the next read

    async def _take(self) -> float:
        """Take the next slot; the seconds until it is due."""
        if self._shared is not None:
            wait = await self._shared.take(self._spacing, self._tolerance)
            if wait is not None:
                return wait
        now = self._clock.monotonic()
        due = max(self._next, now)
        self._next = due + self._spacing
        return max(0.0, due - self._tolerance - now)

    async def acquire(self) -> None:
        wait = await self._take()
        if wait > 0:
            await self._clock.sleep(wait)

    async def charge(self) -> None:
        await self._take()


def window_full(connection: str, limit: int, window: float, wait: float) -> DesktopFlowsError:
    return throttled(
        f"Connection {connection!r} already started {limit} desktop flow runs in the last {window:.0f} seconds, "
        "the most Dataverse allows. No run was started.",
        retry_after=wait,
    )


def share_full(connection: str, share: int, wait: float) -> DesktopFlowsError:
    return throttled(
        f"You already started {share} desktop flow runs on connection {connection!r} in the last minute: one "
        "person's share of the connection's 70, so that the others can start theirs too. No run was started.",
        retry_after=wait,
    )
