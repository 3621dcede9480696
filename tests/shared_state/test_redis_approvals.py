"""confirm_tokens in Redis: issued by one replica, redeemed once by any, kept only as hashes."""

from __future__ import annotations

import secrets
from typing import Any, cast

import pytest
from mcp import Client
from mcp.server import MCPServer

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.shared_state.redis_approvals import RedisApprovals
from desktop_flows_mcp.shared_state.redis_state import client_for
from tests.helpers import FakeClock, error_of, ok
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, CountingTransport

pytestmark = pytest.mark.anyio
RUN = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}


async def test_a_token_is_redeemed_once_by_any_replica_and_stored_only_hashed(redis_url: str) -> None:
    clock = FakeClock()
    a, b = client_for(redis_url), client_for(redis_url)
    prefix = f"dfmcp:test-{secrets.token_hex(4)}:"
    try:
        one, two = RedisApprovals(a, prefix, clock=clock), RedisApprovals(b, prefix, clock=clock)
        token = await one.issue("binding-1", expires_in=300)
        names = cast(list[bytes], await a.keys(prefix + "*"))  # pyright: ignore[reportUnknownMemberType]
        stored = [await a.get(name) for name in names]
        assert await two.redeem(token, "binding-1") == "ok"
        assert await one.redeem(token, "binding-1") == "unknown"
        late = await one.issue("binding-1", expires_in=300)
        clock.seconds += 300
        assert await two.redeem(late, "binding-1") == "expired"
        other = await one.issue("binding-1", expires_in=300)
        assert await two.redeem(other, "binding-2") == "mismatch"
        await one.grant_key("key-1", expires_in=60)
        assert await two.key_granted("key-1") and not await two.key_granted("key-2")
    finally:
        await a.aclose()
        await b.aclose()
    assert len(names) == 1 and token not in repr(names) + repr(stored)


def replica(redis_url: str, wire: CountingTransport, clock: FakeClock) -> MCPServer[Any]:
    """A server process of its own (nothing shared with another but Dataverse and Redis)."""
    settings = Settings.from_env({"DESKTOP_FLOWS_APPROVAL": "runs", "DESKTOP_FLOWS_REDIS_URL": redis_url})
    return build_server(App(settings, clock=clock, dataverse_transport=wire))


async def test_a_token_one_replica_issued_runs_the_flow_on_another_and_only_once(redis_url: str) -> None:
    clock = FakeClock()
    wire = CountingTransport(Emulator(clock=clock).transport())
    async with (
        Client(replica(redis_url, wire, clock), mode="auto", raise_exceptions=True) as first,
        Client(replica(redis_url, wire, clock), mode="auto", raise_exceptions=True) as second,
    ):
        approval = error_of(await first.call_tool("run_desktop_flow", RUN))["approval"]
        confirmed = {**RUN, "confirm_token": approval["confirm_token"]}
        started = ok(await second.call_tool("run_desktop_flow", confirmed))
        replay = error_of(await first.call_tool("run_desktop_flow", confirmed))
    assert started["run_id"] and replay["code"] == "approval_invalid"
    assert wire.paths().count("POST Microsoft.Dynamics.CRM.RunDesktopFlow") == 1
