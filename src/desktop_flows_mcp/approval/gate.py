"""``ApprovalGate``: the one decision a start or cancel passes before its write (the order is in ``__init__``)."""

from __future__ import annotations

import hashlib
import logging

from ..config.approval import ApprovalPolicy
from ..errors import approval_declined, approval_invalid, approval_needs_tool_call, approval_required
from ..logs import AUDIT
from .call import ApprovalCall, approval_call
from .preview import Preview
from .store import ApprovalStore, Verdict

TOKEN_SECONDS = 300.0
KEY_APPROVAL_SECONDS = 24 * 3600.0  # as long as an idempotency key is kept
_WHY: dict[Verdict, str] = {
    "expired": "expired (they last 5 minutes)",
    "mismatch": "for another caller, tool or other arguments (and is now used up)",
    "unknown": "unknown or already used",
}
audit = logging.getLogger(AUDIT)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class ApprovalGate:
    def __init__(self, policy: ApprovalPolicy, store: ApprovalStore) -> None:
        self.policy = policy
        self._store = store

    def covers(self, flow_id: str | None, flow_name: str | None, run_mode: str | None) -> bool:
        return self.policy.covers(flow_id, flow_name, run_mode)

    async def approve(self, preview: Preview, *, key: str | None = None) -> None:
        """Return when the person approved this call (now, or earlier for this idempotency ``key``); else raise
        ``approval_required`` / ``approval_declined`` / ``approval_invalid`` (or ``ApprovalPending``: asked)."""
        call = approval_call.get()
        if call is None:  # not a tool call (tasks/cancel): no way to ask
            raise approval_needs_tool_call(preview.run_id or preview.flow or "")
        binding = _hash(call.caller, call.tool, call.arguments_hash)
        key_binding = _hash("key", call.caller, key) if key is not None else None
        if key_binding is not None and await self._store.key_granted(key_binding):
            _decided(call, preview, "approved", "idempotency_key")
            return
        if call.confirm_token is not None:
            verdict = await self._store.redeem(call.confirm_token, binding)
            _decided(call, preview, "approved" if verdict == "ok" else verdict, "confirm_token")
            if verdict != "ok":
                raise approval_invalid(_WHY[verdict])
        elif call.asker is not None:
            answer = await self._recorded(call, binding)
            if answer is None:
                _requested(call, preview, "elicitation")
                answer = await call.asker.ask(preview.message(), lambda: self._ticket(binding))
            _decided(call, preview, "approved" if answer else "declined", "elicitation")
            if not answer:
                raise approval_declined(preview.action)
        else:
            token = await self._store.issue(binding, expires_in=TOKEN_SECONDS)
            _requested(call, preview, "confirm_token")
            raise approval_required(preview.action, preview.as_dict(), token, TOKEN_SECONDS)
        if key_binding is not None:
            await self._store.grant_key(key_binding, expires_in=KEY_APPROVAL_SECONDS)

    async def _recorded(self, call: ApprovalCall, binding: str) -> bool | None:
        """The person's answer this round carries, if its ticket is this call's and unused (a replayed answer, or one
        for other arguments, asks again)."""
        assert call.asker is not None
        recorded = call.asker.recorded()
        if recorded is None:
            return None
        answer, ticket = recorded
        return answer if await self._store.redeem(ticket, binding) == "ok" else None

    async def _ticket(self, binding: str) -> str:
        return await self._store.issue(binding, expires_in=TOKEN_SECONDS)


def _line(call: ApprovalCall, preview: Preview, what: str, outcome: str) -> None:
    """One audit line; caller and tool are appended by the audit logger (``logs.AuditFields``)."""
    flow = preview.flow_id or preview.flow
    audit.info(
        "approval %s action=%s flow=%s run_id=%s args=%s",
        what,
        preview.action,
        flow,
        preview.run_id,
        call.arguments_hash[:16],
        extra={"caller": call.caller, "tool": call.tool, "flow": flow, "run_id": preview.run_id, "outcome": outcome},
    )


def _requested(call: ApprovalCall, preview: Preview, via: str) -> None:
    _line(call, preview, f"requested via={via}", "approval_requested")


def _decided(call: ApprovalCall, preview: Preview, decision: str, via: str) -> None:
    _line(call, preview, f"decided decision={decision} via={via}", f"approval_{decision}")
