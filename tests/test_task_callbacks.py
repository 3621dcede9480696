"""Task polls while a run's callback is expected (issue 12 item 4 for tasks): ``tasks/get`` serves the run's last
read while it is younger than the safety-read interval, and the callback's re-read makes the next poll ``completed``.
In process, on fake time, the emulator posting its callback to the server's real ``/callbacks/`` route."""

from __future__ import annotations

from typing import Any

import pytest

from desktop_flows_mcp import run_callbacks
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.emulator.runs import Run
from desktop_flows_mcp.run_callbacks import QUIET_SECONDS, InProcessCallbackTokens, RunCallbacks
from desktop_flows_mcp.runs import SAFETY_READ_SECONDS
from tests.callback_stack import PUBLIC_URL, REPORT_FLOW, REPORT_INPUTS, callback_stack
from tests.helpers import FakeClock
from tests.tasks_client import cancel_task, get_task, start_task

pytestmark = pytest.mark.anyio
RUN = "4b35b6d0-95b6-461b-9e41-84340c229d4d"
RUN_SECONDS = 21.0  # the report flow with timeout_seconds=20 ends TimedOut 21 s after its start, queue included


async def poll_a_20_second_run(public_url: str | None) -> dict[str, Any]:
    """A client that polls ``tasks/get`` at the advertised ``pollIntervalMs`` until the task completes."""
    async with callback_stack(public_url=public_url, mode="auto", tasks=True) as stack:
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}
        created = await start_task(stack.client, "run_desktop_flow", arguments)
        assert created["resultType"] == "task", created
        run_id = created["taskId"].removeprefix("dfrun-")
        ends_at = stack.clock.seconds + RUN_SECONDS
        polls: list[tuple[float, dict[str, Any]]] = []
        while True:
            task = await get_task(stack.client.session, created["taskId"])
            polls.append((stack.clock.seconds, task))
            if task["status"] == "completed":
                break
            await stack.clock.sleep(task["pollIntervalMs"] / 1000)
        return {
            "status_reads": stack.wire.status_reads(run_id),
            "polls": polls,
            "ends_at": ends_at,
            "callback_url": stack.emulator.store.runs[run_id].callback_url,
        }


async def test_task_polls_read_the_run_rarely_while_its_callback_is_expected_and_see_its_end_at_once() -> None:
    polled = await poll_a_20_second_run(None)
    called_back = await poll_a_20_second_run(PUBLIC_URL)
    assert polled["callback_url"] is None and called_back["callback_url"] is not None
    # Without a callback every poll reads Dataverse; with one, only the task's creation and the callback's re-read.
    assert polled["status_reads"] == len(polled["polls"]) + 1 >= 5
    assert called_back["status_reads"] == 2
    # The same advertised intervals either way, and the first poll after the run's end reads completed.
    for figures in (polled, called_back):
        times = [at for at, _ in figures["polls"]]
        working = [at for at, task in figures["polls"] if task["status"] == "working"]
        assert all(at < figures["ends_at"] for at in working)
        assert times[-1] >= figures["ends_at"] and len(working) == len(times) - 1
        final = figures["polls"][-1][1]
        assert final["result"]["structuredContent"]["status"] == "TimedOut"
    intervals = [task["pollIntervalMs"] for _, task in called_back["polls"][:-1]]
    assert intervals == [task["pollIntervalMs"] for _, task in polled["polls"][:-1]]
    print(
        f"20 s run, tasks/get at pollIntervalMs: {polled['status_reads']} status reads without a callback, "
        f"{called_back['status_reads']} with one ({len(called_back['polls'])} polls each)"
    )


async def test_a_read_older_than_the_safety_interval_is_renewed_while_the_callback_is_expected() -> None:
    async with callback_stack(mode="auto", tasks=True) as stack:
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 3600}
        created = await start_task(stack.client, "run_desktop_flow", arguments)
        run_id = created["taskId"].removeprefix("dfrun-")
        assert await stack.services.runs.expects_callback(run_id)
        await get_task(stack.client.session, created["taskId"])
        assert stack.wire.status_reads(run_id) == 1  # the task's creation read stands in
        stack.clock.seconds += SAFETY_READ_SECONDS
        task = await get_task(stack.client.session, created["taskId"])
        assert stack.wire.status_reads(run_id) == 2
        assert task["status"] == "working" and task["statusMessage"].startswith("Running for 3 min")


# ---- a callback used on another replica (the token store shared through Redis) ------------------------------------


def shared_tokens(monkeypatch: pytest.MonkeyPatch) -> list[InProcessCallbackTokens]:
    """The token store the next server makes (the one replicas would share through Redis), once it is made."""
    made: list[InProcessCallbackTokens] = []

    def make(clock: Clock) -> InProcessCallbackTokens:
        made.append(InProcessCallbackTokens(clock))
        return made[-1]

    monkeypatch.setattr(run_callbacks, "InProcessCallbackTokens", make)
    return made


async def test_a_callback_used_while_a_wait_checks_for_it_still_ends_the_wait_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = shared_tokens(monkeypatch)
    async with callback_stack() as stack:
        run_id = await stack.start_report()
        token = stack.callback_url(run_id).rsplit("/", 1)[-1]
        stack.clock.on_step.clear()  # no callback reaches this server: "replica B" receives it
        stack.emulator.offset += 25  # the run ends (TimedOut)
        tokens, runs = made[0], stack.services.runs
        answer = tokens.run_for
        used: list[str] = []

        async def used_as_the_answer_travels(asked: str) -> str | None:
            bound = await answer(asked)
            if not used:  # replica B drops the token and publishes its wake-up between the check and the pause
                used.append(asked)
                await tokens.drop(token)
                await runs.wakeups.publish(run_id)
            return bound

        monkeypatch.setattr(tokens, "run_for", used_as_the_answer_travels)
        began = stack.clock.seconds
        run = await runs.wait(run_id, 60)
    assert used == [token]
    assert run.status == "TimedOut" and stack.clock.seconds - began < 1


async def test_a_task_pause_ends_at_once_when_the_runs_callback_was_used_on_another_replica(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = shared_tokens(monkeypatch)
    async with callback_stack() as stack:
        run_id = await stack.start_report()
        token = stack.callback_url(run_id).rsplit("/", 1)[-1]
        runs = stack.services.runs
        await made[0].drop(token)  # used on replica B, whose wake-up went out before this pause
        began = stack.clock.seconds
        assert await runs.wait_for_change(run_id, 15) is True
        assert stack.clock.seconds == began
        assert not await runs.expects_callback(run_id)
        assert await runs.wait_for_change(run_id, 15) is False  # only once: then the run's ordinary pace
        assert stack.clock.seconds == began + 15


async def test_a_failing_token_store_never_counts_a_callback_as_used(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    tokens = InProcessCallbackTokens(clock)
    callbacks = RunCallbacks(PUBLIC_URL, tokens, clock)
    issued = await callbacks.issue()
    assert issued is not None
    await callbacks.bind(issued[0], RUN, 20)

    async def down(token: str) -> str | None:
        raise ConnectionError("store down")

    monkeypatch.setattr(tokens, "run_for", down)
    assert not await callbacks.spent(RUN)  # a pause then runs its course: no busy loop while the store is down
    monkeypatch.undo()
    assert not await callbacks.spent(RUN)  # not asked again at once after a failure
    clock.seconds += QUIET_SECONDS
    assert not await callbacks.spent(RUN)  # still bound: not used
    await tokens.drop(issued[0])
    assert await callbacks.spent(RUN) and not await callbacks.spent(RUN)


async def test_after_a_cancel_that_takes_time_task_polls_read_the_run_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with callback_stack(mode="auto", tasks=True) as stack:
        created = await start_task(stack.client, "run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS})
        run_id = created["taskId"].removeprefix("dfrun-")
        store = stack.emulator.store
        cancel = store.cancel

        def stops_10_s_later(run: Run, now: float) -> None:
            cancel(run, now + 10)

        monkeypatch.setattr(store, "cancel", stops_10_s_later)
        stack.clock.on_step.clear()  # and Dataverse posts no callback for it
        await cancel_task(stack.client.session, created["taskId"])
        assert await stack.services.runs.expects_callback(run_id)
        await stack.clock.sleep(11)
        task = await get_task(stack.client.session, created["taskId"])
    assert task["status"] == "cancelled" and task["statusMessage"].endswith("the run is Cancelled")  # read afresh
