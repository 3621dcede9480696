"""Each allowed, published desktop flow as a typed tool of its own (``DESKTOP_FLOWS_FLOW_TOOLS``).

========  ==================================================================================================
when      the first tools/list or tools/call builds the tools from one Dataverse read of the allow-list; a
          tools/list more than ``REFRESH_SECONDS`` after the last build, or a call that finds its flow changed
          (renamed, unpublished, deleted, new inputs), reads again; a changed list is announced with
          ``notifications/tools/list_changed`` to every legacy client that listed or called tools, and on
          ``subscriptions/listen`` (2026-07-28)
names     ``slugs``: ``run_`` + the flow's name in snake_case, stable while the name is unchanged
schemas   ``flow_schemas``; ``ToolSurface`` validates each call against the published input schema
a call    exactly run_desktop_flow's path: ``RunService.run`` (inputs, allow-list, idempotency, run-rate limiter)
gone      a call to a tool whose flow went away is ``not_found`` with a hint, never an unknown tool
========  ==================================================================================================

The SDK builds a tool's schema from a Python signature, which flow inputs (any names, typed at run time) do not
have; so each tool is added with a hand-built schema (``sdk_seams.add_prebuilt_tool``), which the SDK publishes but
does not re-check.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any, cast

import anyio
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import SubscriptionBus, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..app import App, Services
from ..bounds import MAX_NAME, clean
from ..errors import DesktopFlowsError, ErrorCode, flow_tool_gone
from ..flows import PublishedFlow, unmatched_warning
from ..models import StartedRun
from ..sdk_seams import add_prebuilt_tool, advertise_tools_changed, connection_of
from ..slugs import tool_names
from . import boundary, error_result, progress_reporter, services
from .flow_schemas import (
    ANNOTATIONS,
    RUN_OPTIONS_ARGUMENT,
    WAIT_SECONDS,
    Published,
    check_options,
    publish,
    run_options_schemas,
    typed_outputs,
    unfit,
)
from .surface import ToolSurface

log = logging.getLogger("desktop_flows_mcp")

MAX_FLOW_TOOLS = 50
REFRESH_SECONDS = 300.0  # as long as clients may cache tools/list (server.TOOLS_LIST_CACHE)
RETRY_SECONDS = 60.0  # after a failed read, tools/list tries again no sooner
# What a run start says when its flow is gone: deleted, renamed off the allow-list, or no longer published.
_GONE_CODES = (ErrorCode.NOT_FOUND, ErrorCode.FLOW_NOT_ALLOWED, ErrorCode.INVALID_ARGUMENT)


@dataclass(frozen=True)
class FlowTool:
    name: str
    flow: PublishedFlow
    shown: Published  # its entry in tools/list; ``shown.outputs`` is what the result's `outputs` must meet


class FlowTools:
    """The per-flow tools of one server, and the middleware that builds them when a client first needs them."""

    def __init__(self, mcp: MCPServer[Services], surface: ToolSurface, app: App, bus: SubscriptionBus) -> None:
        self._mcp = mcp
        self._bus = bus
        self._surface = surface
        self._app = app
        self._clock = app.clock.monotonic
        self._tools: dict[str, FlowTool] = {}
        self._gone: dict[str, tuple[str, str]] = {}  # tool name → (flow name, why): for late calls
        self._unmatched: set[str] = set()  # allow-list entries that matched no published flow at the last build
        self._built_at: float | None = None
        self._failed_at: float | None = None
        self._lock = anyio.Lock()
        self._options_check: dict[str, Any] = {}  # run_options with every limit run_desktop_flow has
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()  # legacy connections that listed or called tools

    def tool_names(self) -> frozenset[str]:
        """The per-flow tools now offered: each runs a flow exactly as run_desktop_flow does."""
        return frozenset(self._tools)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method in ("tools/list", "tools/call"):
            self._remember_connection(ctx)
            await self._ensure(self._app.services, refresh=ctx.method == "tools/list")
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            name = str(ctx.params.get("name"))
            if name in self._gone and name not in self._tools:
                return error_result(flow_tool_gone(name, *self._gone[name]))
        return await call_next(ctx)

    async def _ensure(self, services: Services, *, refresh: bool) -> None:
        if self._due(refresh):
            async with self._lock:
                first = self._built_at is None
                if self._due(refresh) and await self.rebuild(services) and not first:
                    await self.announce()  # a refresh found the flows changed: the other clients hear it too

    def _due(self, refresh: bool) -> bool:
        now = self._clock()
        if self._failed_at is not None and now - self._failed_at < RETRY_SECONDS:
            return False
        return self._built_at is None or (refresh and now - self._built_at >= REFRESH_SECONDS)

    async def rebuild(self, services: Services) -> bool:
        """Read the allowed flows again and offer their tools; True when the list changed. A failed read keeps
        the tools there are (none at first) and is logged: tools/list must not fail because Dataverse did."""
        try:
            check = await services.catalogue.check_allow_list()
        except DesktopFlowsError as error:
            self._failed_at = self._clock()
            log.warning("per-flow tools: reading the allowed flows failed (%s): %s", error.code.value, error.message)
            return False
        self._failed_at, self._built_at = None, self._clock()
        unmatched = {item.entry for item in check.unmatched}
        if check.unmatched and unmatched != self._unmatched:  # said once per change, not at every refresh
            log.warning("per-flow tools: %s", unmatched_warning(check.unmatched))
        self._unmatched = unmatched
        return await self._install(check.flows)

    async def _install(self, flows: list[PublishedFlow]) -> bool:
        fit: list[PublishedFlow] = []
        for flow in flows:
            reason = unfit(flow)
            if reason:
                _no_tool(flow, reason)
            else:
                fit.append(flow)
        if len(fit) > MAX_FLOW_TOOLS:
            log.warning("per-flow tools: %d flows are allowed; tools are offered for the first 50 by name.", len(fit))
            fit = fit[:MAX_FLOW_TOOLS]
        offered = {tool.name: tool for tool in await self._mcp.list_tools()}
        builtin = set(offered) - set(self._tools)
        names = tool_names({flow.ref.id: flow.ref.name for flow in fit}, reserved=builtin)
        # per-flow tools exist only where run_desktop_flow does (not read-only)
        options, self._options_check = run_options_schemas(offered["run_desktop_flow"].input_schema)
        fresh: dict[str, FlowTool] = {}
        for flow in fit:
            shown = publish(names[flow.ref.id], flow, options)
            if isinstance(shown, str):
                _no_tool(flow, shown)
            else:
                fresh[names[flow.ref.id]] = FlowTool(names[flow.ref.id], flow, shown)
        if {n: t.flow for n, t in fresh.items()} == {n: t.flow for n, t in self._tools.items()}:
            return False
        for name, old in self._tools.items():
            self._mcp.remove_tool(name)
            if name not in fresh:
                self._gone[name] = (old.flow.ref.name, "is no longer published and allowed, or was renamed")
        for name, tool in fresh.items():
            self._register(tool)
            self._gone.pop(name, None)
        self._tools = fresh
        self._surface.invalidate()
        log.info("per-flow tools: %s", ", ".join(sorted(fresh)) or "none")
        return True

    def _remember_connection(self, ctx: ServerRequestContext[Any, Any]) -> None:
        """A handshake-era client's connection lives as long as the client (``ctx.session`` is one request's); a
        2026-07-28 client has no standing channel and hears of changes on ``subscriptions/listen`` instead."""
        connection = connection_of(ctx)
        if connection is not None and connection.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._connections.add(connection)

    async def announce(self) -> None:
        """Tell every client the tool list changed: 2026-07-28 listeners through the SDK's bus, and each legacy
        session that has listed or called tools on its own channel (at 2026-07-28 the SDK drops that copy). A
        client that cannot hear it still gets not_found with a hint on a stale call."""
        try:
            await self._bus.publish(ToolsListChanged())
        except Exception:
            log.debug("per-flow tools: list_changed not published to listeners", exc_info=True)
        for connection in list(self._connections):
            try:
                await connection.send_tool_list_changed()
            except Exception:  # that client has gone
                self._connections.discard(connection)
                log.debug("per-flow tools: list_changed not delivered to a session", exc_info=True)

    def _register(self, tool: FlowTool) -> None:
        async def call(ctx: Context[Services], arguments: dict[str, Any]) -> StartedRun:
            return await self._call(tool, ctx, arguments)

        call.__name__ = tool.name
        add_prebuilt_tool(
            self._mcp,
            boundary(call, split_token=_option_token),
            name=tool.name,
            title=tool.shown.title,
            description=tool.shown.description,
            input_schema=tool.shown.input_schema,
            output_schema=tool.shown.output_schema,
            annotations=ANNOTATIONS,
        )

    async def _call(self, tool: FlowTool, ctx: Context[Services], arguments: dict[str, Any]) -> StartedRun:
        from ..runs import RunRequest

        svc = services(ctx)
        inputs = dict(arguments)
        options = cast(dict[str, Any], inputs.pop(RUN_OPTIONS_ARGUMENT, None) or {})
        check_options(options, self._options_check)
        options: dict[str, Any] = {"wait_seconds": WAIT_SECONDS, **options}
        options.pop("confirm_token", None)  # the boundary handed it to the approval gate
        request = RunRequest(flow=tool.flow.ref.id, inputs=inputs, **options)
        try:
            started = await svc.runs.run(request, progress_reporter(ctx))
        except DesktopFlowsError as error:
            why = await self._recheck(tool, svc, ctx)
            if why is not None and tool.name not in self._tools and error.code in _GONE_CODES:
                raise flow_tool_gone(tool.name, tool.flow.ref.name, why) from error
            raise
        try:
            await self._recheck(tool, svc, ctx)
        except Exception:  # the run started: nothing after this may turn the result into an error
            log.warning("per-flow tools: checking %s after its run failed", tool.name, exc_info=True)
        return typed_outputs(started, tool.shown.outputs)

    async def _recheck(self, tool: FlowTool, svc: Services, ctx: Context[Services]) -> str | None:
        """After a call: has the flow behind ``tool`` changed? Then rebuild and announce. Reads only what the
        catalogue does not hold already (usually nothing: the run just read it); never raises."""
        why = await _change(tool, svc)
        if why is None:
            return None
        log.info(
            "per-flow tools: %s: desktop flow %r %s; reading the allowed flows again",
            tool.name,
            tool.flow.ref.name,
            why,
        )
        async with self._lock:
            changed = await self.rebuild(svc)
        if tool.name not in self._tools:
            self._gone[tool.name] = (tool.flow.ref.name, why)
        if changed:
            await self.announce()
        return why


def _option_token(arguments: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A per-flow tool's confirm_token is one of its run_options."""
    inputs = dict(cast(dict[str, Any], arguments.get("arguments") or {}))
    options = dict(cast(dict[str, Any], inputs.get(RUN_OPTIONS_ARGUMENT) or {}))
    token = options.pop("confirm_token", None)
    inputs.pop(RUN_OPTIONS_ARGUMENT, None)
    if options:  # run_options with only the token, or none: the same call
        inputs[RUN_OPTIONS_ARGUMENT] = options
    return {"arguments": inputs}, token if isinstance(token, str) else None


def _no_tool(flow: PublishedFlow, why: str) -> None:
    log.warning(
        "per-flow tools: no tool for %r: %s; run it with run_desktop_flow.", clean(flow.ref.name, MAX_NAME), why
    )


async def _change(tool: FlowTool, svc: Services) -> str | None:
    catalogue = svc.catalogue
    try:
        ref = await catalogue.resolve(tool.flow.ref.id)
        inputs = await catalogue.schema_text(ref.id, "inputs")
    except DesktopFlowsError as error:
        return "was deleted (or this identity can no longer read it)" if error.code is ErrorCode.NOT_FOUND else None
    if ref.state != "published":
        return f"is {ref.state}"
    if ref.name != tool.flow.ref.name:  # the allow-list is fixed: only a new name can take a flow off it
        allowed = catalogue.allowed.allows(ref)
        return f"was renamed to {ref.name!r}" + ("" if allowed else ", a name DESKTOP_FLOWS_ALLOWED does not list")
    if inputs != tool.flow.inputs:
        return "has new inputs"
    return None


def flow_tools_of(mcp: MCPServer[Any]) -> FlowTools | None:
    """The server's per-flow tools, if it offers them: ``flow_tools_of(mcp).tool_names()`` says which tool names
    run a flow exactly as run_desktop_flow does (for rules that apply to every run tool, such as tasks)."""
    return next((m for m in mcp.middleware if isinstance(m, FlowTools)), None)


def install_flow_tools(mcp: MCPServer[Services], surface: ToolSurface, app: App, bus: SubscriptionBus) -> FlowTools:
    """Offer per-flow tools on ``mcp``, announcing changes on ``bus`` (the server's subscription bus); the returned
    registry answers which tools are per-flow run tools."""
    tools = FlowTools(mcp, surface, app, bus)
    mcp.middleware.insert(mcp.middleware.index(surface), tools)
    advertise_tools_changed(mcp)
    return tools
