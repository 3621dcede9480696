"""Task listeners share one read budget for the identity: however many listen, the server reads runs well under
Dataverse's limit (about 20 requests a second per user), and the calls of a person waiting go first."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import httpx
import pytest
import respx
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.runs.context import BACKGROUND_READ_BURST, BACKGROUND_READS_PER_SECOND
from desktop_flows_mcp.server import build_server
from tests.fakes.timeline import Timeline
from tests.helpers import RUN_ID, make_settings, ok, run_row
from tests.tasks_client import TasksClient, listen

pytestmark = pytest.mark.anyio
LISTENERS, TASKS_EACH, SECONDS = 8, 16, 60.0


async def test_many_listeners_share_one_read_budget_well_under_dataverses_limit(dataverse: respx.MockRouter) -> None:
    timeline = Timeline()
    reads: list[float] = []

    def running(request: httpx.Request) -> httpx.Response:
        reads.append(timeline.now)
        run_id = request.url.path.rsplit("(", 1)[-1].rstrip(")")
        return httpx.Response(200, json=run_row(run_id, statuscode=2))  # Running, for ever

    dataverse.get(path__regex=r"/flowsessions\([0-9a-f-]+\)$").mock(side_effect=running)
    server = build_server(App(make_settings(), clock=Clock(monotonic=timeline, sleep=timeline.sleep)))
    tasks = TasksClient(timeline.sleep)
    began = timeline.now
    async with Client(server, mode="auto", extensions=[tasks]) as client, anyio.create_task_group() as group:
        for _ in range(LISTENERS):
            group.start_soon(listen, client.session, [f"dfrun-{uuid.uuid4()}" for _ in range(TASKS_EACH)])
        await timeline.run_until(began + SECONDS)
        group.cancel_scope.cancel()
    followed = LISTENERS * TASKS_EACH
    most = BACKGROUND_READS_PER_SECOND * SECONDS + BACKGROUND_READ_BURST
    per_second = len(reads) / SECONDS
    assert BACKGROUND_READS_PER_SECOND <= 5 and most >= len(reads) >= BACKGROUND_READS_PER_SECOND * SECONDS - 1
    for start in range(int(SECONDS) - 10):  # no ten seconds above the budget either
        window = [t for t in reads if began + start <= t < began + start + 10]
        assert len(window) <= BACKGROUND_READS_PER_SECOND * 10 + BACKGROUND_READ_BURST, (start, len(window))
    assert len({n["taskId"] for n in tasks.notices}) == followed  # every task was read and told, in turn
    print(f"{followed} tasks followed: {len(reads)} reads in {SECONDS:g} s, {per_second:.1f}/s")


async def test_a_person_reading_a_run_is_not_held_behind_the_listeners(dataverse: respx.MockRouter) -> None:
    timeline = Timeline()
    dataverse.get(path__regex=r"/flowsessions\([0-9a-f-]+\)$").respond(json=run_row(statuscode=2))
    server = build_server(App(make_settings(), clock=Clock(monotonic=timeline, sleep=timeline.sleep)))
    read: dict[str, Any] = {}
    asked = float("nan")
    tasks = TasksClient(timeline.sleep)
    async with Client(server, mode="auto", extensions=[tasks]) as client, anyio.create_task_group() as group:
        for _ in range(LISTENERS):
            group.start_soon(listen, client.session, [f"dfrun-{uuid.uuid4()}" for _ in range(TASKS_EACH)])
        await timeline.run_until(timeline.now + 10)  # the listeners have used the budget up for a while
        asked = timeline.now
        with anyio.fail_after(5):  # nothing moves the timeline now: a read held for the budget would hang
            read = ok(await client.call_tool("get_desktop_flow_run", {"run_id": RUN_ID}))
        group.cancel_scope.cancel()
    assert read["status"] == "Running" and timeline.now == asked


async def test_a_listener_waiting_for_its_turn_takes_a_run_that_ended_meanwhile_from_memory(
    dataverse: respx.MockRouter,
) -> None:
    timeline = Timeline()
    ended: list[bool] = []
    reads_of_ours: list[float] = []

    def row(request: httpx.Request) -> httpx.Response:
        run_id = request.url.path.rsplit("(", 1)[-1].rstrip(")")
        if run_id == RUN_ID:
            reads_of_ours.append(timeline.now)
        status = 4 if run_id == RUN_ID and ended else 2
        return httpx.Response(200, json=run_row(run_id, statuscode=status, completedon="2026-11-28T09:01:00Z"))

    dataverse.get(path__regex=r"/flowsessions\([0-9a-f-]+\)$").mock(side_effect=row)
    dataverse.get(path__regex=r"/outputs/\$value$").respond(204)
    server = build_server(App(make_settings(), clock=Clock(monotonic=timeline, sleep=timeline.sleep)))
    tasks = TasksClient(timeline.sleep)
    async with Client(server, mode="auto", extensions=[tasks]) as client, anyio.create_task_group() as group:
        for _ in range(LISTENERS):
            group.start_soon(listen, client.session, [f"dfrun-{uuid.uuid4()}" for _ in range(TASKS_EACH)])
        await timeline.run_until(timeline.now + 1)
        group.start_soon(listen, client.session, [f"dfrun-{RUN_ID}"])  # last in line: its turn is ~25 s away
        await timeline.run_until(timeline.now + 5)
        assert not reads_of_ours
        ended.append(True)
        ok(await client.call_tool("get_desktop_flow_run", {"run_id": RUN_ID}))  # someone reads it: it ended
        await timeline.run_until(timeline.now + 60)
        group.cancel_scope.cancel()
    ours = [n for n in tasks.notices if n["taskId"] == f"dfrun-{RUN_ID}"]
    assert len(reads_of_ours) == 1  # the person's read; the listener's turn found the end in memory
    assert [n["status"] for n in ours] == ["completed"]
