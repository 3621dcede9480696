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


# Who made the call in progress, for audit lines. The HTTP auth writes ``CALLER_KEY`` into the request's ASGI scope
# (a static token: ``token:<fingerprint>``; a per-user sign-in: the user); without HTTP the caller is ``local``,
# the person who started the process.
CALLER_KEY = "desktop_flows_mcp.caller"


@dataclass(frozen=True)
class CallAudit:
    caller: str
    tool: str


call_audit: ContextVar[CallAudit | None] = ContextVar("call_audit", default=None)


def caller_of(request: object) -> str:
    """The caller an HTTP request's auth named; ``anonymous`` over HTTP without auth, ``local`` without HTTP."""
    scope: object = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return "local"
    caller = cast(dict[str, object], scope).get(CALLER_KEY)
    return caller if isinstance(caller, str) else "anonymous"


@dataclass
class ChallengeSlot:
    """Where a sign-in on the caller's behalf leaves Entra's claims challenge (Conditional Access, MFA) for the
    HTTP layer, which answers the request 401 with it. Set per HTTP request; the SDK copies the request's context
    into the handler, so the handler writes into the same slot. Once a token was handed out in the request
    (``spent``), a later challenge stays in the tool result: a 401 would hide what that token did (a run started)."""

    claims: str | None = None
    spent: bool = False


claims_challenge_slot: ContextVar[ChallengeSlot | None] = ContextVar("claims_challenge_slot", default=None)
