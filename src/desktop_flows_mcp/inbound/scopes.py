"""Which tools each scope sees and may call, with Entra sign-in (DESKTOP_FLOWS_HTTP_AUTH=entra).

    Flows.Read   every tool that only reads (``readOnlyHint``): flows, runs, outputs, diagnosis, machines, access
    Flows.Run    also the tools that act: run_desktop_flow, cancel_desktop_flow_run and each per-flow run tool
                 (Flows.Run grants Flows.Read: ``verifier.granted_scopes``)

A token with neither never gets here (the SDK answers 403 ``insufficient_scope``). For a caller without Flows.Run,
``tools/list`` leaves out the tools that act, and a call of one is refused with ``forbidden`` before any check of
its arguments or any request to Dataverse. What a tool does is read from its own annotation, so a tool added later
(a per-flow tool) is gated without a list to keep up to date.
"""

from __future__ import annotations

from typing import Any, cast

from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from ..config.entra import RUN_SCOPE
from ..errors import forbidden
from ..tools import error_result


def may_act() -> bool:
    """The call in progress comes from a caller whose token grants Flows.Run."""
    token = get_access_token()
    return token is not None and RUN_SCOPE in token.scopes


class ScopeGate:
    """Server middleware: ``tools/list`` and ``tools/call`` as the caller's scopes allow."""

    def __init__(self, mcp: MCPServer[Any]) -> None:
        self._mcp = mcp

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in ("tools/list", "tools/call") or may_act():
            return await call_next(ctx)
        if ctx.method == "tools/list":
            result = await call_next(ctx)
            if isinstance(result, dict) and isinstance(result.get("tools"), list):
                tools = cast(list[dict[str, Any]], result["tools"])
                return {**result, "tools": [tool for tool in tools if _reads_only(tool)]}
            return result
        name = str(cast(dict[str, Any], ctx.params or {}).get("name"))
        acting = {tool.name for tool in await self._mcp.list_tools() if not _annotated_read_only(tool.annotations)}
        if name in acting:
            return error_result(forbidden(name, RUN_SCOPE))
        return await call_next(ctx)


def _reads_only(tool: dict[str, Any]) -> bool:
    annotations = tool.get("annotations")
    return isinstance(annotations, dict) and cast(dict[str, Any], annotations).get("readOnlyHint") is True


def _annotated_read_only(annotations: Any) -> bool:
    return annotations is not None and getattr(annotations, "read_only_hint", None) is True
