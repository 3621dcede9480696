"""The MCP server: the tool surface over the services that ``wiring`` assembles.

Tools live in ``tools/`` (one module per area); this module decides which of them a server offers, in which
order clients see them, and what every call passes through first (``tools.surface``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
from mcp.server import CacheHint, MCPServer

from . import __version__
from .config import Settings
from .tasks import RunTasks, TaskListener, WaitForChange, is_run_tool
from .tools.access import register_access_tools
from .tools.flows import register_flow_tools
from .tools.runs import register_run_read_tools, register_run_write_tools
from .tools.surface import TOOL_ORDER, ToolSurface
from .wiring import Services, connect

if TYPE_CHECKING:
    import httpx

    from .auth import TokenProvider

INSTRUCTIONS = """\
Run and watch Microsoft Power Automate desktop flows (RPA) in one Dataverse environment.
Typical sequence: list_desktop_flows -> get_desktop_flow_schema -> run_desktop_flow -> wait_for_desktop_flow_run
(repeat while is_terminal is false) -> get_desktop_flow_run_outputs. Runs can queue for minutes or hours while
they wait for a machine; never start a run again just because it is slow - wait, or cancel it first.
A failed call returns {"error": {code, message, hint, retryable, http_status, dataverse_code, retry_after_seconds}}:
follow the hint."""

# The tool list changes only with the server's configuration, so clients may keep it for a while.
TOOLS_LIST_CACHE = CacheHint(ttl_ms=300_000, scope="public")

TOOL_NAMES = TOOL_ORDER


def build_server(
    settings: Settings,
    *,
    dataverse_transport: httpx.AsyncBaseTransport | None = None,
    token_provider: TokenProvider | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    offer_sign_in_prompts: bool = False,
    task_tools: Callable[[str], bool] = is_run_tool,
    wait_for_change: WaitForChange | None = None,
) -> MCPServer[Services]:
    """The MCP server for ``settings``. ``dataverse_transport`` replaces the network (the emulator, tests);
    ``clock``/``sleep`` (monotonic) and ``now`` (wall clock, compared with Dataverse's timestamps) replace time.
    ``task_tools`` names the tools whose calls may become MCP tasks; ``wait_for_change(run_id, seconds)`` paces
    the task notifications between reads of a run (default: ``sleep``)."""

    @asynccontextmanager
    async def lifespan(server: MCPServer[Services]) -> AsyncGenerator[Services, None]:
        async with connect(
            settings,
            dataverse_transport=dataverse_transport,
            token_provider=token_provider,
            clock=clock,
            sleep=sleep,
            now=now,
            offer_sign_in_prompts=offer_sign_in_prompts,
        ) as services:
            yield services

    mcp: MCPServer[Services] = MCPServer(
        "desktop-flows-mcp",
        title="Power Automate desktop flows",
        description="Discover, run, watch and cancel Power Automate desktop flows through Dataverse.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",  # the CLI configures logging; the SDK must not turn on INFO for httpx
        cache_hints={"tools/list": TOOLS_LIST_CACHE},
        extensions=[RunTasks(task_tools=task_tools, now=now)],
    )
    register_flow_tools(mcp)
    if not settings.run.read_only:
        register_run_write_tools(mcp)
    register_run_read_tools(mcp)
    register_access_tools(mcp)
    mcp.middleware.append(ToolSurface(mcp))

    async def paced(run_id: str, seconds: float) -> None:
        await sleep(seconds)

    mcp.middleware.append(TaskListener(now=now, wait_for_change=wait_for_change or paced))
    return mcp
