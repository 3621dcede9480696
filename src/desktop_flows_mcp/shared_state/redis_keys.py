"""Idempotency keys in Redis: one holder per key across the fleet, and the key's record for 24 hours.

The holder takes ``idem-lock:<key>`` with ``SET NX PX`` (a 10 s lease that ``renew_leases`` extends every 3 s while
it holds it) and releases it with a compare-and-delete script; the others poll for it (10 ms doubling to 200 ms) and
then read the record the holder left, so concurrent duplicates return the first call's run. A replica that dies
mid-start leaves an in-flight record and a lease that runs out: the next holder adopts or starts once.

Records keep wall-clock times; the monotonic ``ended_at`` an ``Attempt`` needs is rebuilt on this replica's clock.
Nothing sensitive is stored: names carry a SHA-256 of the key, and an attempt only digests of its inputs and marker.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncGenerator, Collection
from contextlib import asynccontextmanager
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..clock import Clock
from ..idempotency import TTL_SECONDS, KeyRecord, decode_record, digest, encode_record, leased
from .redis_state import describe, fail_closed

log = logging.getLogger("desktop_flows_mcp")
LEASE_SECONDS = 10.0
RENEW_EVERY = 3.0
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


class RedisIdempotencyKeys:
    def __init__(self, redis: Redis, prefix: str, *, clock: Clock) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._held: dict[str, str] = {}  # this replica's holders: token → lock name

    def _name(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{digest(key)}"

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncGenerator[None, None]:
        name, token = self._name("idem-lock", key), secrets.token_hex(16)

        async def take() -> bool:
            with fail_closed():
                return bool(await self._redis.set(name, token, nx=True, px=int(LEASE_SECONDS * 1000)))

        async def release() -> None:
            try:
                await self._release(keys=[name], args=[token])
            except RedisError as error:  # the lease runs out by itself
                log.warning("could not release an idempotency key lock: %s", describe(error))

        async with leased(take, release, self._held, token, name):
            yield

    async def renew_leases(self) -> None:
        """Runs for the life of the server: a holder keeps its key however long its start takes."""
        while True:
            await anyio.sleep(RENEW_EVERY)
            for token, name in list(self._held.items()):
                try:
                    if not await self._renew(keys=[name], args=[token, int(LEASE_SECONDS * 1000)]):
                        log.warning("an idempotency key lock ran out while held (Redis lost it or stalled)")
                except RedisError as error:
                    log.warning("could not renew an idempotency key lock: %s", describe(error))

    async def get(self, key: str) -> KeyRecord | None:
        with fail_closed():
            raw: Any = await self._redis.get(self._name("idem", key))
        return None if raw is None else decode_record(json.loads(raw), clock=self._clock)

    async def remember(self, key: str, record: KeyRecord) -> None:
        ttl = int(TTL_SECONDS * 1000)
        with fail_closed():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._name("idem", key), json.dumps(encode_record(record)), px=ttl)
                if record.run_id is not None:
                    pipe.set(f"{self._prefix}idem-run:{record.run_id}", self._name("idem", key), px=ttl)
                await pipe.execute()

    async def forget(self, key: str) -> None:
        with fail_closed():
            await self._redis.delete(self._name("idem", key))

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        ids = list(run_ids)
        with fail_closed():
            owners: list[Any] = await self._redis.mget([f"{self._prefix}idem-run:{run_id}" for run_id in ids])
        mine = self._name("idem", except_key).encode()
        return {run_id for run_id, owner in zip(ids, owners, strict=True) if owner is not None and owner != mine}
