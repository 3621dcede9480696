"""The MCP tools, one module per area; this module holds what they share.

``register`` puts a tool behind ``_boundary``, the one place that turns a ``DesktopFlowsError`` into the
contract's ``isError`` result with ``structuredContent = {"error": {...}}``, and that tells the approval gate
(``approval``) which call it judges and how this client asks its person (``approval_prompts``). Every result's
text is the compact JSON of its ``structuredContent`` (some clients read only one of the two), and fields that are
None are left out.
Tool names and argument names are a public API.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from types import UnionType
from typing import Annotated, Any, ParamSpec, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..app import Services
from ..approval import ApprovalCall, ApprovalPending, approval_call
from ..call_scope import CallAudit, call_audit, caller_name_of, caller_of
from ..errors import DesktopFlowsError, ErrorCode, internal_crash
from ..logs import AUDIT
from ..signin.entra_http import sign_in_budget
from ..signin.prompts import presenting_sign_in_through

log = logging.getLogger("desktop_flows_mcp")
audit = logging.getLogger(AUDIT)

FlowArg = Annotated[
    str,
    Field(min_length=1, max_length=100, description="Flow GUID (from list_desktop_flows) or exact name."),
]
RunIdArg = Annotated[
    str,
    Field(min_length=1, max_length=64, description="The run's GUID (run_id from run_desktop_flow or a list)."),
]
CursorArg = Annotated[str | None, Field(max_length=4096, description="next_cursor of the previous page.")]

P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)
CONFIRM_TOKEN = "confirm_token"
APPROVAL_NOTE = (
    " Needs a person's approval: show them approval_required's preview; only after they agree, call again with its "
    "confirm_token."
)
ConfirmTokenArg = Annotated[
    str | None, Field(max_length=64, description="From approval_required, once the person agreed.")
]
SplitToken = Callable[[dict[str, Any]], tuple[dict[str, Any], str | None]]
_APPROVAL_CODES = (ErrorCode.APPROVAL_REQUIRED, ErrorCode.APPROVAL_DECLINED, ErrorCode.APPROVAL_INVALID)


def top_level_token(arguments: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The call's arguments without ``confirm_token``, and the token."""
    rest = dict(arguments)
    token = rest.pop(CONFIRM_TOKEN, None)
    return rest, token if isinstance(token, str) else None


def services(ctx: Context[Services]) -> Services:
    return ctx.request_context.lifespan_context


def compact(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def success_result(model: BaseModel) -> CallToolResult:
    body = model.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=compact(body))], structured_content=body)


def error_result(error: DesktopFlowsError) -> CallToolResult:
    body = {"error": error.to_payload()}
    return CallToolResult(
        content=[TextContent(type="text", text=compact(body))], structured_content=body, is_error=True
    )


def _boundary(
    fn: Callable[P, Awaitable[M]],
    *,
    audited: bool = True,
    hidden: frozenset[str] = frozenset(),
    split_token: SplitToken = top_level_token,
) -> Callable[P, Awaitable[CallToolResult]]:
    """DesktopFlowsError → the contract's error result; anything else → ``internal`` without its details.

    The wrapper advertises ``Annotated[CallToolResult, <model>]``, so the SDK publishes the model's output
    schema (which admits the error envelope) and passes error results through unvalidated. Every call's outcome
    goes to telemetry; an ``audited`` tool's (one that acts: runs, cancels) also to one audit line, and its
    arguments (less ``confirm_token``, which ``split_token`` takes out) are what an approval binds to. A parameter
    in ``hidden`` is not published (confirm_token while approval is off): the function gets its default.
    """
    tool = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        ctx = kwargs.get("ctx")
        presenter = None
        live: Services | None = None
        request: object = None
        asker = None
        if isinstance(ctx, Context):
            from .approval_prompts import asker_for
            from .sign_in_prompts import presenter_for

            context = cast("Context[Services]", ctx)  # a string: subscripting the pydantic generic costs ~50 µs a call
            live = services(context)
            request = context.request_context.request
            presenter = presenter_for(context, enabled=live.offer_sign_in_prompts)
            asker = asker_for(context) if audited else None
        caller = caller_of(request)
        token = call_audit.set(CallAudit(caller, tool, caller_name_of(request)))
        arguments, confirm_token = split_token({k: v for k, v in kwargs.items() if k != "ctx"})
        approving = approval_call.set(ApprovalCall(caller, tool, arguments, confirm_token, asker) if audited else None)
        result: M | None = None
        failure: DesktopFlowsError | None = None
        try:
            with presenting_sign_in_through(presenter), sign_in_budget():  # a stalled sign-in ends the call within 30 s
                result = await fn(*args, **kwargs)
        except ApprovalPending as pending:  # the person is asked through the client (2026-07-28): its answer
            approval_call.reset(approving)
            call_audit.reset(token)
            return cast(CallToolResult, pending.answer)
        except DesktopFlowsError as error:
            log.info("tool %s failed: %s %s", tool, error.code.value, error.message)
            failure = error
        except Exception as exc:
            log.warning("tool %s crashed", tool, exc_info=True)
            failure = internal_crash(tool, exc)
        try:
            if live is not None:
                live.telemetry.tool_result(tool, result, failure.code.value if failure else None)
            if audited:
                _audit_outcome(tool, kwargs, result, failure)
        finally:
            approval_call.reset(approving)
            call_audit.reset(token)
        return error_result(failure) if failure is not None else success_result(cast(M, result))

    hints = {name: _without_null(hint) for name, hint in get_type_hints(fn, include_extras=True).items()}
    result_type = Annotated[CallToolResult, hints["return"]]
    signature = inspect.signature(fn, eval_str=True)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name not in hidden
    ]
    published = signature.replace(parameters=parameters, return_annotation=result_type)
    setattr(wrapper, "__signature__", published)  # noqa: B010
    wrapper.__annotations__ = {**{k: v for k, v in hints.items() if k not in hidden}, "return": result_type}
    wrapper.__doc__ = inspect.cleandoc(fn.__doc__ or "")  # the tool description, without source indentation
    return wrapper


boundary = _boundary  # also guards the tools built at run time (tools/flow_tools.py)


def _audit_outcome(
    tool: str, arguments: dict[str, Any], result: BaseModel | None, failure: DesktopFlowsError | None
) -> None:
    """A call of a tool that acts and did not act writes its own audit line (a start or cancel that did act was
    written where it happened): refused or failed with its error code, or answered with an earlier run's id."""
    reused = bool(getattr(result, "reused", False))
    if (failure is None and not reused) or (failure is not None and failure.code in _APPROVAL_CODES):
        return  # approvals write their own lines (approval.gate): asked, and decided
    flow: Any = arguments.get("flow") or getattr(result, "flow_id", None)
    run_id: Any = getattr(result, "run_id", None) or arguments.get("run_id")
    outcome = failure.code.value if failure is not None else "reused"
    facts = {"flow": str(flow)[:100] if flow else None, "run_id": str(run_id)[:64] if run_id else None}
    audit.info(
        "%s outcome=%s flow=%r run_id=%s",
        "call refused or failed" if failure is not None else "run start answered with an earlier run",
        outcome,
        facts["flow"],
        facts["run_id"],
        extra={**facts, "outcome": outcome},
    )


def _without_null(hint: Any) -> Any:
    """``Annotated[X | None, f]`` → ``Annotated[X, f]``: an optional argument is published as its type. JSON null
    still means "not given" (the surface drops it), and the SDK no longer turns the string "null" into None."""
    if get_origin(hint) is not Annotated:
        return hint
    inner, *metadata = get_args(hint)
    if get_origin(inner) not in (Union, UnionType) or type(None) not in get_args(inner):
        return hint
    rest = tuple(arg for arg in get_args(inner) if arg is not type(None))
    base = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007  # a union built at run time
    return Annotated[(base, *metadata)]  # type: ignore[valid-type]  # pyright cannot follow a runtime Annotated


def register(
    mcp: MCPServer[Services],
    title: str,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool,
    open_world: bool = False,
    approval: bool | None = None,
) -> Callable[[Callable[P, Awaitable[M]]], Callable[P, Awaitable[M]]]:
    """Register a tool behind the error boundary, with its title and all four annotations set on purpose.
    ``approval`` (a tool with a confirm_token parameter): True publishes it and says how approval works in the
    description; False hides it, so the tool reads exactly as before approval existed."""

    def decorate(fn: Callable[P, Awaitable[M]]) -> Callable[P, Awaitable[M]]:
        annotations = ToolAnnotations(  # the title is the tool's own; repeating it here costs every tools/list
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )
        hidden: frozenset[str] = frozenset({CONFIRM_TOKEN}) if approval is False else frozenset()
        wrapped = _boundary(fn, audited=not read_only, hidden=hidden)
        description = (wrapped.__doc__ or "") + (APPROVAL_NOTE if approval else "")
        mcp.tool(title=title, description=description, annotations=annotations)(wrapped)
        return fn

    return decorate


def progress_reporter(ctx: Context[Services]) -> Callable[[float, float, str], Awaitable[None]]:
    async def progress(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return progress
