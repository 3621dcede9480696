"""Each person's state is their own: two people (Alice and Bob) on one HTTP server, in both protocol eras.

Everything this server keeps is keyed by the caller: idempotency keys, cursors, task ids, the memory of runs it read
or started, callbacks, and a share of the connection's run window. Dataverse answers for what each person may read;
these tests sign both people into the emulator as one identity, so that only the server's own keying tells them
apart (a leak would show)."""

from __future__ import annotations

import logging

import anyio
import pytest
from mcp import MCPError

from desktop_flows_mcp.call_scope import owned
from desktop_flows_mcp.dataverse.resilience import CALLER_SHARE
from desktop_flows_mcp.run_callbacks import InProcessWakeups
from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS
from tests.tasks_client import cancel_task, get_task, listen, start_task
from tests.two_callers import ALICE, BOB, two_callers

pytestmark = pytest.mark.anyio
INVOICE = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}


@pytest.mark.parametrize("mode", ERAS)
async def test_alice_and_bob_with_one_idempotency_key_start_two_runs_and_each_gets_their_own_back(mode: str) -> None:
    async with two_callers(mode) as people:
        alice = await people.alice.ok("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"})
        bob = await people.bob.ok("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"})
        alice_again = await people.alice.ok("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"})
        bob_again = await people.bob.ok("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"})
        started = [r for r in people.wire.requests if r.method == "POST" and r.url.path.endswith("RunDesktopFlow")]
    assert alice["run_id"] != bob["run_id"] and not alice["reused"] and not bob["reused"]
    assert (alice_again["run_id"], alice_again["reused"]) == (alice["run_id"], True)
    assert (bob_again["run_id"], bob_again["reused"]) == (bob["run_id"], True)
    assert len(started) == 2


@pytest.mark.parametrize("mode", ERAS)
async def test_a_run_cursor_given_to_alice_is_refused_for_bob_with_a_clear_error(mode: str) -> None:
    async with two_callers(mode) as people:
        for _ in range(2):
            await people.alice.ok("run_desktop_flow", INVOICE)
        first = await people.alice.ok("list_desktop_flow_runs", {"limit": 1})
        cursor = first["next_cursor"]
        refused = await people.bob.call("list_desktop_flow_runs", {"cursor": cursor})
        second = await people.alice.ok("list_desktop_flow_runs", {"cursor": cursor})
    assert refused["error"]["code"] == "invalid_argument"
    assert "another caller" in refused["error"]["message"] and "without a cursor" in refused["error"]["hint"]
    assert second["runs"] and second["runs"] != first["runs"]


@pytest.mark.parametrize("mode", ERAS)
async def test_one_person_uses_at_most_their_share_of_the_connections_run_window_and_others_still_start(
    mode: str,
) -> None:
    async with two_callers(mode) as people:
        for _ in range(CALLER_SHARE):
            await people.alice.ok("run_desktop_flow", INVOICE)
        over = await people.alice.call("run_desktop_flow", INVOICE)
        bobs = await people.bob.ok("run_desktop_flow", INVOICE)
        started = [r for r in people.wire.requests if r.method == "POST" and r.url.path.endswith("RunDesktopFlow")]
    assert over["error"]["code"] == "throttled" and over["error"]["retryable"]
    assert f"{CALLER_SHARE} desktop flow runs" in over["error"]["message"] and "share" in over["error"]["message"]
    assert bobs["run_id"] and len(started) == CALLER_SHARE + 1


@pytest.mark.parametrize("mode", ERAS)
async def test_a_run_alice_read_is_answered_to_bob_only_by_dataverse_never_from_alices_memory(mode: str) -> None:
    async with two_callers(mode) as people:
        run_id = (await people.alice.ok("run_desktop_flow", INVOICE))["run_id"]
        finished = await people.alice.ok("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 600})
        reads = people.wire.status_reads(run_id)
        await people.alice.ok("get_desktop_flow_run", {"run_id": run_id})  # her finished run, from memory
        after_alice = people.wire.status_reads(run_id)
        await people.bob.ok("get_desktop_flow_run", {"run_id": run_id})  # Dataverse decides what Bob may read
        await people.bob.ok("get_desktop_flow_run", {"run_id": run_id})  # then his own memory answers him
    assert finished["is_terminal"]
    assert (after_alice - reads, people.wire.status_reads(run_id) - after_alice) == (0, 1)


@pytest.mark.parametrize("mode", ERAS)
async def test_the_callback_of_alices_run_wakes_only_alices_waits_and_its_audit_line_names_her(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="desktop_flows_mcp.audit")
    async with two_callers(mode) as people:
        started = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}  # ends TimedOut at 21 s
        run_id = (await people.alice.ok("run_desktop_flow", started))["run_id"]
        wakeups = people.services.runs.wakeups
        assert isinstance(wakeups, InProcessWakeups)
        async with wakeups.subscribe(owned(run_id, ALICE)) as hers, wakeups.subscribe(owned(run_id, BOB)) as his:
            await people.deliver_callbacks(after_seconds=30)  # the run ended at 21 s
            with anyio.fail_after(10):
                await hers.wait()  # the server re-reads the run in the background, then wakes her waits
            woken = (hers.is_set(), his.is_set())
    assert woken == (True, False)
    lines = [r for r in caplog.records if "waits woken" in r.getMessage()]
    assert [(r.__dict__.get("caller"), r.__dict__.get("tool")) for r in lines] == [(ALICE, "callback")]


async def test_bob_can_neither_see_cancel_nor_follow_alices_task(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="desktop_flows_mcp.audit")
    async with two_callers("auto", tasks=True) as people:
        created = await start_task(people.alice.client, "run_desktop_flow", INVOICE)
        task_id = created["taskId"]
        refused: list[int] = []
        for attempt in (get_task, cancel_task):
            with pytest.raises(MCPError) as raised:
                await attempt(people.bob.client.session, task_id)
            refused.append(raised.value.error.code)
        with pytest.raises(MCPError) as listening:
            await listen(people.bob.client.session, [task_id])
        unsealed = task_id.rsplit("-", 1)[0]  # the run's id alone names no task of Alice's
        with pytest.raises(MCPError) as bare:
            await get_task(people.alice.client.session, unsealed)
        hers = await get_task(people.alice.client.session, task_id)
        run_id = unsealed.removeprefix("dfrun-")
        cancelled_at = people.emulator.store.runs[run_id].cancelled_at
    assert created["resultType"] == "task" and refused == [-32602, -32602]
    assert listening.value.error.code == -32602 and bare.value.error.code == -32602
    assert hers["taskId"] == task_id and hers["status"] == "working" and cancelled_at is None
    created_lines = [r for r in caplog.records if r.getMessage().startswith("task created")]
    assert [r.__dict__.get("caller") for r in created_lines] == [ALICE]
