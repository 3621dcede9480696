"""Per-person state in the stores: each person's share of a connection's run window (in process and in Redis), the
key file across the upgrade that told callers apart, and Alice and Bob on one server whose state is in Redis."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from desktop_flows_mcp.call_scope import acting_for, owned
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.dataverse.resilience import RunRateLimiter, RunWindow
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.idempotency import digest
from desktop_flows_mcp.shared_state import identity_of
from desktop_flows_mcp.shared_state.file_keys import FILE_NAME, key_scope
from desktop_flows_mcp.shared_state.redis_limits import RedisRunWindow
from desktop_flows_mcp.shared_state.redis_state import client_for
from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS
from tests.helpers import FakeClock, ok
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, full_stack
from tests.two_callers import ALICE, BOB, two_callers

pytestmark = pytest.mark.anyio
INVOICE = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}


async def _refused(window: RunWindow, caller: str) -> DesktopFlowsError:
    with acting_for(caller, "run_desktop_flow"), pytest.raises(DesktopFlowsError) as refused:
        await window.acquire("conn-1")
    return refused.value


async def _started(window: RunWindow, caller: str, times: int) -> None:
    with acting_for(caller, "run_desktop_flow"):
        for _ in range(times):
            await window.acquire("conn-1")


async def _hold_the_share_and_the_window(make: Callable[[], RunWindow]) -> list[DesktopFlowsError]:
    """limit 4, share 2: Alice takes her 2 and is refused; Bob his 2; then the connection is full for everyone."""
    window = make()
    await _started(window, ALICE, 2)
    alice_over = await _refused(window, ALICE)
    await _started(window, BOB, 2)
    everyone_over = await _refused(window, "entra:tenant-1/carol")
    return [alice_over, everyone_over]


def _assert_share_then_window(errors: list[DesktopFlowsError]) -> None:
    alice_over, everyone_over = errors
    assert alice_over.code is ErrorCode.THROTTLED and alice_over.retryable
    assert "You already started 2 desktop flow runs on connection 'conn-1'" in alice_over.message
    assert alice_over.retry_after_seconds is not None and 59 < alice_over.retry_after_seconds <= 60
    assert "already started 4 desktop flow runs in the last 60 seconds" in everyone_over.message


async def test_each_person_has_a_share_of_the_connections_window_in_process() -> None:
    clock = FakeClock()
    errors = await _hold_the_share_and_the_window(lambda: RunRateLimiter(4, share=2, clock=clock))
    _assert_share_then_window(errors)


async def test_each_person_has_a_share_of_the_connections_window_in_redis(redis_url: str) -> None:
    clock, redis, prefix = FakeClock(), client_for(redis_url), f"dfmcp:test-{secrets.token_hex(4)}:"
    try:
        errors = await _hold_the_share_and_the_window(
            lambda: RedisRunWindow(redis, prefix, clock=clock, limit=4, share=2)
        )
    finally:
        await redis.aclose()
    _assert_share_then_window(errors)


@pytest.mark.parametrize("caller", ["local", "anonymous", "token:0a1b2c3d"])
async def test_the_callers_of_a_single_identity_server_keep_the_whole_window_as_before(caller: str) -> None:
    clock = FakeClock()
    window = RunRateLimiter(4, share=2, clock=clock)
    await _started(window, caller, 4)
    refused = await _refused(window, caller)
    assert "already started 4 desktop flow runs in the last 60 seconds" in refused.message


def test_a_key_written_before_callers_were_told_apart_is_still_the_single_identitys_and_no_persons() -> None:
    """The key file names a record ``digest(scope, key)``; a single-identity caller still looks that name up (so
    an upgrade loses no key), while a person's key is named inside their own namespace."""
    scope = key_scope("https://org.crm.dynamics.com", identity_of(Settings.from_env({})))
    before = digest(scope, "order-7")
    with acting_for("local", "run_desktop_flow"):
        local = digest(scope, owned("order-7"))
    with acting_for("token:0a1b2c3d", "run_desktop_flow"):
        token = digest(scope, owned("order-7"))
    with acting_for(ALICE, "run_desktop_flow"):
        alice = digest(scope, owned("order-7"))
    assert local == token == before and alice != before


async def test_a_person_never_gets_the_run_of_a_key_the_single_identity_wrote_in_the_same_key_file(
    tmp_path: Path,
) -> None:
    env = {"DESKTOP_FLOWS_STATE_DIR": str(tmp_path)}
    async with full_stack("legacy", env) as local:  # a stdio-like server of one identity, same directory
        mine = ok(await local.call("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"}))
    async with two_callers("legacy", env) as people:
        alice = await people.alice.ok("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"})
    rows = sqlite3.connect(tmp_path / FILE_NAME).execute("SELECT run_id FROM idempotency_keys").fetchall()
    assert alice["run_id"] != mine["run_id"] and not alice["reused"]
    assert sorted(r[0] for r in rows) == sorted([mine["run_id"], alice["run_id"]])


async def test_alice_and_bob_keep_their_own_keys_and_callbacks_when_the_state_is_in_redis(redis_url: str) -> None:
    key = f"order-{secrets.token_hex(4)}"
    async with two_callers("legacy", {"DESKTOP_FLOWS_REDIS_URL": redis_url}) as people:
        alice = await people.alice.ok("run_desktop_flow", {**INVOICE, "idempotency_key": key})
        bob = await people.bob.ok("run_desktop_flow", {**INVOICE, "idempotency_key": key})
        again = await people.alice.ok("run_desktop_flow", {**INVOICE, "idempotency_key": key})
        started = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}
        run_id = (await people.alice.ok("run_desktop_flow", started))["run_id"]
        wakeups = people.services.runs.wakeups
        async with wakeups.subscribe(owned(run_id, ALICE)) as hers, wakeups.subscribe(owned(run_id, BOB)) as his:
            await people.deliver_callbacks(after_seconds=30)  # the run ended at 21 s
            with anyio.fail_after(10):
                await hers.wait()  # the wake-up crossed Redis
            woken_his = his.is_set()
    assert alice["run_id"] != bob["run_id"] and not bob["reused"] and again["run_id"] == alice["run_id"]
    assert not woken_his
