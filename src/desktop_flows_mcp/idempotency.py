"""``idempotency_key``: the same key within 24 hours returns the first run instead of starting another.

Kept in memory for the life of the server process (per-process is enough for stdio hosts; an HTTP
deployment with several workers would need a shared store). A key whose first request failed in a way that
may still have started a run (5xx, read timeout) is remembered as *uncertain*: the next call with the key
looks for a run of that flow created since the attempt before it sends anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import anyio

TTL_SECONDS = 24 * 3600


@dataclass
class KeyRecord:
    fingerprint: str
    flow_id: str
    created_at: float
    run_id: str | None = None
    uncertain_since: datetime | None = None


class IdempotencyStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, KeyRecord] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def lock(self, key: str) -> anyio.Lock:
        """Concurrent calls with one key queue here, so only the first can start a run."""
        return self._locks.setdefault(key, anyio.Lock())

    def get(self, key: str) -> KeyRecord | None:
        self._expire()
        return self._records.get(key)

    def remember(self, key: str, record: KeyRecord) -> None:
        self._records[key] = record

    def _expire(self) -> None:
        cutoff = self._clock() - TTL_SECONDS
        for key in [k for k, r in self._records.items() if r.created_at < cutoff]:
            del self._records[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
