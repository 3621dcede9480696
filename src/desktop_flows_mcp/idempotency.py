"""``idempotency_key``: the same key within 24 hours returns the first run instead of starting another.

``IdempotencyKeys`` is the store: ``key_store.FileIdempotencyKeys`` (SQLite under the user's state directory, the
default: it survives restarts and is shared by the processes of one machine), ``IdempotencyStore`` in memory (when
there is no state directory, and in unit tests), ``shared_state.redis_keys`` in Redis for several machines.

A key's record goes through these states (``runs.starting.RunStarter._start_once``), always under the key's lock:

    in flight   the holder is sending the start; found by a later holder, it means the first died mid-start
    attempt     the start failed in a way that may still have started a run (5xx, dropped connection, timeout,
                a cancelled call): uncertain until its run is found or Dataverse can no longer create it
    run_id      the start succeeded, or ``adoption`` found the run carrying the attempt's marker

Nothing sensitive is kept: stores index records by a SHA-256 of the key, and an attempt holds a digest of its
inputs and of its marker (``Attempt``), never the values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import anyio

from .clock import SYSTEM_CLOCK, Clock

TTL_SECONDS = 24 * 3600


def digest(*parts: str) -> str:
    """SHA-256 of the parts (NUL-separated), hex: how keys, markers and inputs are kept at rest."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def inputs_digest(inputs: Mapping[str, Any], salt: str) -> str:
    """A salted digest of inputs as JSON values (key order and spacing do not matter)."""
    return digest(salt, json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


@dataclass(frozen=True)
class Attempt:
    """A run start whose outcome is unknown: what was asked (as digests), and when (Dataverse's clock and ours).

    ``marker`` is the SHA-256 of the random marker the start carried inside its inputs string (see
    ``dataverse.flow_operations.marked_inputs``); ``inputs`` is ``inputs_digest(inputs, salt=marker)``."""

    flow_id: str
    connection_name: str
    connection_type: str
    inputs: str
    marker: str
    began: datetime
    ended: datetime
    ended_at: float  # the injected monotonic clock: the horizon counts from here


@dataclass
class KeyRecord:
    fingerprint: str
    created_at: float
    run_id: str | None = None
    attempt: Attempt | None = None
    in_flight: bool = False  # written before the start is sent; a holder that died left it so


def encode_record(record: KeyRecord) -> dict[str, Any]:
    """The record as JSON for a shared store; times as wall-clock ISO strings."""
    attempt = record.attempt
    return {
        "fingerprint": record.fingerprint,
        "run_id": record.run_id,
        "in_flight": record.in_flight,
        "attempt": None
        if attempt is None
        else {
            "flow_id": attempt.flow_id,
            "connection_name": attempt.connection_name,
            "connection_type": attempt.connection_type,
            "inputs": attempt.inputs,
            "marker": attempt.marker,
            "began": attempt.began.isoformat(),
            "ended": attempt.ended.isoformat(),
        },
    }


def decode_record(data: dict[str, Any], *, clock: Clock) -> KeyRecord:
    """``encode_record`` reversed; the monotonic ``ended_at`` is rebuilt on this process's clock."""
    attempt: Attempt | None = None
    if (raw := data.get("attempt")) is not None:
        ended = datetime.fromisoformat(raw["ended"])
        ago = max(0.0, (clock.now() - ended).total_seconds())
        attempt = Attempt(
            raw["flow_id"],
            raw["connection_name"],
            raw["connection_type"],
            str(raw.get("inputs") or ""),
            str(raw.get("marker") or ""),
            datetime.fromisoformat(raw["began"]),
            ended,
            clock.monotonic() - ago,
        )
    return KeyRecord(data["fingerprint"], clock.monotonic(), data.get("run_id"), attempt, bool(data.get("in_flight")))


class IdempotencyKeys(Protocol):
    """Where keys live. ``lock`` makes the holder the only caller with that key (fleet-wide, for a shared store)."""

    def lock(self, key: str) -> AbstractAsyncContextManager[Any]: ...

    async def get(self, key: str) -> KeyRecord | None: ...

    async def remember(self, key: str, record: KeyRecord) -> None: ...

    async def forget(self, key: str) -> None: ...

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        """Those of ``run_ids`` that other keys already own: never adopted for this one."""
        ...


@asynccontextmanager
async def leased(
    take: Callable[[], Awaitable[bool]],
    release: Callable[[], Awaitable[None]],
    held: dict[str, str],
    token: str,
    name: str,
) -> AsyncGenerator[None, None]:
    """A shared store's lock: poll ``take`` (10 ms doubling to 200 ms, real time: the other holder is another
    process) until the lease is ours, note it in ``held`` (for renewal) while held, then ``release`` it shielded."""
    delay = 0.01
    while not await take():
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.2)
    held[token] = name
    try:
        yield
    finally:
        del held[token]
        with anyio.CancelScope(shield=True):
            await release()


class IdempotencyStore:
    """In memory, one process: keys end with it (used when there is no state directory)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._records: dict[str, KeyRecord] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def lock(self, key: str) -> anyio.Lock:
        """Concurrent calls with one key queue here, so only the first can start a run."""
        return self._locks.setdefault(digest(key), anyio.Lock())

    async def get(self, key: str) -> KeyRecord | None:
        self._expire()
        return self._records.get(digest(key))

    async def remember(self, key: str, record: KeyRecord) -> None:
        self._records[digest(key)] = record

    async def forget(self, key: str) -> None:
        self._records.pop(digest(key), None)

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        mine = digest(except_key)
        owned = {r.run_id for k, r in self._records.items() if r.run_id is not None and k != mine}
        return owned.intersection(run_ids)

    def _expire(self) -> None:
        cutoff = self._clock.monotonic() - TTL_SECONDS
        for key in [k for k, r in self._records.items() if r.created_at < cutoff]:
            del self._records[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
