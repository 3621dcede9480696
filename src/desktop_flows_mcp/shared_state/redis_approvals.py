"""confirm_tokens and approved idempotency keys in Redis (``approval.store.ApprovalStore``, structurally): a token
one replica issued is redeemed, once, on any replica. Names carry SHA-256 only; redeeming is one ``GETDEL``."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from ..approval.store import KEPT_AFTER_EXPIRY, Verdict, epoch, new_token, token_hash, verdict_of
from ..clock import Clock
from .redis_state import fail_closed


class RedisApprovals:
    def __init__(self, redis: Redis, prefix: str, *, clock: Clock) -> None:
        self._redis = redis
        self._prefix = prefix
        self._now = lambda: epoch(clock)

    async def issue(self, binding: str, *, expires_in: float) -> str:
        token = new_token()
        record = json.dumps({"binding": binding, "expires_at": self._now() + expires_in})
        with fail_closed():
            await self._redis.set(self._token(token), record, px=int((expires_in + KEPT_AFTER_EXPIRY) * 1000))
        return token

    async def redeem(self, token: str, binding: str) -> Verdict:
        with fail_closed():
            raw: Any = await self._redis.getdel(self._token(token))
        stored = None
        if isinstance(raw, bytes):
            data = json.loads(raw)
            stored = (str(data["binding"]), float(data["expires_at"]))
        return verdict_of(stored, binding, self._now())

    async def grant_key(self, key_binding: str, *, expires_in: float) -> None:
        with fail_closed():
            await self._redis.set(self._key(key_binding), b"1", px=int(expires_in * 1000))

    async def key_granted(self, key_binding: str) -> bool:
        with fail_closed():
            return bool(await self._redis.exists(self._key(key_binding)))

    def _token(self, token: str) -> str:
        return f"{self._prefix}approval:{token_hash(token)}"

    def _key(self, key_binding: str) -> str:
        return f"{self._prefix}approved-key:{key_binding}"
