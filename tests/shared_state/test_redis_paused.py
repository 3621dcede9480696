"""Redis paused (the process stopped: connections open, nothing answers) or down: reads of runs go on, promptly, and
say nothing about run starts; run starts fail closed with words that say what happened."""

from __future__ import annotations

import signal
import time
from collections.abc import Generator
from contextlib import contextmanager

import pytest

from tests.helpers import ok
from tests.redis_server import RedisServer
from tests.stacks import ERAS, full_stack

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # starts its own redis-server
PUBLIC_URL = "https://flows-mcp.contoso.com"
REPORT_FLOW = "Download monthly sales report"  # runs 600 s: with timeout_seconds=20 it ends TimedOut at 21 s
REPORT_INPUTS = {"Month": "2026-10", "Region": "EMEA"}


@contextmanager
def unavailable(server: RedisServer, how: str) -> Generator[None]:
    """``paused`` (SIGSTOP: the port still accepts connections, but no command is ever answered) or ``down``."""
    assert server.process is not None
    if how == "down":
        server.stop()
        yield
        return
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("how", ["paused", "down"])
@pytest.mark.parametrize("mode", ERAS)
async def test_reading_a_run_that_expects_a_callback_works_while_redis_is_unavailable(mode: str, how: str) -> None:
    redis = RedisServer().start()
    env = {"DESKTOP_FLOWS_REDIS_URL": redis.url, "DESKTOP_FLOWS_PUBLIC_URL": PUBLIC_URL}
    try:
        async with full_stack(mode, env=env) as stack:
            arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}
            run_id = ok(await stack.call("run_desktop_flow", arguments))["run_id"]
            assert stack.emulator.store.runs[run_id].callback_url  # its callback is expected
            stack.clock.seconds += 25  # the run ended (TimedOut); its callback has not come
            with unavailable(redis, how):
                began = time.monotonic()
                read = ok(await stack.call("get_desktop_flow_run", {"run_id": run_id}))
                waited = ok(await stack.call("wait_for_desktop_flow_run", {"run_id": run_id}))
                took = time.monotonic() - began
    finally:
        redis.stop()
    assert read["status"] == waited["status"] == "TimedOut"
    assert took < 3, f"the reads waited {took:.1f} s on a paused Redis (one command times out after 4 s)"
