"""Callbacks across replicas, end to end with a real Redis (issue 15 item 4's last clause): replica A starts a run
whose callback URL names replica B, the emulator posts the callback to B, and a wait on A ends at once. Also: a
callback that arrives while Redis is down gets 503 with Retry-After (Dataverse retries), never 500."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from desktop_flows_mcp.emulator import DEMO_USER, EMULATOR_TOKEN, Emulator
from desktop_flows_mcp.run_callbacks import CALLBACKS_PATH
from desktop_flows_mcp.shared_state.redis_callbacks import RedisCallbackTokens
from desktop_flows_mcp.shared_state.redis_state import client_for, key_prefix
from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS
from tests.helpers import ok
from tests.loopback import serving_on_loopback
from tests.redis_server import RedisServer, free_port
from tests.shared_state.fleet import Fleet, Process, replica_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
B_TOKEN = "replica-b-token"  # the same identity as EMULATOR_TOKEN: only the reads of each replica are told apart


@dataclass
class ReadsByToken:
    """The emulator's app, recording each GET under the bearer token that sent it."""

    app: ASGIApp
    gets: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            headers = dict(scope["headers"])
            token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
            self.gets.append((token, str(scope["path"])))
        await self.app(scope, receive, send)

    def status_reads(self, token: str, run_id: str) -> int:
        return sum(1 for t, path in self.gets if t == token and path.endswith(f"flowsessions({run_id})"))


@asynccontextmanager
async def emulator_for_two() -> AsyncGenerator[tuple[Emulator, ReadsByToken, str], None]:
    emulator = Emulator(tokens={EMULATOR_TOKEN: DEMO_USER, B_TOKEN: DEMO_USER}, test_api=True)
    counted = ReadsByToken(emulator.app)
    async with serving_on_loopback(counted) as url:
        emulator.base_url = url
        yield emulator, counted, url


async def get_calls(redis: Redis) -> int:
    stats: Any = await redis.info("commandstats")  # pyright: ignore[reportUnknownMemberType]
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_a_callback_posted_to_replica_b_ends_a_wait_on_replica_a_within_a_second(redis_url: str) -> None:
    async with emulator_for_two() as (emulator, counted, emulator_url):
        ports = [free_port(), free_port()]
        b_base = f"http://127.0.0.1:{ports[1]}"
        env = replica_env(emulator_url, redis_url) | {"DESKTOP_FLOWS_PUBLIC_URL": b_base}  # A's callbacks go to B
        args = ["--transport", "streamable-http", "--port"]
        replicas = [
            Process.spawn([*args, str(ports[0])], env),
            Process.spawn([*args, str(ports[1])], env | {"DATAVERSE_ACCESS_TOKEN": B_TOKEN}),
        ]
        redis = client_for(redis_url)
        try:
            for replica, port in zip(replicas, ports, strict=True):
                await replica.until_ready(f"http://127.0.0.1:{port}/health")
            a_b = Fleet(emulator_url, replicas, [f"http://127.0.0.1:{p}/mcp" for p in ports])
            arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}  # ends at 21 s
            run_id = ok(await a_b.call_alone(0, "run_desktop_flow", arguments))["run_id"]
            assert str(emulator.store.runs[run_id].callback_url).startswith(f"{b_base}{CALLBACKS_PATH}")
            answer: dict[str, Any] = {}
            ended = float("nan")
            gets = await get_calls(redis)
            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:

                    async def wait_on_a() -> None:
                        waited = await a_b.call_alone(0, "wait_for_desktop_flow_run", {"run_id": run_id})
                        answer.update(ok(waited), answered=time.monotonic())

                    group.start_soon(wait_on_a)
                    while await get_calls(redis) == gets:  # A's wait has asked Redis for the run's token
                        await anyio.sleep(0.005)
                    ended = time.monotonic()
                    await emulator.advance(25)  # the run ends; the emulator posts its callback to B
        finally:
            await redis.aclose()
            for replica in replicas:
                replica.stop()
    latency = answer["answered"] - ended
    a_reads = counted.status_reads(EMULATOR_TOKEN, run_id)
    b_reads = counted.status_reads(B_TOKEN, run_id)
    deliveries = emulator.callbacks.deliveries
    assert answer["status"] == "TimedOut"
    assert [d.attempts for d in deliveries] == [[202]]
    assert b_reads == 1  # B's re-read of the run before it woke anyone
    assert a_reads <= 3
    assert latency < 1.0
    print(f"wait on A ended {latency * 1000:.0f} ms after the run's end; status reads: A {a_reads}, B {b_reads}")


async def test_a_callback_while_redis_is_down_gets_503_with_retry_after_and_changes_nothing() -> None:
    redis_server = RedisServer().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = replica_env("http://127.0.0.1:9", redis_server.url) | {"DESKTOP_FLOWS_PUBLIC_URL": base}
    replica = Process.spawn(["--transport", "streamable-http", "--port", str(port)], env)
    redis = client_for(redis_server.url)
    try:
        await replica.until_ready(f"{base}/health")
        tokens = RedisCallbackTokens(redis, key_prefix("http://127.0.0.1:9"))
        token = await tokens.issue(expires_in=60)
        await tokens.bind(token, "4b35b6d0-95b6-461b-9e41-84340c229d4d", expires_in=60)
        redis_server.stop()
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.post(f"{CALLBACKS_PATH}{token}", json={"statuscode": 4})
        replica.popen.terminate()
        replica.popen.wait(10)
        log = replica.stderr()
    finally:
        await redis.aclose()
        replica.stop()
        redis_server.stop()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    lines = [line for line in log.splitlines() if "callback token=" in line]
    assert len(lines) == 1 and "the token store failed (shared_state_unavailable) (503)" in lines[0], log[-2000:]
    assert token not in log
