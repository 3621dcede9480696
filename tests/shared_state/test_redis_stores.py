"""The Redis stores against a real redis-server: two instances stand for two replicas."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.dataverse.resilience import IDENTITY, ReadPacer, ThrottleGate
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.idempotency import Attempt, KeyRecord, inputs_digest
from desktop_flows_mcp.shared_state.redis_callbacks import RedisCallbackTokens, RedisRunWakeups
from desktop_flows_mcp.shared_state.redis_keys import RedisIdempotencyKeys
from desktop_flows_mcp.shared_state.redis_limits import RedisPauseBoard, RedisReadBudget, RedisRunWindow
from desktop_flows_mcp.shared_state.redis_state import client_for, probe, shared_cursor_key
from tests.helpers import FakeClock
from tests.redis_server import free_port

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def two_clients(url: str) -> AsyncGenerator[tuple[Redis, Redis, str], None]:
    a, b = client_for(url), client_for(url)
    try:
        yield a, b, f"dfmcp:test-{secrets.token_hex(4)}:"
    finally:
        await a.aclose()
        await b.aclose()


async def test_the_run_window_is_one_for_the_fleet_and_refuses_with_the_exact_wait(redis_url: str) -> None:
    clock = FakeClock()
    async with two_clients(redis_url) as (a, b, prefix):
        first = RedisRunWindow(a, prefix, clock=clock, limit=3)
        second = RedisRunWindow(b, prefix, clock=clock, limit=3)
        await first.acquire("Conn-1")
        await second.acquire("conn-1")  # connection names are compared without case
        await first.acquire("conn-1")
        await second.acquire("conn-2")  # another connection has its own window
        with pytest.raises(DesktopFlowsError) as refused:
            await second.acquire("conn-1")
    error = refused.value
    assert error.code is ErrorCode.THROTTLED and error.retryable
    assert error.retry_after_seconds is not None and 59 < error.retry_after_seconds <= 60
    assert "already started 3 desktop flow runs in the last 60 seconds" in error.message
    assert clock.sleeps == []


async def test_a_short_wait_for_a_slot_is_waited_out(redis_url: str) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await anyio.sleep(seconds)  # the window is on Redis's clock, so this wait is real (0.2 s)

    async with two_clients(redis_url) as (a, b, prefix):
        await RedisRunWindow(a, prefix, clock=Clock(sleep=sleep), limit=1, window=0.2).acquire("c")
        await RedisRunWindow(b, prefix, clock=Clock(sleep=sleep), limit=1, window=0.2).acquire("c")
    assert len(slept) >= 1 and 0 < slept[0] <= 0.2


async def test_a_pause_taken_by_one_replica_holds_on_another_and_only_grows(redis_url: str) -> None:
    clock = FakeClock()
    async with two_clients(redis_url) as (a, b, prefix):
        board_a, board_b = RedisPauseBoard(a, prefix), RedisPauseBoard(b, prefix)
        await board_a.close_for(40, IDENTITY)
        await board_b.close_for(5, IDENTITY)  # a shorter pause does not cut a longer one
        remaining = await board_b.remaining((IDENTITY, "connection:x"))
        gate = ThrottleGate(clock, board_b)
        with pytest.raises(DesktopFlowsError) as paused:
            await gate.wait(30.0)
        assert await board_a.remaining(("connection:x",)) == 0
    assert 39 < remaining <= 40
    assert paused.value.code is ErrorCode.THROTTLED and clock.sleeps == []


async def test_one_holder_per_key_across_replicas_and_the_record_it_leaves(redis_url: str) -> None:
    clock = FakeClock()
    began = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    async with two_clients(redis_url) as (a, b, prefix):
        keys_a = RedisIdempotencyKeys(a, prefix, clock=Clock(monotonic=clock, now=lambda: began + timedelta(seconds=3)))
        keys_b = RedisIdempotencyKeys(b, prefix, clock=Clock(monotonic=clock, now=lambda: began + timedelta(seconds=3)))
        order: list[str] = []
        holding = anyio.Event()

        async def first() -> None:
            async with keys_a.lock("k"):
                holding.set()
                order.append("a in")
                await anyio.sleep(0.1)  # b must be waiting on Redis meanwhile
                ended = began + timedelta(seconds=1)
                attempt = Attempt("flow", "conn", "connection", inputs_digest({"x": 1}, "m"), "m", began, ended, 0)
                await keys_a.remember("k", KeyRecord("fp", 0, None, attempt))
                order.append("a out")

        async def second() -> None:
            await holding.wait()
            async with keys_b.lock("k"):
                order.append("b in")

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            group.start_soon(second)
        record = await keys_b.get("k")
        await keys_b.remember("k", KeyRecord("fp", 0, "run-1"))
        claimed_for_other = await keys_a.claimed_among(["run-1", "run-2"], except_key="other")
        claimed_for_k = await keys_a.claimed_among(["run-1"], except_key="k")
        await keys_a.forget("k")
        forgotten = await keys_b.get("k")
    assert order == ["a in", "a out", "b in"]
    assert record is not None and record.fingerprint == "fp" and record.attempt is not None
    assert record.attempt.inputs == inputs_digest({"x": 1}, "m") and record.attempt.began == began
    assert record.attempt.ended_at == clock() - 2.0  # ended 2 s ago, on this replica's clock
    assert claimed_for_other == {"run-1"} and claimed_for_k == set()
    assert forgotten is None


async def test_a_lock_whose_holder_died_is_taken_once_its_lease_runs_out(redis_url: str) -> None:
    async with two_clients(redis_url) as (a, b, prefix):
        keys = RedisIdempotencyKeys(b, prefix, clock=Clock(monotonic=FakeClock()))
        await a.set(keys._name("idem-lock", "k"), "dead-replica", px=150)  # pyright: ignore[reportPrivateUsage]
        with anyio.fail_after(5):
            async with keys.lock("k"):
                pass


async def test_callback_tokens_are_shared_unguessable_and_spent_by_drop(redis_url: str) -> None:
    async with two_clients(redis_url) as (a, b, prefix):
        tokens_a, tokens_b = RedisCallbackTokens(a, prefix), RedisCallbackTokens(b, prefix)
        token = await tokens_a.issue(expires_in=60)
        unbound = await tokens_b.run_for(token)
        await tokens_a.bind(token, "run-7", expires_in=120)
        bound = await tokens_b.run_for(token)
        ttl = await a.pttl(tokens_a._name(token))  # pyright: ignore[reportPrivateUsage]
        stored: list[Any] = await a.keys(prefix + "callback:*")  # pyright: ignore[reportUnknownMemberType]
        await tokens_b.drop(token)
        spent = await tokens_a.run_for(token)
        unknown = await tokens_a.run_for("made-up")
        await tokens_a.bind(token, "run-8", expires_in=60)  # a spent token is not brought back
        rebound = await tokens_b.run_for(token)
    assert rebound is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 random bits, URL-safe
    assert (unbound, bound, spent, unknown) == (None, "run-7", None, None)
    assert 110_000 < ttl <= 120_000
    assert token.encode() not in b"".join(stored)  # Redis keeps only a hash of the token


async def test_a_wakeup_published_on_one_replica_sets_the_event_on_another_within_a_second(redis_url: str) -> None:
    async with two_clients(redis_url) as (a, b, prefix), anyio.create_task_group() as group:
        wakeups_a, wakeups_b = RedisRunWakeups(a, prefix), RedisRunWakeups(b, prefix)
        await group.start(wakeups_b.listen)
        async with wakeups_b.subscribe("run-1") as mine, wakeups_b.subscribe("run-2") as other:
            await wakeups_a.publish("run-1")
            with anyio.fail_after(1):
                await mine.wait()
            assert not other.is_set()
        group.cancel_scope.cancel()


async def test_the_cursor_key_is_written_once_and_read_by_every_replica(redis_url: str) -> None:
    async with two_clients(redis_url) as (a, b, prefix):
        first, second = await shared_cursor_key(a, prefix), await shared_cursor_key(b, prefix)
    assert first == second and len(first) == 32


async def test_without_redis_starts_fail_closed_and_pauses_fall_back(redis_url: str) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    clock = FakeClock()
    async with two_clients(down) as (a, _, prefix):
        with pytest.raises(DesktopFlowsError) as window:
            await RedisRunWindow(a, prefix, clock=clock).acquire("c")
        with pytest.raises(DesktopFlowsError) as lock:
            async with RedisIdempotencyKeys(a, prefix, clock=Clock(monotonic=clock)).lock("k"):
                pass
        board = RedisPauseBoard(a, prefix, clock=clock)
        await board.close_for(10, IDENTITY)  # logged, not raised
        remaining = await board.remaining((IDENTITY,))
    async with two_clients(redis_url) as (up, _, _):
        await RedisPauseBoard(up, prefix).close_for(10, IDENTITY)
        board._redis = up  # pyright: ignore[reportPrivateUsage]  # Redis is back
        quiet = await board.remaining((IDENTITY,))  # not asked for 5 s: reads never wait on a dead Redis each time
        await clock.sleep(5)
        back = await board.remaining((IDENTITY,))
    for error in (window.value, lock.value):
        assert error.code is ErrorCode.SHARED_STATE_UNAVAILABLE and error.retryable
        assert "No run was started" in error.message and "ConnectionError" in error.message
    assert remaining == quiet == 0 and 9 < back <= 10
    problem = await probe(down)
    assert problem is not None and "ConnectionError" in problem
    assert await probe(redis_url) is None
    assert (
        await probe(redis_url + "?socket_timeout=abc")
        == "ValueError: Invalid value for 'socket_timeout' in connection URL."
    )


async def test_wakeups_resubscribe_by_themselves_after_the_connection_drops(redis_url: str) -> None:
    async with two_clients(redis_url) as (a, b, prefix), anyio.create_task_group() as group:
        wakeups_a, wakeups_b = RedisRunWakeups(a, prefix), RedisRunWakeups(b, prefix)
        await group.start(wakeups_b.listen)
        await a.client_kill_filter(_type="pubsub")  # pyright: ignore[reportUnknownMemberType]
        async with wakeups_b.subscribe("run-1") as woken:
            with anyio.fail_after(5):
                while not woken.is_set():  # published until the listener is back (it retries after 100 ms)
                    await wakeups_a.publish("run-1")
                    await anyio.sleep(0.05)
        group.cancel_scope.cancel()


async def test_a_held_key_keeps_its_lease_however_long_the_start_takes(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_flows_mcp.shared_state import redis_keys

    monkeypatch.setattr(redis_keys, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(redis_keys, "RENEW_EVERY", 0.1)
    async with two_clients(redis_url) as (a, b, prefix), anyio.create_task_group() as group:
        holder = RedisIdempotencyKeys(a, prefix, clock=Clock(monotonic=FakeClock()))
        other = RedisIdempotencyKeys(b, prefix, clock=Clock(monotonic=FakeClock()))
        group.start_soon(holder.renew_leases)
        async with holder.lock("k"):
            with anyio.move_on_after(1.0) as waited:  # three leases long: only renewal keeps it held
                async with other.lock("k"):
                    pass
        assert waited.cancelled_caught
        with anyio.fail_after(1):  # released at once when the holder is done
            async with other.lock("k"):
                pass
        group.cancel_scope.cancel()


async def test_the_read_budget_is_one_for_the_fleet_and_falls_back_to_each_replicas_own(redis_url: str) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    async with two_clients(redis_url) as (a, b, prefix):
        replica_a = ReadPacer(2.0, 1, clock=clock_a, shared=RedisReadBudget(a, prefix))
        replica_b = ReadPacer(2.0, 1, clock=clock_b, shared=RedisReadBudget(b, prefix))
        await replica_a.acquire()
        await replica_b.acquire()  # the slot after A's, half a second on (Redis's clock)
        await replica_a.charge()  # a read someone waits on, on A: never held, but B's next read comes after it
        await replica_b.acquire()
    assert clock_a.sleeps == []
    assert len(clock_b.sleeps) == 2
    assert 0.4 < clock_b.sleeps[0] <= 0.5 and 1.4 < clock_b.sleeps[1] <= 1.5
    down = ReadPacer(2.0, 1, clock=clock_a, shared=RedisReadBudget(client_for(
        f"redis://127.0.0.1:{free_port()}/0"), prefix))  # fmt: skip
    await down.acquire()
    await down.acquire()  # Redis unreachable: this replica's own budget paces it, nothing is raised
    assert clock_a.sleeps == [0.5]
