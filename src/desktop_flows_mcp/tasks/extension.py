"""The tasks extension: which ``tools/call`` becomes a task, and ``tasks/get`` / ``tasks/cancel`` / ``tasks/update``.

The run tool itself runs first, unchanged (validation by the tool surface, the allow-list, read-only mode, a
person's approval, the idempotency key, the run-rate limiter); only a run Dataverse accepted, and that reads back,
becomes a task: an approval asked through the client (``input_required``) or refused creates none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolRequestParams, CallToolResult
from mcp_types import INVALID_REQUEST, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..call_scope import answer_at_once
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import DesktopFlowsError, ErrorCode
from .views import (
    TASKS,
    Task,
    as_caller,
    declares_tasks,
    detailed_task,
    protocol_error,
    read_visible_run,
    require_tasks,
    run_id_of,
    services,
    task_id_for,
    task_of,
)

log = logging.getLogger("desktop_flows_mcp")
audit = logging.getLogger("desktop_flows_mcp.audit")

WaitForChange = Callable[[str, float], Awaitable[None]]
"""``(run_id, seconds)``: return after ``seconds``, or sooner when the run may have changed (a callback)."""


def is_run_tool(name: str) -> bool:
    return name == "run_desktop_flow"


class TaskIdParams(RequestParams):
    task_id: str


class RunTasks(Extension):
    identifier = TASKS

    def __init__(self, *, task_tools: Callable[[str], bool] = is_run_tool, clock: Clock = SYSTEM_CLOCK) -> None:
        self._task_tools = task_tools
        self._now = clock.now

    def methods(self) -> Sequence[MethodBinding]:
        modern = frozenset(MODERN_PROTOCOL_VERSIONS)
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get, modern),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, modern),
            MethodBinding("tasks/update", TaskIdParams, self._update, modern),
        )

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if not self._task_tools(params.name) or not declares_tasks(ctx):
            return await call_next(ctx)
        with as_caller(ctx, params.name):  # the task is its creator's
            return await self._as_task(ctx, call_next)

    async def _as_task(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        marker = answer_at_once.set(True)  # a task returns at once: the start never waits (nor sends progress)
        try:
            result = await call_next(ctx)
        finally:
            answer_at_once.reset(marker)
        if not isinstance(result, CallToolResult) or result.is_error:
            return result  # a refused run is an ordinary error result, never a task
        structured: dict[str, Any] = result.structured_content or {}
        run_id = structured.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            return result
        task = await self._created(ctx, run_id)
        return result if task is None else {"resultType": "task", **task}

    async def _created(self, ctx: ServerRequestContext[Any, Any], run_id: str) -> Task | None:
        """The task of a run that started; None when the run does not read back (an identity that may start runs
        but not read them, say): then the ordinary result, which carries the run_id, is the safe answer."""
        task_id = task_id_for(run_id, services(ctx))
        try:
            run = await read_visible_run(services(ctx), task_id)
        except MCPError as error:
            log.warning("run %s started but does not read back (%s); answering without a task", run_id, error)
            return None
        audit.info("task created task_id=%s run_id=%s", task_id, run_id)
        return task_of(run, task_id, self._now(), services(ctx).runs.poll_interval(run_id))

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> Task:
        require_tasks(ctx)
        with as_caller(ctx, "tasks/get"):
            _, task = await detailed_task(services(ctx), params.task_id, self._now)
        return {"resultType": "complete", **task}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        require_tasks(ctx)
        with as_caller(ctx, "tasks/cancel"):
            return await self._cancel_run(ctx, params)

    async def _cancel_run(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        """``cancel_desktop_flow_run``'s rules: read-only mode and the allow-list refuse; a finished run is an ack."""
        running = services(ctx)
        run_id = run_id_of(params.task_id, running)
        if running.catalogue.read_only:
            raise MCPError(
                INVALID_REQUEST, "This server is read-only (DESKTOP_FLOWS_READ_ONLY): it cannot cancel runs."
            )
        try:
            await running.runs.cancel(run_id)
        except DesktopFlowsError as error:
            if error.code is not ErrorCode.CONFLICT:  # conflict: the run already finished
                raise protocol_error(error, params.task_id) from None
        return {"resultType": "complete"}

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        require_tasks(ctx)
        with as_caller(ctx, "tasks/update"):
            run_id_of(params.task_id, services(ctx))  # runs never ask for input: nothing to update
        return {"resultType": "complete"}
