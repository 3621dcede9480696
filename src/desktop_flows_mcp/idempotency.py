"""``idempotency_key``: the same key within 24 hours returns the first run instead of starting another.

``IdempotencyKeys`` is the store; ``IdempotencyStore`` keeps it in memory for the life of the process (enough for
stdio hosts and a single HTTP replica), ``shared_state.redis_keys`` in Redis for several replicas behind one address.

A key's record goes through these states (``runs.starting.RunStarter._start_once``), always under the key's lock:

    in flight   the holder is sending the start; found by a later holder, it means the first died mid-start
    attempt     the start failed in a way that may still have started a run (5xx, dropped connection, timeout)
    run_id      the start succeeded, or ``adoption`` proved which run an attempt made

An in-flight or attempt record makes the next call with the key look for the run it may have left behind before
it sends anything (see ``adoption.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import anyio

TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Attempt:
    """A run start whose outcome is unknown: what was asked, and when (Dataverse's clock and ours)."""

    flow_id: str
    connection_name: str
    connection_type: str
    inputs: Mapping[str, Any]
    began: datetime
    ended: datetime
    ended_at: float  # the injected monotonic clock, for the settle delay


@dataclass
class KeyRecord:
    fingerprint: str
    created_at: float
    run_id: str | None = None
    attempt: Attempt | None = None
    in_flight: bool = False  # written before the start is sent; a holder that died left it so


class IdempotencyKeys(Protocol):
    """Where keys live. ``lock`` makes the holder the only caller with that key (fleet-wide, for a shared store)."""

    def lock(self, key: str) -> AbstractAsyncContextManager[Any]: ...

    async def get(self, key: str) -> KeyRecord | None: ...

    async def remember(self, key: str, record: KeyRecord) -> None: ...

    async def forget(self, key: str) -> None: ...

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        """Those of ``run_ids`` that other keys already own: never adopted for this one."""
        ...


class IdempotencyStore:
    """In memory, one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, KeyRecord] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def lock(self, key: str) -> anyio.Lock:
        """Concurrent calls with one key queue here, so only the first can start a run."""
        return self._locks.setdefault(key, anyio.Lock())

    async def get(self, key: str) -> KeyRecord | None:
        self._expire()
        return self._records.get(key)

    async def remember(self, key: str, record: KeyRecord) -> None:
        self._records[key] = record

    async def forget(self, key: str) -> None:
        self._records.pop(key, None)

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        owned = {r.run_id for k, r in self._records.items() if r.run_id is not None and k != except_key}
        return owned.intersection(run_ids)

    def _expire(self) -> None:
        cutoff = self._clock() - TTL_SECONDS
        for key in [k for k, r in self._records.items() if r.created_at < cutoff]:
            del self._records[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
