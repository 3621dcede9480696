"""A run seen as a task: the id that names it, the ``DetailedTask`` a client reads, and the protocol errors.

Payloads are plain dicts on purpose: the SDK dumps models with ``exclude_none``, which would drop ``ttlMs: null``.

A task is its creator's. For a person signed in on their own (``call_scope.owner_of``) the id carries a seal of
who (``dfrun-<run id>-<seal>``, ``CursorCodec.seal``), so anyone else's ``tasks/get``, ``tasks/cancel`` or listen
finds no such task; the callers of a single-identity server share one owner and the unsealed id, as before.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..app import Services
from ..call_scope import SHARED, acting_for, caller_name_of, caller_of, current_owner
from ..errors import DesktopFlowsError, ErrorCode
from ..models import FlowRun, RunStatus
from ..tools import success_result

TASKS = "io.modelcontextprotocol/tasks"
PREFIX = "dfrun-"
QUEUED_POLL_MAX = 60.0  # seconds: a run queued for long is read ever more rarely, up to once a minute
_ID = re.compile(r"dfrun-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:-([0-9a-f]{24}))?")
_NOT_FOUND_CODES = (ErrorCode.NOT_FOUND, ErrorCode.INVALID_ARGUMENT, ErrorCode.FLOW_NOT_ALLOWED)
log = logging.getLogger("desktop_flows_mcp")

Task = dict[str, Any]
Now = Callable[[], datetime]


def task_id_for(run_id: str, services: Services) -> str:
    """The id of the run's task for the caller in progress."""
    plain, owner = PREFIX + run_id.lower(), current_owner()
    return plain if owner == SHARED else f"{plain}-{services.cursors.seal(owner, plain)}"


def run_id_of(task_id: str, services: Services) -> str:
    """The run a task id names, when it was made for the caller in progress; else the task is not found."""
    match = _ID.fullmatch(task_id)
    if match is None:
        raise task_not_found(task_id)
    run_id, seal = match.groups()
    owner = current_owner()
    if owner == SHARED:
        mine = seal is None
    else:
        mine = seal is not None and hmac.compare_digest(seal, services.cursors.seal(owner, PREFIX + run_id))
    if not mine:
        raise task_not_found(task_id)
    return run_id


def as_caller(ctx: ServerRequestContext[Any, Any], what: str) -> AbstractContextManager[None]:
    """A task request is its caller's work: their tasks, their sign-in, their name on the audit lines."""
    return acting_for(caller_of(ctx.request), what, caller_name_of(ctx.request))


def task_not_found(task_id: str) -> MCPError:
    shown = task_id if len(task_id) <= 80 else f"{task_id[:60]}..."
    return MCPError(INVALID_PARAMS, f"Failed to retrieve task: Task not found ({shown!r})")


def protocol_error(error: DesktopFlowsError, task_id: str) -> MCPError:
    """A run the identity cannot see, or a flow outside the allow-list, is an unknown task; the rest is -32603
    with the tool error envelope as ``data`` (its hint and retryable flag)."""
    if error.code in _NOT_FOUND_CODES:
        return task_not_found(task_id)
    return MCPError(INTERNAL_ERROR, error.message, data={"error": error.to_payload()})


def declares_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """The era first: on a legacy connection the capabilities are the initialize ones, never a declaration."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS in capabilities.extensions)


def require_tasks(ctx: ServerRequestContext[Any, Any]) -> None:
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        data: dict[str, Any] = {"requiredCapabilities": {"extensions": {TASKS: {}}}}
        raise MCPError(MISSING_REQUIRED_CLIENT_CAPABILITY, f"{TASKS} needs protocol 2026-07-28", data=data)
    require_client_extension(ctx, TASKS)


def services(ctx: ServerRequestContext[Any, Any]) -> Services:
    return ctx.lifespan_context


async def read_visible_run(services: Services, task_id: str, *, background: bool = False) -> FlowRun:
    """The task's run, shown only as ``get_desktop_flow_run`` shows it, and only for a flow this server may run:
    a task is never made for another, so such an id was not made here. ``background``: a listener's read, which
    waits for its turn in the identity's read budget."""
    run_id = run_id_of(task_id, services)
    try:
        run = await services.runs.poll_run(run_id, background=background)  # a recent read may stand in (callbacks)
        if services.catalogue.allowed.active:
            if run.flow_id is None:
                raise task_not_found(task_id)
            await services.catalogue.resolve_allowed(run.flow_id)
    except DesktopFlowsError as error:
        raise protocol_error(error, task_id) from None
    return run


async def detailed_task(
    services: Services, task_id: str, now: Now, *, background: bool = False
) -> tuple[FlowRun, Task]:
    """The run, and ``tasks/get``'s answer: its status now and, once it ended, ``wait_for_desktop_flow_run``'s
    result. A task this process cancelled is ``cancelled`` (terminal, no result), whatever the run does next."""
    run = await read_visible_run(services, task_id, background=background)
    cancelled = services.runs.cancelled_here(run.run_id)
    task = task_of(run, task_id, now(), services.runs.poll_interval(run.run_id), cancelled=cancelled)
    if cancelled:
        return run, task
    if run.is_terminal:
        try:
            final = await services.runs.wait(run.run_id, 1)  # a finished run: its row and outputs, nothing waits
        except DesktopFlowsError as error:
            raise protocol_error(error, task_id) from None
        task["result"] = success_result(final).model_dump(by_alias=True, mode="json", exclude_none=True)
    else:
        services.runs.back_off(run.run_id)
    return run, task


def task_of(run: FlowRun, task_id: str, now: datetime, interval: float, *, cancelled: bool = False) -> Task:
    """The ``Task`` fields of a run (no ``result``)."""
    created = run.created_on or now
    updated = max((t for t in (run.completed_on, run.started_on, created) if t is not None), default=created)
    task: Task = {
        "taskId": task_id,
        "status": "cancelled" if cancelled else "completed" if run.is_terminal else "working",
        "statusMessage": f"Cancelled at the agent's request; the run is {run.status}"
        if cancelled
        else status_message(run, now),
        "createdAt": _iso(created),
        "lastUpdatedAt": _iso(updated),
        "ttlMs": None,
    }
    if not run.is_terminal and not cancelled:
        if run.status == RunStatus.Waiting.name and run.created_on is not None:
            queued = (now - run.created_on).total_seconds()
            interval = max(interval, min(queued / 10, QUEUED_POLL_MAX))
        task["pollIntervalMs"] = round(interval * 1000)
    return task


def status_message(run: FlowRun, now: datetime) -> str:
    if run.is_terminal:
        code = run.error.code if run.error is not None else None
        took = _since(run.started_on or run.created_on, run.completed_on)
        return f"Run {run.status}" + (f" ({code})" if code else "") + (f" after {took}" if took else "")
    if run.status == RunStatus.Waiting.name:
        waited = _since(run.created_on, now)
        return "Waiting for a machine" + (f" for {waited}" if waited else "")
    running = _since(run.started_on or run.created_on, now)
    return run.status + (f" for {running}" if running else "")


def _since(start: datetime | None, end: datetime | None) -> str | None:
    if start is None or end is None:
        return None
    return duration(max(0.0, (end - start).total_seconds()))


def duration(seconds: float) -> str:
    """40 s, 3 min, 2 h 5 min: what a person reads at a glance."""
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
