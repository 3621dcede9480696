"""A task listener over loopback HTTP hears a run's end at once when the run's callback arrives: the server in
Streamable HTTP mode with a loopback public URL, the emulator on its own port posting the callback, and a
2026-07-28 client that declares the tasks extension and listens with ``subscriptions/listen`` (``taskIds``)."""

from __future__ import annotations

import time

import anyio
import pytest

from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS
from tests.processes import deployment
from tests.tasks_client import TasksClient, listen, start_task

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_a_listener_hears_the_terminal_notification_within_a_second_of_the_runs_end() -> None:
    tasks = TasksClient(anyio.sleep)
    async with deployment([tasks]) as d:
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}  # ends TimedOut at 21 s
        created = await start_task(d.client, "run_desktop_flow", arguments)
        assert created["resultType"] == "task", created
        run_id = created["taskId"].removeprefix("dfrun-")
        ended = float("nan")
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(listen, d.client.session, [created["taskId"]])  # returns once the task ends
                await d.waiting(run_id)  # the listener's pause is subscribed to the run's wake-ups
                ended = time.monotonic()
                await d.emulator.advance(25)  # the run ends and the emulator posts its callback
        latency = tasks.noticed_at[-1] - ended
        reads = d.wire.status_reads(run_id)
    assert [n["status"] for n in tasks.notices] == ["working", "completed"]
    assert tasks.notices[-1]["taskId"] == created["taskId"]
    assert tasks.notices[-1]["result"]["structuredContent"]["status"] == "TimedOut"
    assert latency < 1.0
    assert reads == 2  # the task's creation read and the callback's re-read: the listener reads nothing itself
    print(f"listener heard the end {latency * 1000:.0f} ms after it, {reads} status reads")
