"""Runs that report back: per-run callback tokens and the wake-ups a verified callback sends to waits.

With ``DESKTOP_FLOWS_PUBLIC_URL`` set, every run this server starts carries
``callbackUrl = <public url>/callbacks/<token>``; Dataverse POSTs there when the run ends.

| step                       | token                                   | who                                |
|----------------------------|-----------------------------------------|------------------------------------|
| before RunDesktopFlow      | issued, unbound, lives ``ISSUE_TTL``     | ``RunCallbacks.issue``             |
| Dataverse accepted the run | bound to the run for its timeout + queue | ``RunCallbacks.bind``              |
| the start failed           | dropped                                 | ``RunCallbacks.discard``           |
| the run is read terminal   | dropped (a later POST gets 404)         | ``RunCallbacks.finished``          |
| a POST names it            | the run is re-read, then waits wake up  | ``callback_endpoint``              |

Two interfaces, so a shared store can replace the in-process ones for several replicas: ``CallbackTokens`` (the
tokens) and ``RunWakeups`` (publish a verified callback, subscribe while waiting).

A run is its starter's: a token is bound to ``call_scope.owned(run_id)`` (the bare run id for a single-identity
server, as before), so the endpoint re-reads the run for the person who started it and wakes only that person's
waits, which subscribe to ``owned(run_id)`` too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeVar

import anyio

from .call_scope import owned
from .clock import Clock
from .errors import DesktopFlowsError
from .recent import Recent

ISSUE_TTL = 600.0  # an unbound token outlives any start, its retries and its adoption
QUEUE_ALLOWANCE = 6 * 3600.0  # a run may queue this long for a machine before Dataverse fails it
MAX_TOKENS = 100_000  # beyond it the oldest token goes; its run is then followed by polling alone
CALLBACKS_PATH = "/callbacks/"
STORE_SECONDS = 0.5  # Redis answers in about a millisecond: a best-effort call that takes longer is not waited for
QUIET_SECONDS = 5.0
T = TypeVar("T")
F = TypeVar("F")
log = logging.getLogger("desktop_flows_mcp")


class CallbackTokens(Protocol):
    async def issue(self, *, expires_in: float) -> str:
        """A new unguessable token (at least 128 bits, URL-safe), bound to no run yet."""
        ...

    async def bind(self, token: str, run_id: str, *, expires_in: float) -> None: ...

    async def run_for(self, token: str) -> str | None:
        """The run a token is bound to; None when unknown, spent, expired or unbound."""
        ...

    async def drop(self, token: str) -> None: ...


class RunWakeups(Protocol):
    async def publish(self, run_id: str) -> None:
        """A verified callback for ``run_id`` arrived: set every subscriber's event."""
        ...

    def subscribe(self, run_id: str) -> AbstractAsyncContextManager[anyio.Event]: ...


class InProcessCallbackTokens:
    """Tokens in this process's memory, on the injected ``Clock``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock.monotonic
        self._tokens: dict[str, tuple[str | None, float]] = {}  # token -> (run id or None, expires at)

    async def issue(self, *, expires_in: float) -> str:
        self._prune()
        token = secrets.token_urlsafe(32)  # 256 bits
        self._tokens[token] = (None, self._clock() + expires_in)
        return token

    async def bind(self, token: str, run_id: str, *, expires_in: float) -> None:
        if token in self._tokens:
            self._tokens[token] = (run_id, self._clock() + expires_in)

    async def run_for(self, token: str) -> str | None:
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def drop(self, token: str) -> None:
        self._tokens.pop(token, None)

    def __len__(self) -> int:
        return len(self._tokens)

    def _prune(self) -> None:
        now = self._clock()
        for token in [t for t, (_, expires) in self._tokens.items() if expires <= now]:
            del self._tokens[token]
        while len(self._tokens) >= MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]


class InProcessWakeups:
    """Wake-ups between tasks of this process."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[anyio.Event]] = {}

    async def publish(self, run_id: str) -> None:
        for event in self._waiting.get(run_id, ()):
            event.set()

    def subscribe(self, run_id: str) -> AbstractAsyncContextManager[anyio.Event]:
        return self._subscription(run_id)

    def waiting(self, run_id: str) -> int:
        """How many waits are subscribed to this run now."""
        return len(self._waiting.get(run_id, ()))

    @asynccontextmanager
    async def _subscription(self, run_id: str) -> AsyncGenerator[anyio.Event, None]:
        event = anyio.Event()
        self._waiting.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(run_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[run_id]


class RunCallbacks:
    """What RunService needs: a callback URL for each start, and whether a run's callback is still to come.

    The token store is best effort here: a failing or stalled store never fails a run or a read, and never holds one
    longer than ``STORE_SECONDS``; the run is then followed by polling, as without callbacks. After a failure the
    store is left alone for ``QUIET_SECONDS`` (on the injected ``Clock``), so a paused Redis costs one short wait, not
    one per call.
    """

    def __init__(self, public_url: str, tokens: CallbackTokens, clock: Clock) -> None:
        self.public_url = public_url.rstrip("/")
        self.tokens = tokens
        self._clock = clock.monotonic
        self._quiet_until = float("-inf")
        self._by_run: Recent[str, str] = Recent(86400.0 + QUEUE_ALLOWANCE + ISSUE_TTL, 100_000, clock, per_caller=True)

    async def best_effort(self, what: str, call: Callable[[], Awaitable[T]], fallback: F) -> T | F:
        """``call()``'s answer, or ``fallback`` when the store fails, stalls, or failed moments ago."""
        if self._clock() < self._quiet_until:
            return fallback
        try:
            with anyio.fail_after(STORE_SECONDS):
                return await call()
        except Exception as error:  # a store outage must not stop runs or reads
            self._quiet_until = self._clock() + QUIET_SECONDS
            reason = (
                f"no answer within {STORE_SECONDS:g} s"
                if isinstance(error, TimeoutError)
                else error.code.value
                if isinstance(error, DesktopFlowsError)
                else type(error).__name__
            )
            log.warning(
                "%s: the callback token store failed (%s); runs are followed by polling, the store is asked again "
                "in %g s",
                what,
                reason,
                QUIET_SECONDS,
            )
            return fallback

    async def issue(self) -> tuple[str, str] | None:
        """A fresh token and its callback URL, or None when the store fails (the run then goes without)."""
        token = await self.best_effort("a run's callback token", lambda: self.tokens.issue(expires_in=ISSUE_TTL), None)
        return None if token is None else (token, f"{self.public_url}{CALLBACKS_PATH}{token}")

    async def bind(self, token: str, run_id: str, timeout_seconds: float) -> None:
        async def bind() -> bool:
            await self.tokens.bind(token, owned(run_id), expires_in=timeout_seconds + QUEUE_ALLOWANCE)
            return True

        if await self.best_effort(f"run {run_id}: binding its callback token", bind, False):
            self._by_run.put(run_id, token)

    async def discard(self, token: str) -> None:
        await self.best_effort(
            "dropping a callback token (it expires by itself)", lambda: self.tokens.drop(token), None
        )

    async def expected(self, run_id: str) -> bool:
        """True while this process started the run with a callback that has not been used up."""
        token = self._by_run.get(run_id)
        if token is None:
            return False
        return await self.best_effort(f"run {run_id}: its callback", lambda: self._bound_to(token, run_id), False)

    async def spent(self, run_id: str) -> bool:
        """True, once, when this process started the run with a callback whose token is gone from the store: the
        callback was used (on another replica, say) or the token expired. A failing store says nothing."""
        token = self._by_run.get(run_id)
        if token is None:
            return False
        gone = not await self.best_effort(f"run {run_id}: its callback", lambda: self._bound_to(token, run_id), True)
        if gone:
            self._by_run.drop(run_id)
        return gone

    async def _bound_to(self, token: str, run_id: str) -> bool:
        return await self.tokens.run_for(token) == owned(run_id)

    async def finished(self, run_id: str) -> None:
        """The run was read terminal: its token is spent."""
        token = self._by_run.get(run_id)
        if token is not None:
            self._by_run.drop(run_id)
            await self.discard(token)


async def pause(woken: anyio.Event, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> bool:
    """Sleep ``seconds`` on the injected ``sleep``, or less if ``woken`` is set; True when woken."""
    if woken.is_set():
        return True
    if seconds <= 0:
        return False
    async with anyio.create_task_group() as group:

        async def sleeper() -> None:
            await sleep(seconds)
            group.cancel_scope.cancel()

        group.start_soon(sleeper)
        await woken.wait()
        group.cancel_scope.cancel()
    return woken.is_set()
