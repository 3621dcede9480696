"""One test per seam in ``sdk_seams``: each fails, naming its seam, when an SDK upgrade changes a private name we use.

If one fails after an upgrade, read the seam's row in ``sdk_seams``'s docstring: the public API it names may now
exist, and the seam can go.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer, Server
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations, ToolListChangedNotification

from desktop_flows_mcp.sdk_seams import add_prebuilt_tool, advertise_tools_changed, connection_of, lowlevel_server

pytestmark = pytest.mark.anyio
SCHEMA = {"type": "object", "properties": {"Amount (net)": {"type": "number"}}, "required": ["Amount (net)"]}


def bare() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("seams", log_level="WARNING")

    @server.tool()
    async def ping() -> str:  # pyright: ignore[reportUnusedFunction]
        return "pong"

    return server


def test_seam_lowlevel_server_is_the_sdk_server_that_serves_a_pair_of_streams() -> None:
    lowlevel = lowlevel_server(bare())
    assert isinstance(lowlevel, Server), "sdk_seams.lowlevel_server: MCPServer._lowlevel_server changed"
    assert callable(lowlevel.run) and callable(lowlevel.create_initialization_options)


async def test_seam_add_prebuilt_tool_publishes_the_schema_as_given_and_passes_the_arguments_as_one_dict() -> None:
    server = bare()
    received: list[dict[str, Any]] = []

    async def call(ctx: Context[Any], arguments: dict[str, Any]) -> CallToolResult:
        received.append(arguments)
        return CallToolResult(content=[TextContent(type="text", text='{"ok":true}')], structured_content={"ok": True})

    add_prebuilt_tool(
        server,
        call,
        name="run_invoice",
        title="Invoice",
        description="Runs it.",
        input_schema=SCHEMA,
        output_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
        annotations=ToolAnnotations(read_only_hint=False),
    )
    listed = {tool.name: tool for tool in await server.list_tools()}
    assert listed["run_invoice"].input_schema == SCHEMA, "sdk_seams.add_prebuilt_tool: the tool manager changed"
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool("run_invoice", {"Amount (net)": 3})
    assert not result.is_error and result.structured_content == {"ok": True}
    assert received == [{"Amount (net)": 3}]
    server.remove_tool("run_invoice")
    assert "run_invoice" not in {tool.name for tool in await server.list_tools()}


async def test_seam_advertise_tools_changed_tells_a_legacy_client_at_initialize() -> None:
    server = bare()
    async with Client(server, mode="legacy") as client:
        before = client.server_capabilities.tools
    advertise_tools_changed(server)
    async with Client(server, mode="legacy") as client:
        after = client.server_capabilities.tools
    assert before is not None and before.list_changed is False
    assert after is not None and after.list_changed is True, "sdk_seams.advertise_tools_changed: initialize changed"


async def test_seam_connection_of_is_the_long_lived_connection_that_can_tell_the_client_later() -> None:
    server = bare()
    found: list[Connection | None] = []
    heard: list[str] = []

    async def remember(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call":
            found.append(connection_of(ctx))
        return await call_next(ctx)

    async def notice(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            heard.append("tools/list_changed")

    server.middleware.append(remember)
    async with Client(server, mode="legacy", message_handler=notice) as client:
        await client.call_tool("ping", {})
        connection = found[0]
        assert connection is not None, "sdk_seams.connection_of: ServerSession._connection changed"
        assert connection.protocol_version == client.protocol_version
        await connection.send_tool_list_changed()
        await client.list_tools()  # a round trip: the notice has arrived
    assert heard == ["tools/list_changed"]
