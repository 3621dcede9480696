"""``subscriptions/listen`` with ``taskIds``: ``notifications/tasks`` as runs change, until every listed run ends.

The SDK's own listen handler cannot carry task events, so this middleware answers such requests itself (other
listen requests pass through). Each listed task is followed by one loop that reads its run, tells the client when
the run's status changed, and then waits ``wait_for_change(run_id, seconds)`` for the run's poll interval: the
back-off of ``wait_for_desktop_flow_run``. Work is bounded: at most ``MAX_TASKS`` tasks per subscription and
``MAX_SUBSCRIPTIONS`` open at once, each task read at most once per poll interval, and every listener's reads wait
their turn in one budget for the identity (``runs.context.BACKGROUND_READS_PER_SECOND``): many tasks are each read
more rarely, never all together faster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from ..clock import Clock
from .extension import WaitForChange
from .views import as_caller, detailed_task, require_tasks, run_id_of, services

MAX_TASKS = 16
MAX_SUBSCRIPTIONS = 64
RETRY_SECONDS = 15.0
log = logging.getLogger("desktop_flows_mcp")


@dataclass(frozen=True)
class _Frame:
    """A notification as ``send_notification`` serialises it: ``method`` and ``params``, nothing dropped."""

    method: str
    params: dict[str, Any]

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}


class TaskListener:
    def __init__(self, *, clock: Clock, wait_for_change: WaitForChange) -> None:
        self._now = clock.now
        self._wait_for_change = wait_for_change
        self._open = 0

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        task_ids = task_ids_of(ctx.params) if ctx.method == "subscriptions/listen" else None
        if task_ids is None:
            return await call_next(ctx)
        require_tasks(ctx)
        with as_caller(ctx, "subscriptions/listen"):  # the caller's tasks, followed as theirs
            return await self._listen(ctx, task_ids)

    async def _listen(self, ctx: ServerRequestContext[Any, Any], task_ids: list[str]) -> HandlerResult:
        for task_id in task_ids:
            run_id_of(task_id, services(ctx))  # malformed, or another caller's: refused before anything is acknowledged
        if self._open >= MAX_SUBSCRIPTIONS:
            raise MCPError(INTERNAL_ERROR, "Subscription limit reached; poll tasks/get instead.")
        meta = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}
        self._open += 1
        try:
            ack = {"notifications": {"taskIds": task_ids}, "_meta": meta}
            await self._send(ctx, _Frame("notifications/subscriptions/acknowledged", ack))
            async with anyio.create_task_group() as group:
                for task_id in task_ids:
                    group.start_soon(self._follow, ctx, task_id, meta)
        finally:
            self._open -= 1
        return {"resultType": "complete", "_meta": meta}

    async def _follow(self, ctx: ServerRequestContext[Any, Any], task_id: str, meta: dict[str, Any]) -> None:
        """Until the run ends: read it, tell the client when its status changed, wait for the next change."""
        last: tuple[str, str] | None = None
        run_id = run_id_of(task_id, services(ctx))
        while True:
            try:
                run, task = await detailed_task(services(ctx), task_id, self._now, background=True)
            except MCPError as error:
                if error.error.code == INVALID_PARAMS:
                    log.info("listen: task %s is unknown; not followed", task_id)
                    return
                log.warning("listen: reading task %s failed (%s); trying again", task_id, error)
                await self._wait_for_change(run_id, RETRY_SECONDS)
                continue
            seen = (str(task["status"]), run.status)
            if seen != last:
                await self._send(ctx, _Frame("notifications/tasks", {**task, "_meta": meta}))
                last = seen
            if task["status"] != "working":
                return
            await self._wait_for_change(run_id, int(task["pollIntervalMs"]) / 1000)

    @staticmethod
    async def _send(ctx: ServerRequestContext[Any, Any], frame: _Frame) -> None:
        await ctx.session.send_notification(cast(Any, frame), related_request_id=ctx.request_id)


def task_ids_of(params: Mapping[str, Any] | None) -> list[str] | None:
    """The listed task ids, or None when the listen request asks for no task events (the SDK serves it)."""
    notifications: Any = (params or {}).get("notifications")
    if not isinstance(notifications, dict):
        return None
    raw: Any = cast(dict[str, Any], notifications).get("taskIds")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(i, str) for i in cast(list[Any], raw)):
        raise MCPError(INVALID_PARAMS, "notifications.taskIds must be a list of task ids.")
    ids = list(dict.fromkeys(cast(Sequence[str], raw)))
    if not ids or len(ids) > MAX_TASKS:
        raise MCPError(INVALID_PARAMS, f"notifications.taskIds lists 1 to {MAX_TASKS} task ids.")
    return ids
