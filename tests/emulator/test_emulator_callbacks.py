"""Completion callbacks: documented headers and body, retries on 408/5xx only, never breaking the emulator."""

from __future__ import annotations

import json

import httpx
import pytest
from emulator_helpers import CONNECTION, INVOICE_FLOW, SALES_REPORT_FLOW, START, api_client

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

HOOK = "https://hooks.example.com/desktop-flows/done"


class Receiver:
    """A fake callback endpoint that answers with a scripted list of statuses (the last one repeats)."""

    def __init__(self, *statuses: int, error: Exception | None = None) -> None:
        self.statuses = list(statuses) or [200]
        self.error = error
        self.requests: list[httpx.Request] = []
        self.slept: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return httpx.Response(self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def emulator(self) -> Emulator:
        return Emulator(clock=lambda: START, sleep=self.sleep, callback_transport=httpx.MockTransport(self.handle))


async def start(emulator: Emulator, flow_id: str = INVOICE_FLOW, callback: str | None = HOOK) -> str:
    body = {"runMode": "attended", "connectionName": CONNECTION, "callbackUrl": callback}
    async with api_client(emulator) as client:
        response = await client.post(f"workflows({flow_id})/Microsoft.Dynamics.CRM.RunDesktopFlow", json=body)
    return response.json()["flowsessionId"]


async def test_a_finished_run_posts_the_documented_callback() -> None:
    receiver = Receiver(200)
    emulator = receiver.emulator()
    run_id = await start(emulator)

    await emulator.advance(2)
    before_the_end = len(receiver.requests)
    await emulator.advance(10)
    await emulator.advance(10)

    assert before_the_end == 0
    [request] = receiver.requests
    assert request.method == "POST" and str(request.url) == HOOK
    assert request.headers["User-Agent"] == "EnterpriseConnectors/1.0"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["x-ms-workflow-id"] == INVOICE_FLOW
    assert request.headers["x-ms-run-id"] == run_id
    assert json.loads(request.content) == {
        "statuscode": 4,
        "statecode": 0,
        "startedon": "2026-05-28T20:26:41Z",
        "completedon": "2026-05-28T20:26:44Z",
        "flowsessionid": run_id,
    }
    assert emulator.callbacks.deliveries[0].delivered


@pytest.mark.parametrize(
    ("statuses", "attempts"),
    [
        ((503, 503, 200), [503, 503, 200]),
        ((408, 200), [408, 200]),
        ((500,), [500, 500, 500, 500]),
        ((404,), [404]),
        ((429,), [429]),
    ],
)
async def test_callbacks_retry_three_times_one_second_apart_on_408_and_5xx_only(
    statuses: tuple[int, ...], attempts: list[int]
) -> None:
    receiver = Receiver(*statuses)
    emulator = receiver.emulator()
    await start(emulator)

    await emulator.advance(60)

    assert [delivery.attempts for delivery in emulator.callbacks.deliveries] == [attempts]
    assert receiver.slept == [1.0] * (len(attempts) - 1)


async def test_an_unreachable_receiver_is_retried_and_never_breaks_the_emulator() -> None:
    receiver = Receiver(error=httpx.ConnectError("connection refused"))
    emulator = receiver.emulator()
    run_id = await start(emulator)

    await emulator.advance(60)

    [delivery] = emulator.callbacks.deliveries
    assert len(delivery.attempts) == 4 and not delivery.delivered
    assert "ConnectError" in str(delivery.attempts[0])
    async with api_client(emulator) as client:
        assert (await client.get(f"flowsessions({run_id})")).json()["statuscode"] == 4


async def test_cancelling_a_run_sends_its_callback_with_the_cancelled_status() -> None:
    receiver = Receiver(200)
    emulator = receiver.emulator()
    run_id = await start(emulator, SALES_REPORT_FLOW)
    async with api_client(emulator) as client:
        await client.post(f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")

    await emulator.advance(0)

    assert json.loads(receiver.requests[0].content)["statuscode"] == 7


async def test_runs_without_a_callback_url_send_nothing() -> None:
    receiver = Receiver(200)
    emulator = receiver.emulator()
    await start(emulator, callback=None)

    await emulator.advance(60)

    assert receiver.requests == []
