"""Runs as MCP tasks, in process over the emulator on fake time: who gets a task, what tasks/get and tasks/cancel
answer, that any server process serves any task, and the notifications a listener receives."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client.extension import advertise

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.tasks import listen as listening
from tests.helpers import FakeClock, error_of, ok
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, CountingTransport
from tests.tasks_client import TASKS, TasksClient, cancel_task, get_task, listen, listen_raw, start_task, update_task

pytestmark = pytest.mark.anyio
FAILING_FLOW = "Fill permit application on government portal"
RUN_POSTS = "POST Microsoft.Dynamics.CRM.RunDesktopFlow"


@dataclass
class World:
    """One Dataverse (the emulator) and one clock, shared by every server process a test starts."""

    clock: FakeClock = field(default_factory=FakeClock)
    emulator: Emulator = field(init=False)
    wire: CountingTransport = field(init=False)
    waits: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])

    def __post_init__(self) -> None:
        self.emulator = Emulator(clock=self.clock, test_api=True)
        self.wire = CountingTransport(self.emulator.transport())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds, UTC)

    async def wait_for_change(self, run_id: str, seconds: float) -> None:
        self.waits.append((run_id, seconds))
        await self.clock.sleep(seconds)

    @asynccontextmanager
    async def server(
        self, mode: str = "auto", env: dict[str, str] | None = None, *, declare: bool = True
    ) -> AsyncGenerator[tuple[Client, TasksClient], None]:
        """A fresh server process (nothing shared but Dataverse) and a client that declares tasks or not."""
        server = build_server(
            App(
                Settings.from_env(env or {}),
                clock=self.clock,
                dataverse_transport=self.wire,
            ),
            wait_for_change=self.wait_for_change,
        )
        tasks = TasksClient(self.clock.sleep)
        async with Client(server, mode=mode, extensions=[tasks] if declare else [], raise_exceptions=True) as client:
            yield client, tasks

    def posts(self) -> int:
        return self.wire.paths().count(RUN_POSTS)


RUN = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}


async def test_server_discover_advertises_the_extension_and_the_legacy_handshake_does_not() -> None:
    world = World()
    async with world.server("auto") as (modern, _), world.server("legacy") as (legacy, _):
        assert (modern.server_capabilities.extensions or {}).get(TASKS) == {}
        assert TASKS not in (legacy.server_capabilities.extensions or {})


async def test_a_declaring_modern_call_gets_a_task_that_reads_working_then_completed_with_the_wait_result() -> None:
    world = World()
    async with world.server() as (client, _):
        created = await start_task(client, "run_desktop_flow", RUN)
        working = await get_task(client.session, created["taskId"])
        await world.clock.sleep(60)
        completed = await get_task(client.session, created["taskId"])
        run_id = created["taskId"].removeprefix("dfrun-")
        waited = await client.call_tool("wait_for_desktop_flow_run", {"run_id": run_id})
    assert created["resultType"] == "task" and created["status"] == "working"
    assert created["ttlMs"] is None and created["pollIntervalMs"] == 2000
    assert created["statusMessage"].startswith("Waiting for a machine")
    assert working["status"] == "working" and working["createdAt"] == created["createdAt"]
    assert completed["status"] == "completed" and "pollIntervalMs" not in completed
    assert completed["statusMessage"] == "Run Succeeded after 3 s"
    tool_result = waited.model_dump(by_alias=True, mode="json", exclude_none=True)
    del tool_result["_meta"]  # the envelope's serverInfo stamp, not part of the tool's result
    assert completed["result"] == tool_result
    assert completed["result"]["structuredContent"]["outputs"]["Status"]
    assert world.posts() == 1


async def test_the_sdk_client_resolves_the_task_by_polling_at_the_advertised_interval() -> None:
    world = World()
    async with world.server() as (client, tasks):
        result = ok(await client.call_tool("run_desktop_flow", RUN))
    assert result["status"] == "Succeeded" and result["outputs"]
    assert [p["status"] for p in tasks.polls][-1] == "completed"
    intervals = [p["pollIntervalMs"] for p in tasks.polls if p["status"] == "working"]
    assert intervals == sorted(intervals) and intervals[0] == 2000 and max(intervals) <= 15000
    assert world.posts() == 1


@pytest.mark.parametrize(
    ("mode", "extensions"),
    [("legacy", "tasks"), ("legacy", "advertised"), ("auto", "none")],
    ids=["legacy-with-extension", "legacy-advertising-tasks", "modern-without-declaration"],
)
async def test_every_other_call_behaves_exactly_as_without_tasks(mode: str, extensions: str) -> None:
    world = World()
    server = build_server(
        App(
            Settings.from_env({}),
            clock=world.clock,
            dataverse_transport=world.wire,
        )
    )
    chosen: Any = {"tasks": [TasksClient(world.clock.sleep)], "advertised": [advertise(TASKS)], "none": []}
    async with Client(server, mode=mode, extensions=chosen[extensions], raise_exceptions=True) as client:
        started = ok(await client.call_tool("run_desktop_flow", RUN))
        waited = ok(await client.call_tool("wait_for_desktop_flow_run", {"run_id": started["run_id"]}))
    assert started["status"] == "Waiting" and started["run_id"]
    assert waited["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("arguments", "code", "env"),
    [
        ({"flow": "No such flow", "inputs": {}}, "not_found", {}),
        ({"flow": INVOICE_FLOW, "inputs": {"Amount": "twelve"}}, "invalid_argument", {}),
        ({"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "run_mode": "sometimes"}, "invalid_argument", {}),
        ({"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}, "flow_not_allowed", {"DESKTOP_FLOWS_ALLOWED": "x"}),
    ],
    ids=["unknown-flow", "bad-inputs", "bad-argument", "allow-list"],
)
async def test_a_refused_run_is_an_ordinary_error_result_and_no_task(
    arguments: dict[str, Any], code: str, env: dict[str, str]
) -> None:
    world = World()
    async with world.server(env=env) as (client, tasks):
        result = await client.call_tool("run_desktop_flow", arguments)
    assert error_of(result)["code"] == code
    assert not tasks.created and world.posts() == 0


async def test_a_read_only_server_has_no_run_tool_so_no_task() -> None:
    world = World()
    async with world.server(env={"DESKTOP_FLOWS_READ_ONLY": "true"}) as (client, tasks):
        result = await client.call_tool("run_desktop_flow", RUN)
    assert result.is_error and not tasks.created and world.posts() == 0


async def test_one_idempotency_key_is_one_run_and_one_task() -> None:
    world = World()
    async with world.server() as (client, _):
        first = await start_task(client, "run_desktop_flow", {**RUN, "idempotency_key": "k-1"})
        again = await start_task(client, "run_desktop_flow", {**RUN, "idempotency_key": "k-1"})
    assert first["taskId"] == again["taskId"]
    assert world.posts() == 1


async def test_a_failed_run_is_a_completed_task_carrying_the_run_status_and_error() -> None:
    world = World()
    async with world.server() as (client, _):
        created = await start_task(client, "run_desktop_flow", {"flow": FAILING_FLOW, "inputs": {}})
        await world.clock.sleep(600)
        task = await get_task(client.session, created["taskId"])
    body = task["result"]["structuredContent"]
    assert task["status"] == "completed" and task["result"]["isError"] is False
    assert body["status"] == "Failed" and body["error"]["code"]
    assert task["statusMessage"].startswith(f"Run Failed ({body['error']['code']})")


async def test_a_task_made_by_one_process_is_read_and_cancelled_by_a_new_one() -> None:
    world = World()
    async with world.server() as (first, _):
        created = await start_task(first, "run_desktop_flow", RUN)
    async with world.server() as (second, _):  # a restart: nothing is shared but Dataverse
        working = await get_task(second.session, created["taskId"])
        ack = await cancel_task(second.session, created["taskId"])
        after = await get_task(second.session, created["taskId"])
        again = await cancel_task(second.session, created["taskId"])  # a finished run: a harmless ack
    async with world.server() as (third, _):  # did not cancel it: the run's record alone speaks
        later = await get_task(third.session, created["taskId"])
    assert working["status"] == "working" and working["createdAt"] == created["createdAt"]
    assert ack == again == {"resultType": "complete"}
    assert after["status"] == "cancelled" and "result" not in after and "pollIntervalMs" not in after
    assert after["statusMessage"] == "Cancelled at the agent's request; the run is Cancelled"
    assert later["status"] == "completed" and later["result"]["structuredContent"]["status"] == "Cancelled"
    assert world.wire.paths().count("POST Microsoft.Dynamics.CRM.CancelDesktopFlowRun") == 1


@pytest.mark.parametrize(
    "task_id",
    ["", "nonsense", "dfrun-not-a-guid", "dfrun-00000000-0000-4000-8000-000000000000", "x" * 5000],
    ids=["empty", "word", "malformed", "unknown-run", "huge"],
)
async def test_a_forged_malformed_or_unknown_task_id_is_invalid_params(task_id: str) -> None:
    world = World()
    async with world.server() as (client, _):
        for call in (get_task, cancel_task):
            with pytest.raises(MCPError) as raised:
                await call(client.session, task_id)
            assert raised.value.error.code == -32602
            assert "Task not found" in raised.value.error.message


async def test_a_run_of_a_flow_outside_the_allow_list_is_no_task_of_this_server() -> None:
    world = World()
    async with world.server() as (open_server, _):
        created = await start_task(open_server, "run_desktop_flow", RUN)
    async with world.server(env={"DESKTOP_FLOWS_ALLOWED": "SAP vendor lookup"}) as (strict, _):
        for call in (get_task, cancel_task):
            with pytest.raises(MCPError) as raised:
                await call(strict.session, created["taskId"])
            assert raised.value.error.code == -32602
    async with world.server() as (reader, _):
        assert (await get_task(reader.session, created["taskId"]))["status"] == "working"  # not cancelled


async def test_a_read_only_server_reads_tasks_and_refuses_to_cancel_them() -> None:
    world = World()
    async with world.server() as (writer, _):
        created = await start_task(writer, "run_desktop_flow", RUN)
    async with world.server(env={"DESKTOP_FLOWS_READ_ONLY": "true"}) as (reader, _):
        task = await get_task(reader.session, created["taskId"])
        with pytest.raises(MCPError) as raised:
            await cancel_task(reader.session, created["taskId"])
    assert task["status"] == "working"
    assert raised.value.error.code == -32600 and "read-only" in raised.value.error.message


async def test_tasks_methods_need_the_declaration_and_the_modern_era() -> None:
    world = World()
    async with world.server() as (declaring, _):
        created = await start_task(declaring, "run_desktop_flow", RUN)
    async with world.server(declare=False) as (plain, _), world.server("legacy") as (legacy, _):
        with pytest.raises(MCPError) as undeclared:
            await get_task(plain.session, created["taskId"])
        with pytest.raises(MCPError) as old:
            await get_task(legacy.session, created["taskId"])
        with pytest.raises(MCPError) as listening:
            await listen(plain.session, [created["taskId"]])
    assert undeclared.value.error.code == -32021 and listening.value.error.code == -32021
    assert old.value.error.code == -32601


async def test_a_listener_hears_each_status_change_until_the_run_ends() -> None:
    world = World()
    async with world.server() as (client, tasks):
        created = await start_task(client, "run_desktop_flow", RUN)
        await listen(client.session, [created["taskId"]])
    run_id = created["taskId"].removeprefix("dfrun-")
    heard = [(n["status"], n["statusMessage"].rsplit(" for ", 1)[0]) for n in tasks.notices]
    assert heard[0] == ("working", "Waiting for a machine") and heard[-1][0] == "completed"
    assert ("working", "Running") in heard and len(heard) == len(set(heard))
    assert tasks.notices[-1]["result"]["structuredContent"]["status"] == "Succeeded"
    assert all(n["taskId"] == created["taskId"] and n["ttlMs"] is None for n in tasks.notices)
    assert world.waits and all(r == run_id and 1 <= s <= 15 for r, s in world.waits)  # paced by the hook


async def test_a_task_cancelled_here_ends_its_listener_as_cancelled_and_stays_so() -> None:
    world = World()
    async with world.server() as (client, tasks):
        created = await start_task(client, "run_desktop_flow", RUN)
        await cancel_task(client.session, created["taskId"])
        await listen(client.session, [created["taskId"]])
        await world.emulator.advance(3600)
        later = await get_task(client.session, created["taskId"])
    assert [n["status"] for n in tasks.notices] == ["cancelled"]  # terminal and absorbing: one notice, the end
    assert later["status"] == "cancelled" and "result" not in later


@pytest.mark.parametrize(
    ("task_ids", "message"),
    [(["dfrun-bad"], "Task not found"), ([f"t{i}" for i in range(17)], "1 to 16"), ([], "1 to 16")],
)
async def test_a_listen_request_with_bad_task_ids_is_refused(task_ids: list[str], message: str) -> None:
    world = World()
    async with world.server() as (client, _):
        with pytest.raises(MCPError) as raised:
            await listen(client.session, task_ids)
    assert raised.value.error.code == -32602 and message in raised.value.error.message


READS = r"/flowsessions\([0-9a-f-]+\)$"


async def test_a_run_that_does_not_read_back_is_answered_without_a_task_and_never_started_twice() -> None:
    world = World()
    world.emulator.faults.add(READS, method="GET", status=403, code="0x80040220", message="missing prvReadflowsession")
    async with world.server() as (client, tasks):
        result = await start_task(client, "run_desktop_flow", RUN)
    assert result["structuredContent"]["run_id"] and result["structuredContent"]["status"] == "Waiting"
    assert not tasks.created and world.posts() == 1


async def test_a_read_that_keeps_failing_is_internal_error_with_the_tool_envelope_and_the_listener_retries() -> None:
    world = World()
    async with world.server() as (client, tasks):
        created = await start_task(client, "run_desktop_flow", RUN)
        world.emulator.faults.add(READS, method="GET", status=503, times=20)
        with pytest.raises(MCPError) as raised:
            await get_task(client.session, created["taskId"])
        world.emulator.faults.clear()
        world.emulator.faults.add(READS, method="GET", status=503, times=20)
        await listen(client.session, [created["taskId"]])
    assert raised.value.error.code == -32603
    data: Any = raised.value.error.data
    assert data["error"]["retryable"] is True and data["error"]["code"] == "dataverse_unavailable"
    assert (created["taskId"].removeprefix("dfrun-"), listening.RETRY_SECONDS) in world.waits
    assert tasks.notices[-1]["status"] == "completed"


async def test_tasks_update_is_an_ack_because_runs_never_ask_for_input() -> None:
    world = World()
    async with world.server() as (client, _):
        created = await start_task(client, "run_desktop_flow", RUN)
        ack = await update_task(client.session, created["taskId"])
        with pytest.raises(MCPError) as raised:
            await update_task(client.session, "dfrun-x")
    assert ack == {"resultType": "complete"} and raised.value.error.code == -32602


async def test_a_listener_of_an_unknown_run_is_told_nothing_and_released() -> None:
    world = World()
    async with world.server() as (client, tasks):
        await listen(client.session, ["dfrun-00000000-0000-4000-8000-000000000000"])
    assert not tasks.notices


async def test_subscriptions_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listening, "MAX_SUBSCRIPTIONS", 0)
    world = World()
    async with world.server() as (client, _):
        created = await start_task(client, "run_desktop_flow", RUN)
        with pytest.raises(MCPError) as raised:
            await listen(client.session, [created["taskId"]])
    assert raised.value.error.code == -32603 and "limit" in raised.value.error.message


async def test_the_task_tools_predicate_decides_and_a_result_without_a_run_stays_ordinary() -> None:
    world = World()
    server = build_server(
        App(
            Settings.from_env({}),
            clock=world.clock,
            dataverse_transport=world.wire,
        ),
        task_tools=lambda name: name == "list_desktop_flows",
    )
    tasks = TasksClient(world.clock.sleep)
    async with Client(server, extensions=[tasks]) as client:
        listed = await start_task(client, "list_desktop_flows", {"limit": 1})
        started = await start_task(client, "run_desktop_flow", RUN)
    assert "flows" in listed["structuredContent"]  # chosen for tasks, but no run: its ordinary result
    assert started["structuredContent"]["status"] == "Waiting" and not tasks.created


async def test_the_default_pacing_is_the_servers_sleep_and_an_unchanged_status_is_not_repeated() -> None:
    world = World()
    server = build_server(
        App(
            Settings.from_env({}),
            clock=world.clock,
            dataverse_transport=world.wire,
        )
    )
    tasks = TasksClient(world.clock.sleep)
    async with Client(server, extensions=[tasks]) as client:
        created = await start_task(client, "run_desktop_flow", {"flow": FAILING_FLOW, "inputs": {}})
        await listen(client.session, [created["taskId"]])
    assert world.clock.sleeps  # paced by the injected sleep
    statuses = [(n["status"], n["statusMessage"].rsplit(" for ", 1)[0]) for n in tasks.notices]
    assert statuses[0] == ("working", "Waiting for a machine") and statuses[-1][0] == "completed"
    assert len(statuses) < len(world.clock.sleeps) + 1  # reads that saw no change sent nothing


async def test_outputs_that_cannot_be_read_make_tasks_get_an_internal_error_not_a_wrong_result() -> None:
    world = World()
    async with world.server() as (client, _):
        created = await start_task(client, "run_desktop_flow", RUN)
        await world.clock.sleep(60)
        world.emulator.faults.add(r"/outputs/\$value$", method="GET", status=503, times=20)
        with pytest.raises(MCPError) as raised:
            await get_task(client.session, created["taskId"])
        world.emulator.faults.clear()
        completed = await get_task(client.session, created["taskId"])
    assert raised.value.error.code == -32603
    assert completed["result"]["structuredContent"]["outputs"]["Status"] == "Posted"


@pytest.mark.parametrize(
    "notifications", [{"toolsListChanged": True, "taskIds": "dfrun-x"}], ids=["task-ids-not-a-list"]
)
async def test_a_listen_request_whose_task_ids_are_not_a_list_is_refused(notifications: dict[str, Any]) -> None:
    world = World()
    async with world.server() as (client, _):
        with pytest.raises(MCPError) as raised:
            await listen_raw(client.session, notifications)
    assert raised.value.error.code == -32602


@pytest.mark.parametrize("params", [None, {}, {"notifications": "all"}, {"notifications": {"toolsListChanged": True}}])
def test_a_listen_request_without_task_ids_is_left_to_the_sdk(params: dict[str, Any] | None) -> None:
    assert listening.task_ids_of(params) is None


def test_repeated_task_ids_count_once() -> None:
    assert listening.task_ids_of({"notifications": {"taskIds": ["a", "b", "a"]}}) == ["a", "b"]


@pytest.mark.parametrize("per_flow", [False, True], ids=["run_desktop_flow", "per-flow tool"])
async def test_a_task_is_returned_at_once_whatever_wait_seconds_asks(per_flow: bool) -> None:
    """A task-mode call never waits (and so sends no progress): its run is followed through the task."""
    world = World()
    env = {"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": INVOICE_FLOW} if per_flow else {}
    async with world.server(env=env) as (client, _):
        if per_flow:  # run_options.wait_seconds defaults to 60 there
            created = await start_task(client, "run_enter_invoices_into_legacy_erp", dict(INVOICE_INPUTS))
        else:
            created = await start_task(client, "run_desktop_flow", {**RUN, "wait_seconds": 30})
    assert created["resultType"] == "task" and created["status"] == "working"
    assert world.clock.sleeps == []  # no wait at all
    assert world.wire.paths().count("GET flowsessions") <= 1  # only the read-back that makes the task
