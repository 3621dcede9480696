"""POST /callbacks/<token>: forged, flooded, oversized and lying callbacks change nothing; a real one wakes waits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from desktop_flows_mcp.callback_endpoint import (
    MAX_BODY,
    OVERALL_LIMIT,
    TOKEN_LIMIT,
    UNKNOWN_LIMIT,
    UNKNOWN_SUMMARY_SECONDS,
    UNKNOWN_WINDOW,
    CallbackReceiver,
)
from desktop_flows_mcp.errors import shared_state_unavailable
from desktop_flows_mcp.models import FlowRun
from desktop_flows_mcp.run_callbacks import InProcessCallbackTokens, InProcessWakeups
from tests.callback_stack import PUBLIC_URL, Stack, callback_stack
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio
RUN = "4b35b6d0-95b6-461b-9e41-84340c229d4d"
FORGED = "x" * 43
DATAVERSE = ("20.50.2.1", 443)  # where Dataverse's callbacks come from, in these tests
LIE = {"statuscode": 4, "statecode": 0, "flowsessionid": RUN, "completedon": "2026-11-30T02:00:00Z"}


async def wait_with(stack: Stack, run_id: str, seconds: int) -> dict[str, Any]:
    return await stack.tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": seconds})


def forge(stack: Stack, url: str, answers: list[int], **kwargs: Any) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        answers.append((await stack.post(url, **kwargs)).status_code)

    return send


async def test_a_forged_token_gets_404_reads_nothing_and_the_real_callback_still_ends_the_wait() -> None:
    answers: list[int] = []
    async with callback_stack() as stack:
        run_id = await stack.start_report()
        stack.clock.at(stack.clock.seconds + 5, forge(stack, f"{PUBLIC_URL}/callbacks/{FORGED}", answers, json=LIE))
        stack.clock.at(stack.clock.seconds + 6, forge(stack, f"{PUBLIC_URL}/callbacks/short", answers, json=LIE))
        run = await wait_with(stack, run_id, 60)
    assert answers == [404, 404]
    assert run["status"] == "TimedOut"
    assert stack.wire.status_reads(run_id) == 1


async def test_a_body_that_lies_about_the_status_wakes_nothing_the_run_is_read_and_found_running() -> None:
    answers: list[int] = []
    async with callback_stack() as stack:
        run_id = await stack.start_report(timeout_seconds=900)
        lie = {**LIE, "flowsessionid": "00000000-0000-0000-0000-000000000000"}
        stack.clock.at(stack.clock.seconds + 5, forge(stack, stack.callback_url(run_id), answers, json=lie))
        run = await wait_with(stack, run_id, 30)
        still_expected = await stack.services.runs.expects_callback(run_id)
    assert answers == [202]
    assert run["status"] == "Running" and run["is_terminal"] is False
    assert stack.wire.status_reads(run_id) == 2  # the endpoint's re-read, and the deadline read
    assert still_expected  # the token stays: the real callback will come


async def test_a_spent_token_gets_404_and_a_repeat_changes_nothing() -> None:
    async with callback_stack() as stack:
        run_id = await stack.start_report()
        url = stack.callback_url(run_id)
        await wait_with(stack, run_id, 60)
        again = await stack.post(url, json=LIE)
        reads = stack.wire.status_reads(run_id)
    assert again.status_code == 404
    assert reads == 1
    assert stack.emulator.callbacks.deliveries[0].attempts == [202]


async def test_huge_bodies_get_413_before_anything_is_read() -> None:
    async with callback_stack() as stack:
        run_id = await stack.start_report(timeout_seconds=900)
        url = stack.callback_url(run_id)
        declared = await stack.post(url, content=b"{" + b" " * MAX_BODY + b"}")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 1024

        streamed = await stack.post(url, content=chunks())  # no Content-Length: counted as it arrives
        await anyio.wait_all_tasks_blocked()
    assert declared.status_code == streamed.status_code == 413
    assert stack.wire.status_reads(run_id) == 0


async def test_one_token_flooding_gets_429_and_costs_at_most_one_read_at_a_time() -> None:
    async with callback_stack() as stack:
        run_id = await stack.start_report(timeout_seconds=900)
        url = stack.callback_url(run_id)
        answers = [(await stack.post(url, content=b"not json")).status_code for _ in range(TOKEN_LIMIT + 3)]
        await anyio.wait_all_tasks_blocked()
        reads = stack.wire.status_reads(run_id)
        stack.clock.seconds += 61
        later = await stack.post(url, json=LIE)
    assert answers == [202] * TOKEN_LIMIT + [429] * 3
    assert 1 <= reads <= TOKEN_LIMIT
    assert later.status_code == 202


async def test_only_post_is_served_and_no_bearer_token_is_asked_of_dataverse() -> None:
    from desktop_flows_mcp.app import App
    from desktop_flows_mcp.config import Secret
    from desktop_flows_mcp.server import build_server
    from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
    from tests.helpers import make_settings

    built = App(make_settings())
    app = build_http_app(build_server(built), built, HttpSettings(token=Secret("s3cret-token-for-tests-only")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        got = await http.get(f"/callbacks/{FORGED}")
        posted = await http.post(f"/callbacks/{FORGED}", json=LIE)  # no services running, no callbacks: 404
        mcp = await http.post("/mcp", json={})
    assert got.status_code == 405
    assert posted.status_code == 404
    assert mcp.status_code == 401


# ---- the receiver alone: limits, logs, failures -----------------------------------------------------------------


class Receiver:
    def __init__(self, read: Callable[[str], Awaitable[FlowRun]], body_seconds: float = 1.0) -> None:
        self.clock = FakeClock()
        self.tokens = InProcessCallbackTokens(self.clock)
        self.wakeups = InProcessWakeups()
        self.spawned: list[Callable[[], Awaitable[None]]] = []
        self.receiver = CallbackReceiver(
            self.tokens, self.wakeups, read, self.spawned.append, clock=self.clock, body_seconds=body_seconds
        )

    async def token_for(self, run_id: str) -> str:
        token = await self.tokens.issue(expires_in=60)
        await self.tokens.bind(token, run_id, expires_in=60)
        return token

    async def post(self, path: str, client: tuple[str, int] = DATAVERSE, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.receiver.asgi, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="https://flows-mcp.contoso.com") as http:
            return await http.post(path, **kwargs)

    async def run_spawned(self) -> None:
        while self.spawned:
            await self.spawned.pop(0)()


def run_with(status: int) -> Callable[[str], Awaitable[FlowRun]]:
    async def read(run_id: str) -> FlowRun:
        return FlowRun(run_id=run_id, status={4: "Succeeded", 2: "Running"}[status], status_code=status,
                       is_terminal=status == 4)  # fmt: skip

    return read


async def test_live_callbacks_beyond_the_overall_limit_get_503_with_retry_after_and_one_summary_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "desktop_flows_mcp")
    r = Receiver(run_with(4))
    tokens = [await r.token_for(f"{RUN[:-3]}{i:03d}") for i in range(OVERALL_LIMIT + 11)]
    answers = [(await r.post(f"/callbacks/{token}")) for token in tokens[:-1]]
    r.clock.seconds += 1
    after = await r.post(f"/callbacks/{tokens[-1]}")
    codes = [a.status_code for a in answers]
    assert codes == [202] * OVERALL_LIMIT + [503] * 10
    assert answers[-1].headers["Retry-After"] == "1"
    assert after.status_code == 202
    assert sum("over 50 a second" in m for m in caplog.messages) == 1
    assert len(r.spawned) == OVERALL_LIMIT + 1


async def test_a_real_callback_during_a_junk_flood_at_ten_times_the_limit_is_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "desktop_flows_mcp")
    r = Receiver(run_with(4))
    token, own = await r.token_for(RUN), await r.token_for(RUN[:-1] + "0")
    flooders = [("203.0.113.7", 4444), ("2001:db8:1:2::7", 4444), ("2001:db8:1:2::8", 4444)]  # one v6 /64
    junk: list[int] = []
    real = other = same_source = None
    for i in range(10 * OVERALL_LIMIT):
        path = f"/callbacks/{FORGED[:-4]}{i:04d}" if i % 2 else "/callbacks/not-a-token"
        junk.append((await r.post(path, client=flooders[i % 3])).status_code)
        if i == 5 * OVERALL_LIMIT:
            real = await r.post(f"/callbacks/{token}", json=LIE, client=DATAVERSE)
            other = await r.post(f"/callbacks/{FORGED}", client=("198.51.100.9", 1))  # an innocent mistake
            same_source = await r.post(f"/callbacks/{own}", client=flooders[0])  # behind the flooder's proxy
    assert real is not None and other is not None and same_source is not None
    assert real.status_code == same_source.status_code == 202 and len(r.spawned) == 2
    assert other.status_code == 404
    per_source = UNKNOWN_LIMIT * 2  # the IPv4 address, and the IPv6 /64 counted as one source
    assert junk.count(404) == per_source and junk.count(429) == 10 * OVERALL_LIMIT - per_source
    assert len(caplog.messages) <= 3, caplog.messages  # a summary, not a line each
    r.clock.seconds += UNKNOWN_SUMMARY_SECONDS
    assert (await r.post(f"/callbacks/{FORGED}", client=DATAVERSE)).status_code == 404
    summary = caplog.messages[-1]
    assert "unknown token" in summary and "203.0.113.7" in summary and "2001:db8:1:2::/64" in summary
    assert FORGED not in caplog.text


async def test_unknown_tokens_are_limited_per_source_and_the_limit_passes() -> None:
    r = Receiver(run_with(4))
    flooder = ("203.0.113.7", 4444)
    answers = [(await r.post(f"/callbacks/{FORGED}", client=flooder)).status_code for _ in range(UNKNOWN_LIMIT + 2)]
    limited = await r.post(f"/callbacks/{FORGED}", client=flooder)
    r.clock.seconds += UNKNOWN_WINDOW
    later = await r.post(f"/callbacks/{FORGED}", client=flooder)
    assert answers == [404] * UNKNOWN_LIMIT + [429] * 2
    assert limited.headers["Retry-After"] == str(int(UNKNOWN_WINDOW))
    assert later.status_code == 404


async def test_a_real_callback_wakes_waits_once_the_run_is_read_terminal_and_logs_one_line_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "desktop_flows_mcp")
    r = Receiver(run_with(4))
    token = await r.token_for(RUN)
    async with r.wakeups.subscribe(RUN) as woken:
        answer = await r.post(f"/callbacks/{token}", json=LIE)
        coalesced = await r.post(f"/callbacks/{token}", json={"secret": "body-text"})
        assert not woken.is_set()  # nothing before the re-read
        await r.run_spawned()
        assert woken.is_set()
    assert answer.status_code == coalesced.status_code == 202
    assert await r.tokens.run_for(token) is None  # spent
    assert len(caplog.messages) == 2
    assert "being re-read already" in caplog.messages[0]
    assert f"token={token[:4]}… run_id={RUN}: run Succeeded, waits woken" in caplog.messages[1]
    assert token not in caplog.text and "body-text" not in caplog.text


async def test_a_read_that_fails_wakes_nothing_keeps_the_token_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(run_id: str) -> FlowRun:
        raise ConnectionError("Dataverse unreachable")

    r = Receiver(failing)
    token = await r.token_for(RUN)
    async with r.wakeups.subscribe(RUN) as woken:
        assert (await r.post(f"/callbacks/{token}", content=b"[" * 5000 + b"]" * 5000)).status_code == 202
        await r.run_spawned()
        assert not woken.is_set()
    assert await r.tokens.run_for(token) == RUN
    assert "re-reading the run failed (Dataverse unreachable)" in caplog.text


async def test_a_body_that_does_not_arrive_within_the_budget_gets_408() -> None:
    r = Receiver(run_with(4), body_seconds=0.05)
    token = await r.token_for(RUN)
    stalled = anyio.Event()

    async def never_finishes() -> AsyncIterator[bytes]:
        yield b'{"statuscode":'
        await stalled.wait()

    answer = await r.post(f"/callbacks/{token}", content=never_finishes())
    assert answer.status_code == 408
    assert not r.spawned


async def test_the_bare_endpoint_refuses_other_methods() -> None:
    r = Receiver(run_with(4))
    transport = httpx.ASGITransport(app=r.receiver.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="https://flows-mcp.contoso.com") as http:
        answer = await http.put(f"/callbacks/{FORGED}", content=json.dumps(LIE))
    assert answer.status_code == 405


class DownTokens(InProcessCallbackTokens):
    """A token store that cannot be reached (Redis down): ``run_for`` fails as ``redis_callbacks`` fails."""

    async def run_for(self, token: str) -> str | None:
        raise shared_state_unavailable("ConnectionError: Error 111 connecting to 127.0.0.1:6379")


async def test_a_token_store_that_fails_gets_503_with_retry_after_and_one_line_never_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "desktop_flows_mcp")
    r = Receiver(run_with(4))
    r.tokens = DownTokens(r.clock)
    r.receiver = CallbackReceiver(r.tokens, r.wakeups, run_with(4), r.spawned.append, clock=r.clock)
    answer = await r.post(f"/callbacks/{FORGED}", json=LIE)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json() == {"status": "unavailable"}
    assert not r.spawned
    assert caplog.messages == [
        f"callback token={FORGED[:4]}… not resolved: the token store failed (shared_state_unavailable) (503)"
    ]


class StalledTokens(InProcessCallbackTokens):
    """A token store that takes the connection and never answers (Redis paused)."""

    async def run_for(self, token: str) -> str | None:
        await anyio.Event().wait()
        return None


async def test_a_token_store_that_does_not_answer_gets_503_not_408(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "desktop_flows_mcp")
    r = Receiver(run_with(4))
    stalled = StalledTokens(r.clock)
    r.receiver = CallbackReceiver(
        stalled, r.wakeups, run_with(4), r.spawned.append, clock=r.clock, body_seconds=5, store_seconds=0.05
    )
    answer = await r.post(f"/callbacks/{FORGED}", json=LIE)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert not r.spawned
    assert caplog.messages == [
        f"callback token={FORGED[:4]}… not resolved: the token store did not answer within 0.05 s (503)"
    ]
