"""The MCP tool surface: thin tools over the flow catalogue and the run service.

Each tool reads its arguments, calls one service method and returns a model. ``_tool_boundary`` is the one
place that turns a ``DesktopFlowsError`` into the contract's ``isError`` result with
``structuredContent = {"error": {...}}``. The tool names and argument names are a public API.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar, get_type_hints

import anyio
import anyio.abc
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from . import __version__
from .access import AccessReport, EnvironmentList
from .config import Settings
from .errors import DesktopFlowsError, ErrorCode
from .models import (
    CancelledRun,
    ConnectionReferenceList,
    FlowList,
    FlowRun,
    FlowSchema,
    RunList,
    RunOutputs,
    RunStatusName,
    StartedRun,
)

if TYPE_CHECKING:
    import httpx

    from .access import AccessService
    from .auth import TokenProvider
    from .flows import FlowCatalogue
    from .runs import RunService

log = logging.getLogger("desktop_flows_mcp")

INSTRUCTIONS = """\
Run and watch Microsoft Power Automate desktop flows (RPA) in one Dataverse environment.
Typical sequence: list_desktop_flows -> get_desktop_flow_schema -> run_desktop_flow -> wait_for_desktop_flow_run
(repeat while is_terminal is false) -> get_desktop_flow_run_outputs. Runs can queue for minutes or hours while
they wait for a machine; never start a run again just because it is slow - wait, or cancel it first.
Every failure has error.code and error.hint: follow the hint."""

FlowArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="The desktop flow's GUID (from list_desktop_flows) or its exact name (case-insensitive).",
    ),
]
RunIdArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The run's GUID (flowsessionId), as returned by run_desktop_flow or list_desktop_flow_runs.",
    ),
]
CursorArg = Annotated[
    str | None,
    Field(max_length=4096, description="next_cursor from the previous page; omit for the first page."),
]


@dataclass
class Services:
    catalogue: FlowCatalogue
    runs: RunService
    access: AccessService | None = None


def _services(ctx: Context[Services]) -> Services:
    return ctx.request_context.lifespan_context


P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)


def _tool_boundary(fn: Callable[P, Awaitable[M]]) -> Callable[P, Awaitable[M | CallToolResult]]:
    """DesktopFlowsError → the contract's error result; anything else → ``internal`` without its details.

    The wrapper advertises ``Annotated[CallToolResult, <model>]``, so the SDK publishes the model's output
    schema (which admits the error envelope) and passes error results through unvalidated.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> M | CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except DesktopFlowsError as error:
            log.info("tool %s failed: %s %s", fn.__name__, error.code.value, error.message)
            return error_result(error)
        except Exception as exc:
            log.exception("tool %s crashed", fn.__name__)
            return error_result(
                DesktopFlowsError(
                    ErrorCode.INTERNAL,
                    f"Unexpected {type(exc).__name__} in {fn.__name__}; the details are in the server log.",
                    hint="This is a bug in desktop-flows-mcp. Retry once; if it repeats, report it with the log.",
                )
            )

    hints = get_type_hints(fn, include_extras=True)
    result_type = Annotated[CallToolResult, hints["return"]]
    signature = inspect.signature(fn, eval_str=True)
    setattr(wrapper, "__signature__", signature.replace(return_annotation=result_type))  # noqa: B010
    wrapper.__annotations__ = {**hints, "return": result_type}
    wrapper.__doc__ = inspect.cleandoc(fn.__doc__ or "")  # the tool description, without source indentation
    return wrapper


def error_result(error: DesktopFlowsError) -> CallToolResult:
    body = {"error": error.to_payload()}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
        is_error=True,
    )


def _tool(
    mcp: MCPServer[Services],
    title: str,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool,
    open_world: bool = False,
) -> Callable[[Callable[P, Awaitable[M]]], Callable[P, Awaitable[M]]]:
    """Register a tool behind the error boundary, with its title and all four annotations set on purpose."""

    def register(fn: Callable[P, Awaitable[M]]) -> Callable[P, Awaitable[M]]:
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )
        mcp.tool(title=title, annotations=annotations)(_tool_boundary(fn))
        return fn

    return register


def build_server(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token_provider: TokenProvider | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> MCPServer[Services]:
    """The MCP server for ``settings``. ``transport`` replaces the network (the emulator, tests)."""

    @asynccontextmanager
    async def lifespan(server: MCPServer[Services]) -> AsyncGenerator[Services, None]:
        async with _connect(settings, transport, token_provider, clock, sleep) as services:
            yield services

    mcp: MCPServer[Services] = MCPServer(
        "desktop-flows-mcp",
        title="Power Automate desktop flows",
        description="Discover, run, watch and cancel Power Automate desktop flows through Dataverse.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level="WARNING",  # the CLI configures logging; the SDK must not turn on INFO for httpx
    )
    _register_read_tools(mcp)
    if not settings.run.read_only:
        _register_write_tools(mcp)
    _register_access_tools(mcp)
    return mcp


@asynccontextmanager
async def _connect(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    token_provider: TokenProvider | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> AsyncGenerator[Services, None]:
    """One pooled HTTP client for the process, and the services built on it."""
    import httpx  # the HTTP stack loads when the server starts serving, not when the CLI parses flags

    from .access import build_access_service
    from .auth import BearerAuth
    from .cursors import CursorCodec
    from .dataverse.client import DataverseClient, default_timeout
    from .dataverse.resilience import RunRateLimiter
    from .flows import AllowList, FlowCatalogue
    from .runs import RunService

    provider = token_provider or _token_provider(settings)
    async with anyio.create_task_group() as background:
        if settings.uses_emulator and transport is None:
            transport = _embedded_emulator(background)
        async with httpx.AsyncClient(
            transport=transport,
            auth=BearerAuth(provider),
            timeout=default_timeout(),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": f"desktop-flows-mcp/{__version__}"},
            follow_redirects=False,
        ) as http:
            client = DataverseClient(
                http,
                settings.dataverse_url,
                clock=clock,
                sleep=sleep,
                run_limiter=RunRateLimiter(clock=clock, sleep=sleep),
            )
            cursors = CursorCodec()
            catalogue = FlowCatalogue(client, AllowList(settings.run.allowed_flows), cursors)
            runs = RunService(client, catalogue, settings, cursors, clock=clock, sleep=sleep)
            yield Services(catalogue, runs, access=build_access_service(settings, http, client, provider))
        background.cancel_scope.cancel()


def _embedded_emulator(background: anyio.abc.TaskGroup) -> httpx.AsyncBaseTransport:
    """The emulator in-process: same client code path as production, no port. Its callbacks are logged,
    not sent, so a demo never makes outbound calls."""
    import httpx

    from .emulator import Emulator

    def log_callback(request: httpx.Request) -> httpx.Response:
        log.warning("emulator: run finished; a real Dataverse would now POST its callback to %s", request.url)
        return httpx.Response(200)

    emulator = Emulator(callback_transport=httpx.MockTransport(log_callback))
    background.start_soon(emulator.run_scheduler)
    return emulator.transport()


def _token_provider(settings: Settings) -> TokenProvider:
    from .auth import StaticTokenProvider

    if settings.uses_emulator:
        from .emulator import EMULATOR_TOKEN

        return StaticTokenProvider(EMULATOR_TOKEN, mode="emulator")
    if settings.sign_in.mode != "access_token":
        from .signin import build_token_provider

        return build_token_provider(settings)
    if settings.sign_in.access_token is None:
        raise DesktopFlowsError(ErrorCode.UNAUTHENTICATED, "No access token is configured.")
    return StaticTokenProvider(settings.sign_in.access_token.reveal())


def _register_read_tools(mcp: MCPServer[Services]) -> None:
    @_tool(mcp, "List desktop flows", read_only=True, idempotent=True)
    async def list_desktop_flows(
        ctx: Context[Services],
        search: Annotated[
            str | None,
            Field(max_length=100, description="Only flows whose name contains this text (case-insensitive)."),
        ] = None,
        include_drafts: Annotated[bool, Field(description="Also list unpublished (draft) flows.")] = False,
        limit: Annotated[int, Field(ge=1, le=200, description="Flows per page.")] = 50,
        cursor: CursorArg = None,
    ) -> FlowList:
        """List the Power Automate desktop flows in this Dataverse environment, sorted by name.

        Use it first, to find the flow a person means; narrow with `search` rather than paging through
        everything. Only flows with `runnable: true` can be started. Next: get_desktop_flow_schema for a
        flow's inputs, then run_desktop_flow. When next_cursor is not null, pass it as `cursor` for more.
        """
        return await _services(ctx).catalogue.list_flows(
            search=search, include_drafts=include_drafts, limit=limit, cursor=cursor
        )

    @_tool(mcp, "Get a desktop flow's inputs and outputs", read_only=True, idempotent=True)
    async def get_desktop_flow_schema(ctx: Context[Services], flow: FlowArg) -> FlowSchema:
        """Get the JSON Schemas of a desktop flow's inputs and outputs.

        Call it before run_desktop_flow: `inputs` lists every input variable with its type and default;
        run_desktop_flow refuses names and types that do not match. A flow with no inputs has an empty
        `properties` object; run it with inputs={}.
        """
        return await _services(ctx).catalogue.get_schema(flow)

    @_tool(mcp, "Get a desktop flow run", read_only=True, idempotent=True)
    async def get_desktop_flow_run(ctx: Context[Services], run_id: RunIdArg) -> FlowRun:
        """Get the current status of one desktop flow run, without waiting.

        `status` is Waiting (queued for a machine), Running, or a final status such as Succeeded, Failed,
        Cancelled or TimedOut; `is_terminal` says whether it has finished. A failed run carries `error` with
        Dataverse's errorcode and a hint. To block until it finishes, use wait_for_desktop_flow_run.
        """
        return await _services(ctx).runs.get_run(run_id)

    @_tool(mcp, "Get a desktop flow run's outputs", read_only=True, idempotent=True)
    async def get_desktop_flow_run_outputs(ctx: Context[Services], run_id: RunIdArg) -> RunOutputs:
        """Get the output variables a desktop flow run produced.

        Outputs exist once a run has succeeded; before that the result is an empty object with a note.
        wait_for_desktop_flow_run already includes the outputs of a successful run.
        """
        return await _services(ctx).runs.get_outputs(run_id)

    @_tool(mcp, "Wait for a desktop flow run", read_only=True, idempotent=True)
    async def wait_for_desktop_flow_run(
        ctx: Context[Services],
        run_id: RunIdArg,
        timeout_seconds: Annotated[int, Field(ge=1, le=600, description="How long to wait in this call.")] = 45,
    ) -> FlowRun:
        """Wait until a desktop flow run finishes, or until timeout_seconds pass, then return the run.

        Sends progress notifications with the current status while it waits. A successful run comes back
        with its `outputs`. If the run is still going at the deadline, the result has is_terminal: false and
        is not an error: call this tool again to keep waiting. Runs can queue for hours when no machine is
        free. Cancelling this call stops the waiting, not the run.
        """

        async def progress(done: float, total: float, message: str) -> None:
            await ctx.report_progress(done, total, message)

        return await _services(ctx).runs.wait(run_id, timeout_seconds, progress)

    @_tool(mcp, "List desktop flow runs", read_only=True, idempotent=True)
    async def list_desktop_flow_runs(
        ctx: Context[Services],
        flow: Annotated[
            str | None,
            Field(min_length=1, max_length=100, description="Only runs of this flow (GUID or exact name)."),
        ] = None,
        status: Annotated[RunStatusName | None, Field(description="Only runs with this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Runs per page.")] = 20,
        cursor: CursorArg = None,
    ) -> RunList:
        """List desktop flow runs, newest first.

        Use it to find a run_id, to see a flow's recent history, or to check whether a run already started
        before starting another. Narrow with `flow` and `status`; pass next_cursor as `cursor` for older runs.
        """
        return await _services(ctx).runs.list_runs(flow=flow, status=status, limit=limit, cursor=cursor)

    @_tool(mcp, "List desktop flow connection references", read_only=True, idempotent=True)
    async def list_connection_references(
        ctx: Context[Services],
        search: Annotated[
            str | None,
            Field(max_length=100, description="Only references whose display or logical name contains this."),
        ] = None,
    ) -> ConnectionReferenceList:
        """List the desktop flow connection references in this environment.

        A run needs a connection (which machine or machine group, and which Windows account). Pass a
        reference's logical_name to run_desktop_flow as connection_name with
        connection_type='connection_reference'. A reference whose connection_id is null is not bound yet and
        cannot run flows.
        """
        return await _services(ctx).catalogue.list_connection_references(search=search)


def _register_write_tools(mcp: MCPServer[Services]) -> None:
    from .runs import RunRequest

    @_tool(mcp, "Run a desktop flow", read_only=False, idempotent=False, open_world=True)
    async def run_desktop_flow(
        ctx: Context[Services],
        flow: FlowArg,
        inputs: Annotated[
            dict[str, Any] | None,
            Field(description="Input variables by name, typed as get_desktop_flow_schema says. {} for none."),
        ] = None,
        connection_name: Annotated[
            str | None,
            Field(
                max_length=200,
                description="Desktop flow connection name, or a connection reference's logical name. Defaults to "
                "the server's DESKTOP_FLOWS_CONNECTION.",
            ),
        ] = None,
        connection_type: Annotated[
            Literal["connection", "connection_reference"] | None,
            Field(description="What connection_name is. Defaults to the server's setting."),
        ] = None,
        run_mode: Annotated[
            Literal["attended", "unattended"] | None,
            Field(description="attended: on the signed-in user's session; unattended: in the background."),
        ] = None,
        run_priority: Annotated[Literal["normal", "high"], Field(description="Queue priority.")] = "normal",
        timeout_seconds: Annotated[
            int, Field(ge=1, le=86400, description="Maximum run time in seconds before Dataverse stops it.")
        ] = 7200,
        callback_url: Annotated[
            str | None,
            Field(max_length=2000, description="https URL on a named host that Dataverse POSTs to when it ends."),
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=200,
                description="Any unique string. Repeating a call with the same key within 24 hours returns the "
                "first run instead of starting another; use it whenever you might retry.",
            ),
        ] = None,
        wait_seconds: Annotated[
            int, Field(ge=0, le=120, description="Wait up to this long for the run to finish (0: return at once).")
        ] = 0,
    ) -> StartedRun:
        """Start a desktop flow run on a machine through its connection, and return the run_id.

        Check the inputs with get_desktop_flow_schema first; they are validated before anything is sent.
        The run is queued until a machine is free, so the result usually says Waiting: follow it with
        wait_for_desktop_flow_run. This starts real automation on a real machine - do not call it twice for
        one request; pass an idempotency_key so a retry cannot start a duplicate run.
        """

        async def progress(done: float, total: float, message: str) -> None:
            await ctx.report_progress(done, total, message)

        request = RunRequest(
            flow=flow,
            inputs=inputs or {},
            connection_name=connection_name,
            connection_type=connection_type,
            run_mode=run_mode,
            run_priority=run_priority,
            timeout_seconds=timeout_seconds,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            wait_seconds=wait_seconds,
        )
        return await _services(ctx).runs.run(request, progress)

    @_tool(mcp, "Cancel a desktop flow run", read_only=False, destructive=True, idempotent=True)
    async def cancel_desktop_flow_run(ctx: Context[Services], run_id: RunIdArg) -> CancelledRun:
        """Cancel a queued or running desktop flow run.

        The automation stops on the machine, possibly part-way through its work. Only cancel when the person
        asked to, or when a run was started by mistake. A run that already finished gives a `conflict` error.
        """
        return await _services(ctx).runs.cancel(run_id)


def _register_access_tools(mcp: MCPServer[Services]) -> None:
    def access(ctx: Context[Services]) -> AccessService:
        service = _services(ctx).access
        if service is None:
            raise DesktopFlowsError(ErrorCode.INTERNAL, "The access checks are not configured in this server.")
        return service

    @_tool(mcp, "Check sign-in and access", read_only=True, idempotent=True)
    async def check_access(ctx: Context[Services]) -> AccessReport:
        """Check who this server signs in to Dataverse as, and what that identity may do. Changes nothing.

        Call it first whenever a tool fails with unauthenticated or permission_denied, or when a person asks why
        nothing works. Returns the environment URL, the sign-in mode, who Dataverse says the caller is (WhoAmI),
        and one probe each for listing desktop flows, reading run history and seeing connection references; a
        failed probe carries the exact fix for an administrator. If sign-in itself is pending (device code), the
        error carries the URL and code to show the person.
        """
        return await access(ctx).check_access()

    @_tool(mcp, "List reachable Dataverse environments", read_only=True, idempotent=True)
    async def list_environments(ctx: Context[Services]) -> EnvironmentList:
        """List the Dataverse environments the signed-in person can reach, to tell them which DATAVERSE_URL to use.

        Uses the Global Discovery Service of the environment's cloud, so it needs a person's sign-in
        (DATAVERSE_AUTH=device_code or interactive); with app sign-in it returns only the configured environment
        and says why. The environment in use has is_current: true. Switching environments means restarting the
        server with another DATAVERSE_URL.
        """
        return await access(ctx).list_environments()


TOOL_NAMES = (
    "list_desktop_flows",
    "get_desktop_flow_schema",
    "get_desktop_flow_run",
    "get_desktop_flow_run_outputs",
    "wait_for_desktop_flow_run",
    "list_desktop_flow_runs",
    "list_connection_references",
    "run_desktop_flow",
    "cancel_desktop_flow_run",
    "check_access",
    "list_environments",
)
