"""The MCP server: the tool surface over the services of an ``App`` (``app.py``, the composition root).

Tools live in ``tools/`` (one module per area); this module decides which of them a server offers, in which
order clients see them, and what every call passes through first (``tools.surface``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server import CacheHint, MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from . import __version__
from .app import App, Services
from .config import HttpSettings
from .tasks import RunTasks, TaskListener, WaitForChange, is_run_tool
from .tools.access import register_access_tools
from .tools.diagnose import register_diagnose_tool
from .tools.estate import register_estate_tool
from .tools.flows import register_flow_tools
from .tools.machines import register_machine_tools
from .tools.runs import register_run_read_tools, register_run_write_tools
from .tools.surface import TOOL_ORDER, ToolSurface

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

APPROVAL_INSTRUCTIONS = """
A person approves runs and cancels first: an approval_required error carries a preview to show them; only after they
agree, call again with its confirm_token (run_options.confirm_token in run_<flow> tools)."""

# The tool list changes only with the server's configuration, so clients may keep it for a while.
TOOLS_LIST_CACHE = CacheHint(ttl_ms=300_000, scope="public")

# With Entra sign-in the list depends on the caller's scopes (inbound/scopes.py): no shared cache may keep it.
TOOLS_LIST_PER_CALLER = CacheHint(ttl_ms=300_000, scope="private")

TOOL_NAMES = TOOL_ORDER


def build_server(
    app: App,
    *,
    task_tools: Callable[[str], bool] | None = None,
    wait_for_change: WaitForChange | None = None,
    check_allow_list_at_start: bool = False,
    http: HttpSettings | None = None,
) -> MCPServer[Services]:
    """The MCP server over ``app``: its lifespan opens the app and hands out its services. ``task_tools`` names
    the tools whose calls may become MCP tasks (default: run_desktop_flow and the per-flow run tools);
    ``wait_for_change(run_id, seconds)`` paces the task notifications between reads of a run (default: the run's
    callback, or the app's clock). ``check_allow_list_at_start`` names, on stderr, the allow-list entries that match
    no published flow, in the background once the server is up (the console script turns it on). ``http`` is where
    the server listens, for the Entra sign-in's resource URL (``inbound``; default: HttpSettings())."""
    settings = app.settings
    flow_tools = settings.run.flow_tools and not settings.run.read_only  # read-only: nothing runs, so none

    def runs_a_flow(name: str) -> bool:
        if is_run_tool(name):
            return True
        if not flow_tools:
            return False
        from .tools.flow_tools import flow_tools_of

        per_flow = flow_tools_of(mcp)
        return per_flow is not None and name in per_flow.tool_names()

    @asynccontextmanager
    async def lifespan(server: MCPServer[Services]) -> AsyncGenerator[Services, None]:
        async with app.running() as services, anyio.create_task_group() as start_up:
            if check_allow_list_at_start and settings.run.allowed_flows:
                from .flows import warn_unmatched_allowed

                start_up.start_soon(warn_unmatched_allowed, services.catalogue)
            try:
                yield services
            finally:
                start_up.cancel_scope.cancel()

    bus = InMemorySubscriptionBus()  # subscriptions/listen (2026-07-28): per-flow tools announce changes on it
    mcp: MCPServer[Services] = MCPServer(
        "desktop-flows-mcp",
        title="Power Automate desktop flows",
        description="Discover, run, watch and cancel Power Automate desktop flows through Dataverse.",
        instructions=INSTRUCTIONS
        + (FLOW_TOOLS_INSTRUCTIONS if flow_tools else "")
        + (APPROVAL_INSTRUCTIONS if settings.run.approval.configured and not settings.run.read_only else ""),
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",  # the CLI configures logging; the SDK must not turn on INFO for httpx
        cache_hints={"tools/list": TOOLS_LIST_CACHE if settings.entra is None else TOOLS_LIST_PER_CALLER},
        subscriptions=bus,
        extensions=[RunTasks(task_tools=task_tools or runs_a_flow, clock=app.clock)],
        **_entra_sign_in(app, http or HttpSettings()),
    )
    register_flow_tools(mcp)
    if not settings.run.read_only:
        register_run_write_tools(mcp, approval=settings.run.approval.configured)
    register_run_read_tools(mcp)
    register_diagnose_tool(mcp)
    register_estate_tool(mcp)
    register_machine_tools(mcp)
    register_access_tools(mcp)
    surface = ToolSurface(mcp)
    mcp.middleware[:0] = app.telemetry.server_middleware()  # outermost: times the whole call
    if settings.entra is not None:
        from .inbound.scopes import ScopeGate

        mcp.middleware.append(ScopeGate(mcp))  # before the surface: a tool out of scope is refused unread
    mcp.middleware.append(surface)
    if flow_tools:
        from .tools.flow_tools import install_flow_tools

        install_flow_tools(mcp, surface, app, bus)
    mcp.middleware.append(TaskListener(clock=app.clock, wait_for_change=wait_for_change or app.wait_for_change))
    return mcp


def _entra_sign_in(app: App, http: HttpSettings) -> dict[str, Any]:
    """With DESKTOP_FLOWS_HTTP_AUTH=entra: the SDK's resource-server options (``inbound``); otherwise none."""
    settings = app.settings
    if settings.entra is None:
        return {}
    from .inbound.resource import resource_server, server_url
    from .inbound.verifier import EntraTokenVerifier

    verifier = EntraTokenVerifier(
        settings.entra,
        settings.dataverse_url,
        transport=app.entra_transport,
        clock=lambda: app.clock.now().timestamp(),
        monotonic=app.clock.monotonic,
    )
    return {"auth": resource_server(settings, server_url(settings, http)).auth, "token_verifier": verifier}
