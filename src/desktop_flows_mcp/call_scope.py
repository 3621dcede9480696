"""What the tool call in progress asks of the use cases below it, without widening every signature on the way.

``answer_at_once`` is set while the caller takes the run's id at once and follows the run elsewhere (an MCP task,
``tasks/``): a start then never waits, whatever ``wait_seconds`` says, and so sends no progress either. A
``ContextVar``, so concurrent calls never see each other's.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import cast

answer_at_once: ContextVar[bool] = ContextVar("answer_at_once", default=False)


# Who made the call in progress, for audit lines and for state kept per person. The shared-token auth writes
# ``CALLER_KEY`` into the request's ASGI scope (``token:<fingerprint>``); with Entra sign-in the caller is
# ``entra:<tid>/<oid>`` (tenant and object id: stable, unlike a name), read from the token the SDK's bearer
# middleware accepted; without HTTP the caller is ``local``, the person who started the process.
CALLER_KEY = "desktop_flows_mcp.caller"
MAX_NAME = 256


@dataclass(frozen=True)
class CallAudit:
    caller: str
    tool: str
    upn: str | None = None  # the person's sign-in name, where their token has one (audit lines only)


call_audit: ContextVar[CallAudit | None] = ContextVar("call_audit", default=None)


def caller_of(request: object) -> str:
    """The caller an HTTP request's auth named; ``anonymous`` over HTTP without auth, ``local`` without HTTP."""
    scope: object = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return "local"
    caller = cast(dict[str, object], scope).get(CALLER_KEY)
    if isinstance(caller, str):
        return caller
    claims = _claims(request)
    tid, oid = claims.get("tid"), claims.get("oid")
    if isinstance(tid, str) and isinstance(oid, str) and tid and oid:
        return f"entra:{tid.lower()}/{oid.lower()}"
    return "anonymous"


def caller_name_of(request: object) -> str | None:
    """The signed-in person's name (``upn``, else ``preferred_username``) for audit lines; None without one."""
    claims = _claims(request)
    for claim in ("upn", "preferred_username"):
        name = claims.get(claim)
        if isinstance(name, str) and name.strip():
            return "".join(c for c in name.strip()[:MAX_NAME] if c.isprintable())
    return None


def _claims(request: object) -> dict[str, object]:
    """The claims of the token the SDK's bearer middleware accepted for ``request`` (its ``user``), or none."""
    scope: object = getattr(request, "scope", None)
    user = cast(dict[str, object], scope).get("user") if isinstance(scope, dict) else None
    claims: object = getattr(getattr(user, "access_token", None), "claims", None)
    return cast(dict[str, object], claims) if isinstance(claims, dict) else {}


@dataclass
class ChallengeSlot:
    """Where a sign-in on the caller's behalf leaves Entra's claims challenge (Conditional Access, MFA) for the
    HTTP layer, which answers the request 401 with it. Set per HTTP request; the SDK copies the request's context
    into the handler, so the handler writes into the same slot. Once a token was handed out in the request
    (``spent``), a later challenge stays in the tool result: a 401 would hide what that token did (a run started)."""

    claims: str | None = None
    spent: bool = False


claims_challenge_slot: ContextVar[ChallengeSlot | None] = ContextVar("claims_challenge_slot", default=None)
