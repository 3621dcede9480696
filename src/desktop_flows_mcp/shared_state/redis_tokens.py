"""Each caller's Dataverse token (``DATAVERSE_AUTH=on_behalf_of``), shared by the replicas through Redis, encrypted.

A caller whose token one replica exchanged is served by every other replica without asking Entra again. Redis holds,
per caller, ``obo:<SHA-256 of the account>`` → a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``,
already a dependency) of ``{"token", "until"}``, expiring with the token (``until``: the earlier of the Dataverse
token's end and its caller's). The key comes from configuration (``DESKTOP_FLOWS_TOKEN_CACHE_KEY``, the same on
every replica); whoever reads Redis without it learns neither the tokens nor whose they are. A value that does not
decrypt (another key, tampered with) is a miss, and Redis failures are misses too: the caller is exchanged again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .redis_state import describe

log = logging.getLogger("desktop_flows_mcp")


def fernet_for(secret: str) -> Fernet:
    """The Fernet key derived from the configured secret (any length; every replica derives the same key)."""
    digest = hashlib.sha256(b"desktop-flows-mcp on-behalf-of token cache\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class RedisTokens:
    """``signin.on_behalf_of.SharedTokens`` in Redis."""

    def __init__(self, redis: Redis, prefix: str, secret: str, *, now: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = prefix
        self._fernet = fernet_for(secret)
        self._now = now

    def _name(self, account: str) -> str:
        return f"{self._prefix}obo:{hashlib.sha256(account.encode()).hexdigest()}"

    async def get(self, account: str) -> tuple[str, float] | None:
        try:
            stored: Any = await self._redis.get(self._name(account))
        except RedisError as error:
            log.warning("shared token cache: read failed (%s); exchanging again", describe(error))
            return None
        if not isinstance(stored, bytes):
            return None
        try:
            value = json.loads(self._fernet.decrypt(stored))
        except (InvalidToken, ValueError):
            log.warning("shared token cache: an entry does not decrypt with this key; exchanging again")
            return None
        return str(value["token"]), float(value["until"])

    async def put(self, account: str, token: str, until: float) -> None:
        seconds = int(until - self._now())
        if seconds <= 0:
            return
        sealed = self._fernet.encrypt(json.dumps({"token": token, "until": until}).encode())
        try:
            await self._redis.set(self._name(account), sealed, ex=seconds)
        except RedisError as error:
            log.warning("shared token cache: write failed (%s)", describe(error))
