"""The approval question put to the person through the client (form elicitation), for ``approval.ApprovalGate``.

2025 sessions get ``elicitation/create`` mid-call; 2026-07-28 ones an ``input_required`` answer (the SDK seals its
``request_state``), retried by the client with the person's answer. That ``request_state`` carries a single-use
ticket from the gate, bound to the caller, tool and argument hash: changed arguments, or a replayed answer, ask
again. A client without form elicitation, or a legacy transport that cannot send requests mid-call, gets no asker:
the gate then answers with a preview and a confirm_token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from ..approval import ApprovalPending

QUESTION_KEY = "approval"
_STATE = "approval:"  # + the gate's single-use ticket
ASK_SECONDS = 300.0  # a person who does not answer in 5 minutes has declined (as long as a confirm_token lives)


class Approve(BaseModel):
    approve: bool = Field(title="Approve", description="Yes: go ahead. No: nothing is sent.")


class ElicitationAsker:
    def __init__(self, ctx: Context[Any], *, modern: bool) -> None:
        self._ctx = ctx
        self._modern = modern

    def recorded(self) -> tuple[bool, str] | None:
        state = self._ctx.request_state or ""
        answer = (self._ctx.input_responses or {}).get(QUESTION_KEY)
        if not self._modern or not state.startswith(_STATE) or not isinstance(answer, ElicitResult):
            return None
        return answer.action == "accept" and (answer.content or {}).get("approve") is True, state[len(_STATE) :]

    async def ask(self, message: str, ticket: Callable[[], Awaitable[str]]) -> bool:
        if self._modern:
            schema = Approve.model_json_schema()
            question = ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))
            state = _STATE + await ticket()
            raise ApprovalPending(InputRequiredResult(input_requests={QUESTION_KEY: question}, request_state=state))
        with anyio.move_on_after(ASK_SECONDS):
            try:
                result = await self._ctx.elicit(message, Approve)
            except MCPError:  # the client failed to ask: no yes
                return False
            return result.action == "accept" and result.data.approve
        return False


def asker_for(ctx: Context[Any]) -> ElicitationAsker | None:
    """An asker when the client shows forms (a bare ``elicitation: {}`` counts, as the SDK reads it) and can be
    asked during this call."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None
    version = ctx.protocol_version
    modern = version is not None and is_version_at_least(version, "2026-07-28")
    if not modern and not ctx.request_context.session.can_send_request:
        return None
    return ElicitationAsker(ctx, modern=modern)
