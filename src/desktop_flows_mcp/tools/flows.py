"""Tools that find desktop flows and what they need: the catalogue, schemas, connection references."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from ..app import Services
from ..models import ConnectionReferenceList, FlowList, FlowSchema
from . import CursorArg, FlowArg, register, services


def register_flow_tools(mcp: MCPServer[Services]) -> None:
    @register(mcp, "List desktop flows", read_only=True, idempotent=True)
    async def list_desktop_flows(
        ctx: Context[Services],
        search: Annotated[str | None, Field(max_length=100, description="Name contains this (any case).")] = None,
        include_drafts: Annotated[bool, Field(description="Also list unpublished flows.")] = False,
        limit: Annotated[int, Field(ge=1, le=200, description="Flows per page.")] = 50,
        cursor: CursorArg = None,
    ) -> FlowList:
        """List the Power Automate desktop flows in this Dataverse environment, sorted by name.

        Use it first, to find the flow a person means; narrow with `search` rather than paging. Only flows with
        `runnable: true` can be started. Next: get_desktop_flow_schema, then run_desktop_flow. When next_cursor
        is present, pass it as `cursor` for more.
        """
        return await services(ctx).catalogue.list_flows(
            search=search, include_drafts=include_drafts, limit=limit, cursor=cursor
        )

    @register(mcp, "Get a desktop flow's inputs and outputs", read_only=True, idempotent=True)
    async def get_desktop_flow_schema(ctx: Context[Services], flow: FlowArg) -> FlowSchema:
        """Get the JSON Schemas of a desktop flow's inputs and outputs.

        Call it before run_desktop_flow: `inputs` lists every input variable with its type and default;
        run_desktop_flow refuses names and types that do not match. A flow with no inputs has empty
        `properties`; run it with inputs={}.
        """
        return await services(ctx).catalogue.get_schema(flow)

    @register(mcp, "List desktop flow connection references", read_only=True, idempotent=True)
    async def list_connection_references(
        ctx: Context[Services],
        search: Annotated[
            str | None, Field(max_length=100, description="Display or logical name contains this.")
        ] = None,
    ) -> ConnectionReferenceList:
        """List the desktop flow connection references in this environment.

        A run needs a connection (which machine or group, and which Windows account). Pass a reference's
        logical_name to run_desktop_flow as connection_name with connection_type='connection_reference'. A
        reference without connection_id is not bound yet and cannot run flows.
        """
        return await services(ctx).catalogue.list_connection_references(search=search)
