"""Callback tokens and run wake-ups through Redis: a callback that reaches replica A ends a wait on replica B.

They match ``run_callbacks.CallbackTokens`` and ``RunWakeups`` (structural types). Tokens are 256 random bits
(URL-safe); Redis keeps only their SHA-256 (``callback:<hash>`` → the run id, or ""
while unbound), so reading Redis does not let anyone forge a callback. Wake-ups are published on
``wake:<run id>``; each replica listens to the whole ``wake:*`` pattern on one connection, subscribed before the
server starts, and sets the events of its own waiters. Lost while Redis is away, a wake-up only makes a wait
fall back to polling Dataverse.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .redis_state import describe, fail_closed

log = logging.getLogger("desktop_flows_mcp")
UNBOUND = b""


class RedisCallbackTokens:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _name(self, token: str) -> str:
        return f"{self._prefix}callback:{hashlib.sha256(token.encode()).hexdigest()}"

    async def issue(self, *, expires_in: float) -> str:
        token = secrets.token_urlsafe(32)
        with fail_closed():
            await self._redis.set(self._name(token), UNBOUND, px=_ms(expires_in))
        return token

    async def bind(self, token: str, run_id: str, *, expires_in: float) -> None:
        """Only a token still alive is bound (``XX``): a spent or expired one stays gone."""
        with fail_closed():
            await self._redis.set(self._name(token), run_id, px=_ms(expires_in), xx=True)

    async def run_for(self, token: str) -> str | None:
        with fail_closed():
            raw: Any = await self._redis.get(self._name(token))
        return raw.decode() if isinstance(raw, bytes) and raw else None

    async def drop(self, token: str) -> None:
        with fail_closed():
            await self._redis.delete(self._name(token))


class RedisRunWakeups:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._channel = prefix + "wake:"
        self._waiters: dict[str, set[anyio.Event]] = {}

    async def publish(self, run_id: str) -> None:
        with fail_closed():
            await self._redis.publish(self._channel + run_id, b"1")  # pyright: ignore[reportUnknownMemberType]

    @asynccontextmanager
    async def subscribe(self, run_id: str) -> AsyncGenerator[anyio.Event, None]:
        event = anyio.Event()
        self._waiters.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(run_id, set())
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(run_id, None)

    async def listen(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Runs for the life of the server; reconnects (100 ms doubling to 5 s) after Redis goes away."""
        pattern = _glob_escape(self._channel) + "*"
        delay, started = 0.1, False
        while True:
            pubsub = self._redis.pubsub()  # pyright: ignore[reportUnknownMemberType]
            try:
                await pubsub.psubscribe(pattern)
                while True:
                    message: Any = await pubsub.get_message(timeout=1.0)  # pyright: ignore[reportUnknownVariableType]
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        if not started:
                            task_status.started()
                        started, delay = True, 0.1
                    elif message["type"] == "pmessage":
                        self._wake(bytes(message["channel"]).decode()[len(self._channel) :])
            except RedisError as error:
                if not started:  # at start-up: the server must not start without its wake-ups
                    with fail_closed():
                        raise
                log.warning("run wake-ups from Redis stopped (%s); reconnecting in %.1f s", describe(error), delay)
            finally:
                with anyio.CancelScope(shield=True):
                    await pubsub.aclose()
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _wake(self, run_id: str) -> None:
        for event in self._waiters.get(run_id, ()):
            event.set()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
