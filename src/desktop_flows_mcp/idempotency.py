"""``idempotency_key``: the same key within 24 hours returns the first run instead of starting another.

Kept in memory for the life of the server process (per-process is enough for stdio hosts; an HTTP deployment
with several replicas needs a shared store). A key whose first start failed in a way that may still have started a
run (5xx, dropped connection, read timeout) keeps that ``Attempt``, so the next call with the key can look for the
run it may have left behind before it sends anything (see ``adoption.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

    def claimed_runs(self, *, except_key: str) -> set[str]:
        """Runs that other keys already own: never adopted for this one."""
        return {r.run_id for k, r in self._records.items() if r.run_id is not None and k != except_key}

    def _expire(self) -> None:
        cutoff = self._clock() - TTL_SECONDS
        for key in [k for k, r in self._records.items() if r.created_at < cutoff]:
            del self._records[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
