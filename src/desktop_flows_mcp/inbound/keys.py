"""The tenant's token-signing keys (its JWKS), fetched through httpx, cached, and refetched with care.

Entra publishes its keys at ``<authority>/<tenant>/discovery/v2.0/keys`` and rotates them without notice, so:

- the set is fetched on first use and again after ``MAX_AGE`` (a day, as Microsoft advises);
- a token naming a ``kid`` the cached set lacks causes one refetch, shared by every request waiting on it, and at
  most one per ``REFETCH_INTERVAL``: a stream of tokens with made-up ``kid`` values cannot make this server hammer
  Entra (they are refused from the cache in the meantime);
- a failed fetch keeps the keys already known; with none known, ``KeysUnavailable`` (the caller answers 503, not
  401: the token may be fine), and the next attempt waits ``RETRY_INTERVAL``.

PyJWT's ``PyJWKClient`` was left aside: it fetches with blocking ``urllib`` on the event loop and refetches on every
unknown ``kid`` without a floor. Its ``PyJWK`` still turns each key into a verifier.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

import anyio
import httpx
import jwt

log = logging.getLogger("desktop_flows_mcp")

MAX_AGE = 24 * 3600.0
REFETCH_INTERVAL = 60.0
RETRY_INTERVAL = 5.0  # while no key is known (Entra unreachable at start): requests get 503 in between
FETCH_TIMEOUT = 10.0
MAX_KEYS = 50  # Entra publishes a handful; a document with more is not believed


class KeysUnavailable(Exception):
    """The signing keys could not be fetched and none are cached."""


class SigningKeys:
    """The JWKS at ``url``, by ``kid``; ``transport`` replaces the network (tests, the emulator)."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._transport = transport
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = anyio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, fetching the set when it is stale or lacks the kid (at most one attempt a
        minute, every few seconds while none is known); ``KeysUnavailable`` while no key is known at all."""
        if self._needs_fetch(kid):
            async with self._lock:  # one fetch for every request that was waiting on it
                if self._needs_fetch(kid):
                    await self._fetch()
        if not self._keys:
            raise KeysUnavailable(self.url)
        return self._keys.get(kid)

    def _needs_fetch(self, kid: str) -> bool:
        floor = REFETCH_INTERVAL if self._keys else RETRY_INTERVAL
        if self._last_attempt is not None and self._clock() - self._last_attempt < floor:
            return False
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= MAX_AGE
        return stale or kid not in self._keys

    async def _fetch(self) -> None:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = _parse(response.json())
        except (httpx.HTTPError, ValueError) as error:
            log.warning("Entra signing keys at %s could not be fetched: %s", self.url, type(error).__name__)
            return  # the keys already known stay in use
        self._keys, self._fetched_at = keys, self._clock()


def _parse(document: Any) -> dict[str, jwt.PyJWK]:
    """The RSA signing keys of a JWKS document, by kid; anything else in it is skipped."""
    if not isinstance(document, dict):
        raise ValueError("not a JWKS document")
    entries = cast(dict[str, Any], document).get("keys")
    if not isinstance(entries, list) or len(cast(list[Any], entries)) > MAX_KEYS:
        raise ValueError("not a JWKS document")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in cast(list[Any], entries):
        if not isinstance(entry, dict):
            continue
        data = cast(dict[str, Any], entry)
        kid = data.get("kid")
        if data.get("kty") != "RSA" or data.get("use", "sig") != "sig" or not isinstance(kid, str):
            continue
        try:
            keys[kid] = jwt.PyJWK(data, algorithm="RS256")
        except jwt.PyJWTError:
            continue
    return keys
