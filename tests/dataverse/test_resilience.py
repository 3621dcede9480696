from __future__ import annotations

import pytest

from desktop_flows_mcp.dataverse.resilience import ReadPacer, RetryPolicy, RunRateLimiter
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio


async def test_seventy_runs_per_minute_per_connection_then_throttled_with_the_time_to_retry(clock: FakeClock) -> None:
    limiter = RunRateLimiter(clock=clock)
    for _ in range(70):
        await limiter.acquire("shared-uiflow-1")
        clock.seconds += 0.1  # 70 runs within 7 seconds
    with pytest.raises(DesktopFlowsError) as caught:
        await limiter.acquire("shared-uiflow-1")
    assert caught.value.code is ErrorCode.THROTTLED
    assert caught.value.retry_after_seconds == pytest.approx(53.0)
    assert "No run was started" in caught.value.message
    assert clock.sleeps == []


async def test_other_connections_have_their_own_budget(clock: FakeClock) -> None:
    limiter = RunRateLimiter(limit=2, clock=clock)
    await limiter.acquire("a")
    await limiter.acquire("A")  # connection names compare case-insensitively
    await limiter.acquire("b")
    with pytest.raises(DesktopFlowsError):
        await limiter.acquire("a")


async def test_a_slot_that_frees_within_the_short_wait_is_waited_for(clock: FakeClock) -> None:
    limiter = RunRateLimiter(limit=2, window=60, max_wait=5, clock=clock)
    await limiter.acquire("a")
    clock.seconds += 56
    await limiter.acquire("a")
    await limiter.acquire("a")  # the first slot frees 4 seconds from now
    assert clock.sleeps == [pytest.approx(4.0)]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.backoff(3, rng=lambda: 0.0) == 1.0  # never less than half the ceiling


async def test_the_read_pacer_lets_a_burst_through_then_one_read_per_spacing_in_order(clock: FakeClock) -> None:
    pacer = ReadPacer(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        await pacer.acquire()
    assert clock.sleeps == []  # the burst
    await pacer.acquire()
    await pacer.acquire()
    assert clock.sleeps == [0.5, 0.5]  # then 2 a second
    await pacer.charge()  # a read someone waits on: counted, never held
    assert clock.sleeps == [0.5, 0.5]
    await pacer.acquire()
    assert clock.sleeps == [0.5, 0.5, 1.0]  # the background read after it waits one slot longer
    clock.seconds += 60
    await pacer.acquire()
    assert clock.sleeps == [0.5, 0.5, 1.0]  # an idle minute refills the burst
