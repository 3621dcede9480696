"""The tool that lists machines and machine groups with their health (``diagnosis/machines.py``)."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from ..app import Services
from ..diagnosis.results import MachineList
from . import CursorArg, register, services


def register_machine_tools(mcp: MCPServer[Services]) -> None:
    @register(mcp, "List machines and machine groups", read_only=True, idempotent=True)
    async def list_machines(
        ctx: Context[Services],
        search: Annotated[str | None, Field(max_length=100, description="Name contains this (any case).")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Machines per page.")] = 50,
        cursor: CursorArg = None,
    ) -> MachineList:
        """List the machines and machine groups this identity can see, each machine with its health.

        health: error (error status, hosted machine in error, group key expired, over capacity), maintenance,
        offline (inactive, or no heartbeat for 10 minutes), else online. Groups (first page) show kind, status,
        provisioning and machine count. Pass next_cursor as `cursor` for more.
        """
        return await services(ctx).machines.list_machines(search=search, limit=limit, cursor=cursor)
