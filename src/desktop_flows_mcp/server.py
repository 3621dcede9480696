"""The MCP server: the tool surface over the services that ``wiring`` assembles.

Tools live in ``tools/`` (one module per area); this module decides which of them a server offers, in which
order clients see them, and what every call passes through first (``tools.surface``).
"""

from __future__ import annotations

import time
import weakref
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
from .tools.diagnose import register_diagnose_tool
from .tools.estate import register_estate_tool
from .tools.flows import register_flow_tools
from .tools.machines import register_machine_tools
from .tools.runs import register_run_read_tools, register_run_write_tools
from .tools.surface import TOOL_ORDER, ToolSurface
from .wiring import Services, connect

if TYPE_CHECKING:
    import httpx

    from .auth import TokenProvider
    from .tools.flow_tools import FlowTools

INSTRUCTIONS = """\
Run and watch Microsoft Power Automate desktop flows (RPA) in one Dataverse environment.
Typical sequence: list_desktop_flows -> get_desktop_flow_schema -> run_desktop_flow -> wait_for_desktop_flow_run
(repeat while is_terminal is false) -> get_desktop_flow_run_outputs. Runs can queue for minutes or hours while
they wait for a machine; never start a run again just because it is slow - wait, or cancel it first.
A failed call returns {"error": {code, message, hint, retryable, http_status, dataverse_code, retry_after_seconds}}:
follow the hint."""

FLOW_TOOLS_INSTRUCTIONS = """
Tools named run_<flow> (DESKTOP_FLOWS_FLOW_TOOLS) each start one allowed flow: its inputs are the arguments, plus
optional run_options (run_desktop_flow's options; wait_seconds defaults to 60). They return what run_desktop_flow
returns, with typed outputs. Set run_options.idempotency_key, so a retry never starts a second run."""

# The tool list changes only with the server's configuration, so clients may keep it for a while.
TOOLS_LIST_CACHE = CacheHint(ttl_ms=300_000, scope="public")

TOOL_NAMES = TOOL_ORDER

# The services of each server while its lifespan runs, for HTTP routes outside MCP (the callback endpoint).
_LIVE: weakref.WeakKeyDictionary[MCPServer[Services], Services] = weakref.WeakKeyDictionary()


def live_services(mcp: MCPServer[Services]) -> Services | None:
    return _LIVE.get(mcp)


def build_server(
    settings: Settings,
    *,
    dataverse_transport: httpx.AsyncBaseTransport | None = None,
    token_provider: TokenProvider | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    offer_sign_in_prompts: bool = False,
    task_tools: Callable[[str], bool] | None = None,
    wait_for_change: WaitForChange | None = None,
) -> MCPServer[Services]:
    """The MCP server for ``settings``. ``dataverse_transport`` replaces the network (the emulator, tests);
    ``clock``/``sleep`` (monotonic) and ``now`` (wall clock, compared with Dataverse's timestamps) replace time.
    ``task_tools`` names the tools whose calls may become MCP tasks (default: run_desktop_flow and the per-flow
    run tools); ``wait_for_change(run_id, seconds)`` paces the task notifications between reads of a run (default:
    the run's callback, or ``sleep``)."""

    flow_tools = settings.run.flow_tools and not settings.run.read_only  # read-only: nothing runs, so none
    per_flow: list[FlowTools] = []  # installed below, once the surface exists

    def runs_a_flow(name: str) -> bool:
        return is_run_tool(name) or any(name in tools.tool_names() for tools in per_flow)

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
            _LIVE[mcp] = services
            try:
                yield services
            finally:
                _LIVE.pop(mcp, None)

    mcp: MCPServer[Services] = MCPServer(
        "desktop-flows-mcp",
        title="Power Automate desktop flows",
        description="Discover, run, watch and cancel Power Automate desktop flows through Dataverse.",
        instructions=INSTRUCTIONS + (FLOW_TOOLS_INSTRUCTIONS if flow_tools else ""),
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",  # the CLI configures logging; the SDK must not turn on INFO for httpx
        cache_hints={"tools/list": TOOLS_LIST_CACHE},
        extensions=[RunTasks(task_tools=task_tools or runs_a_flow, now=now)],
    )
    register_flow_tools(mcp)
    if not settings.run.read_only:
        register_run_write_tools(mcp)
    register_run_read_tools(mcp)
    register_diagnose_tool(mcp)
    register_estate_tool(mcp)
    register_machine_tools(mcp)
    register_access_tools(mcp)
    surface = ToolSurface(mcp)
    mcp.middleware.append(surface)
    if flow_tools:
        from .tools.flow_tools import install_flow_tools

        per_flow.append(install_flow_tools(mcp, surface, clock=clock))

    async def woken_or_paced(run_id: str, seconds: float) -> None:
        live = live_services(mcp)
        if live is None:
            await sleep(seconds)
        else:  # a verified Dataverse callback for the run ends the pause at once
            await live.runs.wait_for_change(run_id, seconds)

    mcp.middleware.append(TaskListener(now=now, wait_for_change=wait_for_change or woken_or_paced))
    return mcp
