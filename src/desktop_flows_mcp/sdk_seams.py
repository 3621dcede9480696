"""Every use of a private name of the MCP SDK (mcp 2.3), in one place, each with the public API that would remove it.

``tests/test_sdk_seams.py`` holds one test per seam that fails loudly, naming the seam, if an SDK upgrade changes it.

==========================  ===========================================  ============================================
seam                        what it reaches                              public API that would remove it
==========================  ===========================================  ============================================
``lowlevel_server``         ``MCPServer._lowlevel_server``: to serve a   ``MCPServer.run_on_streams(read, write)`` or
                            pair of streams with our own stdio loop      a public ``lowlevel_server`` property (the
                            (``stdio.py``)                               SDK's own ``Client`` reaches in the same way)
``add_prebuilt_tool``       ``MCPServer._tool_manager._tools``: a tool   ``MCPServer.add_tool`` taking a ready
                            whose input schema is built at run time      ``Tool`` or an input schema instead of a
                            (per-flow tools), which no signature has     Python signature
``advertise_tools_changed`` ``MCPServer._lowlevel_server`` and wraps     ``MCPServer(notification_options=...)``, or
                            its ``create_initialization_options``: a     the capability derived from a tool list that
                            legacy client learns ``tools.listChanged``   changes (as 2026-07-28 derives it from listen)
``connection_of``           ``ServerSession._connection``: the long-     ``ServerRequestContext.connection`` (the
                            lived connection of a legacy client, to      SDK's ``Context`` already has it)
                            tell it later that the tool list changed
==========================  ===========================================  ============================================

Public APIs used instead of private ones: the subscription bus passed to ``MCPServer(subscriptions=...)`` (per-flow
tools publish ``ToolsListChanged`` on it) and ``await mcp.list_tools()`` (names and schemas of the tools offered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer, NotificationOptions, Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import ConfigDict


def lowlevel_server(mcp: MCPServer[Any]) -> Server[Any]:
    """The low-level server under ``mcp``: ``run(read, write, options)`` serves one pair of streams."""
    return mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]


class _Arguments(ArgModelBase):
    """Every argument passes through as one dict named ``arguments``: the caller has checked them already."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def add_prebuilt_tool(
    mcp: MCPServer[Any],
    fn: Callable[..., Awaitable[Any]],
    *,
    name: str,
    title: str,
    description: str,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any],
    annotations: ToolAnnotations,
) -> None:
    """Offer ``fn(ctx, arguments)`` as tool ``name`` with a hand-built input schema, published as given; the SDK
    does not re-check arguments against it (``ToolSurface`` does). ``mcp.remove_tool(name)`` removes it."""
    metadata = FuncMetadata(arg_model=_Arguments, output_schema=output_schema)
    tools: dict[str, Tool] = mcp._tool_manager._tools  # pyright: ignore[reportPrivateUsage]
    tools[name] = Tool(
        fn=fn,
        name=name,
        title=title,
        description=description,
        parameters=input_schema,
        fn_metadata=metadata,
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations,
    )


def advertise_tools_changed(mcp: MCPServer[Any]) -> None:
    """Legacy sessions learn ``tools.listChanged: true`` at initialize (2026-07-28 derives it from listen)."""
    lowlevel = lowlevel_server(mcp)
    original = lowlevel.create_initialization_options

    def options(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> Any:
        given = notification_options or NotificationOptions()
        chosen = NotificationOptions(given.prompts_changed, given.resources_changed, tools_changed=True)
        return original(chosen, experimental_capabilities, extensions)

    setattr(lowlevel, "create_initialization_options", options)  # noqa: B010


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The connection a request came in on: it lives as long as the client (``ctx.session`` is one request's)."""
    connection = getattr(ctx.session, "_connection", None)
    return connection if isinstance(connection, Connection) else None
