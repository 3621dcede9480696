"""A tasks-extension client for tests: declares ``io.modelcontextprotocol/tasks``, claims ``resultType: "task"``,
and sends ``tasks/get``, ``tasks/cancel`` and a task ``subscriptions/listen`` as the wire says."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, NotificationBinding, ResultClaim
from mcp.client.session import ClientSession
from mcp.types import CallToolResult
from mcp_types import (
    Request,
    RequestParams,
    Result,
    SubscriptionFilter,
    SubscriptionsListenRequest,
    SubscriptionsListenRequestParams,
)
from pydantic import BaseModel, ConfigDict

TASKS = "io.modelcontextprotocol/tasks"


class Loose(Result):
    """Any result, its wire keys kept as sent."""

    model_config = ConfigDict(extra="allow")

    def wire(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class CreatedTask(Result):
    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str

    def wire(self) -> dict[str, Any]:
        return {"taskId": self.task_id, **(self.model_extra or {})}


class TaskIdParams(RequestParams):
    task_id: str


class GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class CancelTask(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class UpdateTask(Request[TaskIdParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class TaskNotice(BaseModel):
    model_config = ConfigDict(extra="allow")


class TasksClient(ClientExtension):
    """Resolves a task the way a client would: ``tasks/get`` every ``pollIntervalMs`` (on the test's clock)."""

    identifier = TASKS

    def __init__(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.sleep = sleep
        self.created: list[dict[str, Any]] = []
        self.polls: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.noticed_at: list[float] = []  # time.monotonic() as each notice arrived

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self._resolve)]

    def notifications(self) -> Sequence[NotificationBinding[Any]]:
        return [NotificationBinding(method="notifications/tasks", params_type=TaskNotice, handler=self._notice)]

    async def _notice(self, params: TaskNotice) -> None:
        self.notices.append(params.model_dump(by_alias=True))
        self.noticed_at.append(time.monotonic())

    async def _resolve(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        self.created.append(created.wire())
        while True:
            task = await get_task(ctx.session, created.task_id)
            self.polls.append(task)
            if task["status"] == "completed":
                return CallToolResult.model_validate(task["result"])
            await self.sleep(task["pollIntervalMs"] / 1000)


async def get_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    return (await session.send_request(GetTask(params=TaskIdParams(task_id=task_id)), Loose)).wire()


async def cancel_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    return (await session.send_request(CancelTask(params=TaskIdParams(task_id=task_id)), Loose)).wire()


async def update_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    return (await session.send_request(UpdateTask(params=TaskIdParams(task_id=task_id)), Loose)).wire()


async def start_task(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The ``tools/call`` answer as it came: a created task, or an ordinary result (``content`` …)."""
    result = await client.session.call_tool(tool, arguments, allow_claimed=True)
    if isinstance(result, CreatedTask):
        return {"resultType": "task", **result.wire()}
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def listen(session: ClientSession, task_ids: list[str]) -> None:
    """Returns when the server ends the subscription (every listed task ended)."""
    await listen_raw(session, {"taskIds": task_ids})


async def listen_raw(session: ClientSession, notifications: dict[str, Any]) -> None:
    request = SubscriptionsListenRequest(
        params=SubscriptionsListenRequestParams(notifications=SubscriptionFilter.model_validate(notifications))
    )
    await session.send_request(request, Loose)
