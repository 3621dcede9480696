"""What the tool call in progress asks of the use cases below it, without widening every signature on the way.

``answer_at_once`` is set while the caller takes the run's id at once and follows the run elsewhere (an MCP task,
``tasks/``): a start then never waits, whatever ``wait_seconds`` says, and so sends no progress either.
``call_audit`` names who makes the call (its audit lines) and so whose state it reads and writes (``owner_of``,
``owned``): each person's keys, cursors, task ids, callbacks and memory of runs are their own. ``ContextVar``s, so
concurrent calls never see each other's.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
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


# Whose state a call reads and writes. The callers of a server with one identity (``local``, ``anonymous``, a
# static token) cannot be told apart and share the one owner ``SHARED``, so their keys, caches and cursors are what
# they were before callers were told apart; any other caller (a person signed in through Entra) owns its own.
SHARED = ""
_SHARED_CALLERS = ("local", "anonymous")


def owner_of(caller: str) -> str:
    """The owner of a caller's state: ``SHARED`` for the callers of a single identity, else the caller itself."""
    return SHARED if caller in _SHARED_CALLERS or caller.startswith("token:") else caller


def current_owner() -> str:
    """The owner of the call in progress (``SHARED`` outside a call: the server's own work)."""
    call = call_audit.get()
    return SHARED if call is None else owner_of(call.caller)


def owned(name: str, owner: str | None = None) -> str:
    """``name`` inside its owner's namespace: unchanged for ``SHARED`` (state written before callers were told
    apart stays readable), ``<owner>|<name>`` for anyone else."""
    owner = current_owner() if owner is None else owner
    return name if owner == SHARED else f"{owner}|{name}"


def split_owned(text: str) -> tuple[str, str]:
    """``owned`` reversed: ``(owner, name)``; a name without an owner is ``SHARED``'s."""
    owner, bar, name = text.rpartition("|")
    return (owner, name) if bar else (SHARED, text)


@contextmanager
def acting_for(caller: str, tool: str, upn: str | None = None) -> Generator[None]:
    """Work done for ``caller`` outside its tool call (a task request, a callback for its run): its state, its
    sign-in to Dataverse (on-behalf-of), its name on the audit lines."""
    token = call_audit.set(CallAudit(caller, tool, upn))
    try:
        yield
    finally:
        call_audit.reset(token)
