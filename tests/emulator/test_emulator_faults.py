"""Fault injection and the /_emulator/ test hooks (only with test_api=True)."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import BASE, CONNECTION, INVOICE_FLOW, START, api_client, error_of

from desktop_flows_mcp.emulator import Emulator, FaultsDisabledError

pytestmark = pytest.mark.anyio


async def test_an_armed_fault_answers_the_next_matching_request_then_disarms(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults.add(
        r"/workflows$", method="GET", status=429, code="0x80072322", retry_after=7,
        message="Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    )  # fmt: skip

    unmatched = await client.get("WhoAmI")
    faulted = await client.get("workflows")
    next_one = await client.get("workflows")

    assert unmatched.status_code == 200
    assert error_of(faulted) == (
        429,
        "0x80072322",
        "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    )
    assert faulted.headers["Retry-After"] == "7"
    assert next_one.status_code == 200


async def test_a_fault_can_answer_several_times(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults.add("flowsessions", times=2, status=503)

    statuses = [(await client.get("flowsessions", params={"$top": "1"})).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


async def test_a_fault_can_send_truncated_json_or_an_html_gateway_page(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults.add("WhoAmI", status=500, body="malformed_json")
    emulator.faults.add("WhoAmI", status=502, body="html")

    truncated = await client.get("WhoAmI")
    html = await client.get("WhoAmI")

    assert truncated.status_code == 500 and truncated.text.startswith('{"error"')
    with pytest.raises(ValueError):
        truncated.json()
    assert html.status_code == 502 and html.headers["Content-Type"].startswith("text/html")
    assert "<html>" in html.text


async def test_a_dropped_connection_surfaces_as_an_httpx_transport_error(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults.add("RunDesktopFlow", body="drop")

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(
            f"workflows({INVOICE_FLOW})/Microsoft.Dynamics.CRM.RunDesktopFlow",
            json={"runMode": "attended", "connectionName": CONNECTION},
        )
    assert (await client.get("flowsessions", params={"$filter": "triggertype eq 3 and statuscode eq 3"})).json()[
        "value"
    ] == []


async def test_a_delay_fault_waits_on_the_injected_sleep_then_answers_normally() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    emulator = Emulator(clock=lambda: START, test_api=True, sleep=sleep)
    emulator.faults.add("WhoAmI", status=None, delay=12.5)
    async with api_client(emulator) as client:
        response = await client.get("WhoAmI")

    assert response.status_code == 200 and slept == [12.5]


async def test_faults_cannot_be_armed_without_the_test_api() -> None:
    emulator = Emulator(clock=lambda: START)

    with pytest.raises(FaultsDisabledError):
        emulator.faults.add("workflows")


async def test_the_http_test_hooks_arm_faults_move_the_clock_count_requests_and_reset(
    emulator: Emulator,
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url=BASE) as hooks:
        armed = await hooks.post("/_emulator/faults", json={"path": "WhoAmI", "status": 503, "retry_after": 2})
        async with api_client(emulator) as client:
            faulted = await client.get("WhoAmI")
            await client.get("WhoAmI")
        count = await hooks.get("/_emulator/requests")
        advanced = await hooks.post("/_emulator/advance", json={"seconds": 90})
        callbacks = await hooks.get("/_emulator/callbacks")
        bad_fault = await hooks.post("/_emulator/faults", json={"pth": "x"})
        reset = await hooks.post("/_emulator/reset")

    assert armed.status_code == 201 and armed.headers["OData-Version"] == "4.0"
    assert faulted.status_code == 503 and faulted.headers["Retry-After"] == "2"
    assert count.json() == {"count": 2}
    assert advanced.json() == {"now": "2026-05-28T20:28:10Z", "offset": 90.0}
    assert callbacks.json() == {"value": []}
    assert bad_fault.status_code == 400
    assert reset.status_code == 204
    assert emulator.offset == 0 and emulator.request_count == 0


async def test_the_http_test_hooks_do_not_exist_without_the_test_api() -> None:
    emulator = Emulator(clock=lambda: START)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url=BASE) as hooks:
        response = await hooks.post("/_emulator/advance", json={"seconds": 1})

    assert response.status_code == 404


async def test_the_clock_offset_applies_on_top_of_the_real_clock() -> None:
    emulator = Emulator()
    before = emulator.now()

    await emulator.advance(3600)

    assert emulator.now() - before >= 3600
