"""Runs that report back: tokens, wake-ups, and what a wait costs with and without a callback (fake time)."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from mcp.types import CallToolResult

from desktop_flows_mcp.run_callbacks import (
    ISSUE_TTL,
    QUEUE_ALLOWANCE,
    InProcessCallbackTokens,
    InProcessWakeups,
    RunCallbacks,
    pause,
)
from desktop_flows_mcp.runs import SAFETY_READ_SECONDS
from tests.callback_stack import PUBLIC_URL, REPORT_FLOW, REPORT_INPUTS, callback_stack
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
RUN = "4b35b6d0-95b6-461b-9e41-84340c229d4d"

# ---- tokens and wake-ups ---------------------------------------------------------------------------------------


async def test_a_token_is_unguessable_url_safe_and_names_its_run_only_once_bound() -> None:
    clock = FakeClock()
    tokens = InProcessCallbackTokens(clock)
    issued = {await tokens.issue(expires_in=60) for _ in range(50)}
    token = next(iter(issued))
    assert len(issued) == 50
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes: 256 bits
    assert await tokens.run_for(token) is None  # unbound
    await tokens.bind(token, RUN, expires_in=100)
    assert await tokens.run_for(token) == RUN
    clock.seconds += 100
    assert await tokens.run_for(token) is None  # expired
    await tokens.bind("never-issued", RUN, expires_in=100)
    assert await tokens.run_for("never-issued") is None


async def test_a_dropped_token_names_nothing_and_expired_ones_are_pruned() -> None:
    clock = FakeClock()
    tokens = InProcessCallbackTokens(clock)
    old = await tokens.issue(expires_in=10)
    kept = await tokens.issue(expires_in=1000)
    await tokens.bind(kept, RUN, expires_in=1000)
    await tokens.drop(kept)
    await tokens.drop(kept)  # twice is fine
    clock.seconds += 20
    await tokens.issue(expires_in=10)  # prunes the expired one
    await tokens.bind(old, RUN, expires_in=1000)  # too late: it is gone
    assert await tokens.run_for(kept) is None
    assert await tokens.run_for(old) is None


async def test_the_token_store_is_capped_and_drops_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    import desktop_flows_mcp.run_callbacks as module

    monkeypatch.setattr(module, "MAX_TOKENS", 3)
    tokens = InProcessCallbackTokens(FakeClock())
    issued = [await tokens.issue(expires_in=60) for _ in range(4)]
    for token in issued:
        await tokens.bind(token, RUN, expires_in=60)
    assert [await tokens.run_for(t) for t in issued] == [None, RUN, RUN, RUN]


async def test_a_publish_wakes_every_subscriber_of_that_run_only() -> None:
    wakeups = InProcessWakeups()
    async with wakeups.subscribe(RUN) as first, wakeups.subscribe(RUN) as second, wakeups.subscribe("other") as other:
        assert wakeups.waiting(RUN) == 2
        await wakeups.publish(RUN)
        assert first.is_set() and second.is_set() and not other.is_set()
    assert wakeups.waiting(RUN) == 0
    await wakeups.publish(RUN)  # nobody waits: nothing happens


async def test_pause_ends_early_when_woken_and_reports_which() -> None:
    clock = FakeClock()
    woken = anyio.Event()
    assert await pause(woken, 5, clock.sleep) is False
    assert await pause(woken, 0, clock.sleep) is False
    woken.set()
    assert await pause(woken, 5, clock.sleep) is True
    assert clock.sleeps == [5]

    async def never(seconds: float) -> None:
        await anyio.Event().wait()

    late = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(pause, late, 5, never)
        await anyio.wait_all_tasks_blocked()
        late.set()


class BrokenTokens:
    async def issue(self, *, expires_in: float) -> str:
        raise ConnectionError("store down")

    async def bind(self, token: str, run_id: str, *, expires_in: float) -> None:
        raise ConnectionError("store down")

    async def run_for(self, token: str) -> str | None:
        raise ConnectionError("store down")

    async def drop(self, token: str) -> None:
        raise ConnectionError("store down")


async def test_a_failing_token_store_never_fails_a_run(caplog: pytest.LogCaptureFixture) -> None:
    callbacks = RunCallbacks(PUBLIC_URL + "/", BrokenTokens(), FakeClock())
    assert await callbacks.issue() is None
    await callbacks.bind("t", RUN, 20)
    await callbacks.discard("t")
    await callbacks.finished(RUN)
    assert await callbacks.expected(RUN) is False
    assert "runs are followed by polling" in caplog.text and "(ConnectionError)" in caplog.text
    assert len(caplog.records) == 1  # then the store is left alone for a while: one line, not one per call


async def test_a_bound_token_lives_for_the_run_timeout_plus_the_queue_allowance() -> None:
    clock = FakeClock()
    tokens = InProcessCallbackTokens(clock)
    callbacks = RunCallbacks(PUBLIC_URL, tokens, clock)
    issued = await callbacks.issue()
    assert issued is not None
    token, url = issued
    assert url == f"{PUBLIC_URL}/callbacks/{token}"
    clock.seconds += ISSUE_TTL - 1
    await callbacks.bind(token, RUN, 20)
    assert await callbacks.expected(RUN)
    clock.seconds += 20 + QUEUE_ALLOWANCE - 1
    assert await callbacks.expected(RUN)
    clock.seconds += 1
    assert not await callbacks.expected(RUN)


# ---- waits -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_twenty_second_run_that_reports_back_costs_one_status_read_and_ends_its_wait_at_once(
    mode: str,
) -> None:
    async with callback_stack(mode=mode) as stack:
        run_id = await stack.start_report()
        started = stack.clock.seconds
        run = await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 60})
        ended = stack.clock.seconds
    assert run["status"] == "TimedOut"
    assert stack.wire.status_reads(run_id) == 1  # the callback endpoint's re-read; the wait reuses it
    assert ended - (started + 21) <= 0.25  # the run ends 21 s after its start; one clock step at most


async def test_without_a_public_url_the_same_wait_polls_six_times_and_hears_of_the_end_seconds_late() -> None:
    async with callback_stack(public_url=None) as stack:
        run_id = await stack.start_report()
        started = stack.clock.seconds
        run = await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 60})
        ended = stack.clock.seconds
    assert run["status"] == "TimedOut"
    assert stack.wire.status_reads(run_id) == 6
    assert ended - (started + 21) > 5
    assert stack.emulator.store.runs[run_id].callback_url is None


async def test_every_run_carries_its_own_callback_url_and_an_agents_own_url_is_kept_and_polled() -> None:
    async with callback_stack() as stack:
        first, second = await stack.start_report(), await stack.start_report()
        own = await stack.start_report(callback_url="https://hooks.fabrikam.com/done")
        await stack.tool("wait_for_desktop_flow_run", {"run_id": own, "timeout_seconds": 60})
    urls = [stack.callback_url(r) for r in (first, second)]
    assert all(url.startswith(PUBLIC_URL + "/callbacks/") for url in urls)
    assert urls[0] != urls[1]
    assert stack.callback_url(own) == "https://hooks.fabrikam.com/done"
    assert stack.wire.status_reads(own) == 6  # no callback of ours to wait for: polled as usual


async def test_run_with_wait_seconds_ends_on_the_callback_too() -> None:
    async with callback_stack() as stack:
        started = await stack.tool(
            "run_desktop_flow",
            {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20, "wait_seconds": 60},
        )
    assert started["status"] == "TimedOut"
    assert stack.wire.status_reads(started["run_id"]) == 1


async def test_a_retried_idempotency_key_is_the_same_call_although_each_start_gets_a_new_token() -> None:
    async with callback_stack() as stack:
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20, "idempotency_key": "k-1"}
        first = await stack.tool("run_desktop_flow", arguments)
        again = await stack.tool("run_desktop_flow", arguments)
    assert again["run_id"] == first["run_id"] and again["reused"] is True


async def test_a_start_that_fails_drops_its_token() -> None:
    async with callback_stack() as stack:
        stack.emulator.tokens.clear()  # every request is now 401
        result: CallToolResult = await stack.client.call_tool(
            "run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS}
        )
        callbacks: Any = stack.services.runs._callbacks  # pyright: ignore[reportPrivateUsage]
    assert result.is_error
    assert len(callbacks.tokens) == 0


async def test_while_a_callback_is_expected_a_wait_reads_only_at_its_deadline_and_says_it_is_alive() -> None:
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with callback_stack(step=1.0) as stack:
        started = await stack.tool(
            "run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 900}
        )
        run_id = started["run_id"]
        result = await stack.client.call_tool(
            "wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 40}, progress_callback=on_progress
        )
    assert result.structured_content is not None
    assert result.structured_content["status"] == "Running"
    assert stack.wire.status_reads(run_id) == 1  # the deadline read
    assert messages == [
        f"Run {run_id} is Waiting; waiting for it to report back",
        f"Run {run_id} is Waiting; waiting for it to report back",
        f"Run {run_id} is Running",
    ]


async def test_a_callback_that_never_comes_costs_a_safety_read_every_few_minutes() -> None:
    async with callback_stack(step=5.0) as stack:
        started = await stack.tool("run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS})  # 601 s
        run_id = started["run_id"]
        stack.emulator.callbacks.pending.discard(run_id)  # Dataverse could not reach us: no callback
        first = await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 600})
        first_reads = stack.wire.status_reads(run_id)
        second = await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 600})
    assert first["status"] == "Running"
    assert first_reads == 4  # at 180, 360 and 540 s, and at the deadline
    assert second["status"] == "Succeeded"
    assert stack.wire.status_reads(run_id) == 5  # the next safety read finds the end


async def test_a_wait_on_a_run_read_long_ago_reads_it_at_once() -> None:
    async with callback_stack(step=5.0) as stack:
        run_id = await stack.start_report(timeout_seconds=900)
        await stack.clock.sleep(SAFETY_READ_SECONDS + 1)
        before = stack.wire.status_reads(run_id)
        await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 1})
    assert stack.wire.status_reads(run_id) - before == 2  # at once, then at the deadline


async def test_wait_for_change_returns_on_a_wake_up_or_when_the_time_is_up() -> None:
    async with callback_stack() as stack:
        runs = stack.services.runs
        run_id = await stack.start_report()
        assert await runs.expects_callback(run_id)
        assert await runs.wait_for_change(run_id, 5) is False
        woke = await runs.wait_for_change(run_id, 60)  # the callback arrives at 21 s
        assert await runs.expects_callback(run_id) is False  # its token is spent
        assert await runs.wait_for_change(run_id, 60) is True  # known finished: at once
    assert woke is True
    assert stack.wire.status_reads(run_id) == 1


async def test_a_cancel_ends_a_wait_that_expected_a_callback_at_once() -> None:
    result: dict[str, Any] = {}
    async with callback_stack() as stack:
        run_id = await stack.start_report(timeout_seconds=900)
        wakeups = stack.services.runs.wakeups
        assert isinstance(wakeups, InProcessWakeups)
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                result.update(await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 60}))

            group.start_soon(wait)
            while not wakeups.waiting(run_id):
                await anyio.sleep(0)
            result["cancelled_at"] = stack.clock.seconds
            await stack.tool("cancel_desktop_flow_run", {"run_id": run_id})
        assert result["status"] == "Cancelled"
        assert stack.clock.seconds - result["cancelled_at"] <= 1.0
