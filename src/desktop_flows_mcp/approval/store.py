"""Where confirm_tokens and approved idempotency keys are kept: this process (default), or Redis
(``shared_state.redis_approvals``, same protocol) so that a token issued by one replica is redeemed on another.

Only SHA-256 of a token is stored, with the binding it was issued for (caller, tool, argument hash) and its expiry
(epoch seconds on the injected clock). Redeeming removes it, whatever the verdict: a token is tried once.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal, Protocol

from ..clock import Clock

Verdict = Literal["ok", "expired", "mismatch", "unknown"]
KEPT_AFTER_EXPIRY = 600.0  # an expired token is still recognised this long (audit: expired, not unknown)
MAX_TOKENS = 10_000  # outstanding tokens kept in one process; the oldest go first


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def verdict_of(stored: tuple[str, float] | None, binding: str, now: float) -> Verdict:
    if stored is None:
        return "unknown"
    if now >= stored[1]:
        return "expired"
    return "ok" if secrets.compare_digest(stored[0], binding) else "mismatch"


class ApprovalStore(Protocol):
    async def issue(self, binding: str, *, expires_in: float) -> str: ...

    async def redeem(self, token: str, binding: str) -> Verdict: ...

    async def grant_key(self, key_binding: str, *, expires_in: float) -> None: ...

    async def key_granted(self, key_binding: str) -> bool: ...


def epoch(clock: Clock) -> float:
    """The clock's wall time as seconds: token expiries are compared across replicas."""
    return clock.now().timestamp()


class InProcessApprovals:
    def __init__(self, clock: Clock) -> None:
        self._now = lambda: epoch(clock)
        self._tokens: dict[str, tuple[str, float]] = {}  # sha256(token) → (binding, expires_at)
        self._keys: dict[str, float] = {}  # key binding → expires_at

    async def issue(self, binding: str, *, expires_in: float) -> str:
        now = self._now()
        for name in [h for h, (_, at) in self._tokens.items() if at + KEPT_AFTER_EXPIRY < now]:
            del self._tokens[name]
        while len(self._tokens) >= MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        token = new_token()
        self._tokens[token_hash(token)] = (binding, now + expires_in)
        return token

    async def redeem(self, token: str, binding: str) -> Verdict:
        return verdict_of(self._tokens.pop(token_hash(token), None), binding, self._now())

    async def grant_key(self, key_binding: str, *, expires_in: float) -> None:
        now = self._now()
        self._keys = {k: at for k, at in self._keys.items() if at > now}
        self._keys[key_binding] = now + expires_in

    async def key_granted(self, key_binding: str) -> bool:
        expires = self._keys.get(key_binding)
        return expires is not None and self._now() < expires
