"""The tool that sums up the estate: runs, failures, waits and machine groups over a window (``estate/``)."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from ..app import Services
from ..estate.results import GroupBy, RunSummary
from . import FlowArg, register, services


def register_estate_tool(mcp: MCPServer[Services]) -> None:
    @register(mcp, "Summarize desktop flow runs", read_only=True, idempotent=True)
    async def summarize_desktop_flow_runs(
        ctx: Context[Services],
        since: Annotated[str, Field(min_length=2, max_length=40, description="7d, 24h or an ISO time; 90d at most.")],
        until: Annotated[str | None, Field(min_length=2, max_length=40, description="Default now.")] = None,
        flow: FlowArg | None = None,
        group_by: GroupBy = "flow",
    ) -> RunSummary:
        """How desktop flow runs did over a window, counted by Dataverse. Changes nothing.

        Per group: runs, ok, failed, cancelled, waiting, running, success, top_error, wait_s and run_s ([p50, p95]
        s in queue, running); machine groups add machines, online, capacity, issue. `failures`: top error codes,
        meaning, fix, licence. Next: diagnose_desktop_flow_run on a failed run.
        """
        return await services(ctx).estate.summarize(since=since, until=until, flow=flow, group_by=group_by)
