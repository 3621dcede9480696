"""What an operator relies on over HTTP: health probes, readiness that flips, and a SIGTERM drain that cuts no start.

Real loopback HTTP, the emulator behind the server, no sleeps: a run start is held at the wire by an event, and the
drain's grace period is zero or never reached.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import HttpSettings, Settings
from desktop_flows_mcp.draining import Drain
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app, serve_http
from desktop_flows_mcp.telemetry.otel import OtelTelemetry
from tests.helpers import FakeClock, error_of, ok
from tests.loopback import serving_on_loopback
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio
INVOICE_FLOW = "Enter invoices into legacy ERP"
INVOICE_INPUTS = {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}
TOKEN = "s3cret-token-for-tests-only"


class HeldStarts(httpx.AsyncBaseTransport):
    """The emulator, except that each RunDesktopFlow waits at the wire until ``release`` is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent = anyio.Event()
        self.release = anyio.Event()
        self.starts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("RunDesktopFlow"):
            self.starts += 1
            self.sent.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)


def app_on(transport: httpx.AsyncBaseTransport, env: dict[str, str] | None = None, **extra: Any) -> App:
    clock = FakeClock()
    return App(
        Settings.from_env(env or {}),
        clock=clock,
        dataverse_transport=transport,
        **extra,
    )


def http_app(app: App, http: HttpSettings, drain: Drain | None = None) -> Any:
    return build_http_app(build_server(app), app, http, drain)


async def test_live_and_ready_answer_without_a_token_and_metrics_needs_one() -> None:
    http = HttpSettings(token=_secret())
    app = app_on(Emulator(clock=FakeClock()).transport())
    async with serving_on_loopback(http_app(app, http)) as base, httpx.AsyncClient(base_url=base) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        metrics = await client.get("/metrics")
        with_token = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert live.json() == {"status": "live"} and ready.json() == {"status": "ready"}
    assert metrics.status_code == 401
    assert with_token.status_code == 404 and "OTEL_METRICS_EXPORTER=prometheus" in with_token.json()["message"]


async def test_ready_fails_while_redis_is_down_and_recovers_when_it_is_back() -> None:
    redis = RedisServer().start()
    try:
        reader = InMemoryMetricReader()
        telemetry = OtelTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
        app = app_on(
            Emulator(clock=FakeClock()).transport(), {"DESKTOP_FLOWS_REDIS_URL": redis.url}, telemetry=telemetry
        )
        async with (
            serving_on_loopback(http_app(app, HttpSettings())) as base,
            httpx.AsyncClient(base_url=base) as client,
        ):
            before = await client.get("/health/ready")
            redis.stop()
            down = await client.get("/health/ready")
            redis.start()
            back = await client.get("/health/ready")
    finally:
        redis.stop()
    assert before.status_code == 200 and back.status_code == 200
    assert down.status_code == 503
    assert set(down.json()["checks"]) == {"redis"} and "unreachable" in down.json()["checks"]["redis"]
    assert redis.url.split("@")[-1] not in down.text  # the address (and any password) stays out of it
    assert "desktop_flows.redis.errors" in reader.get_metrics_data().to_json()  # pyright: ignore[reportOptionalMemberAccess]


class FailingSignIn:
    mode = "client_secret"

    def __init__(self) -> None:
        self.broken = True

    async def token(self, *, force_refresh: bool = False) -> str:
        if self.broken:
            raise DesktopFlowsError(ErrorCode.UNAUTHENTICATED, "Invalid client secret.", dataverse_code="AADSTS7000215")
        from desktop_flows_mcp.emulator import EMULATOR_TOKEN

        return EMULATOR_TOKEN


async def test_ready_fails_after_a_failed_sign_in_and_recovers_after_one_that_works() -> None:
    provider = FailingSignIn()
    app = app_on(Emulator(clock=FakeClock()).transport(), token_provider=provider)
    async with (
        serving_on_loopback(http_app(app, HttpSettings())) as base,
        httpx.AsyncClient(base_url=base) as probe,
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        assert (await probe.get("/health/ready")).status_code == 200  # nobody has signed in yet
        assert error_of(await client.call_tool("list_desktop_flows", {}))["code"] == "unauthenticated"
        broken = await probe.get("/health/ready")
        provider.broken = False
        ok(await client.call_tool("list_desktop_flows", {}))
        fixed = await probe.get("/health/ready")
    assert broken.status_code == 503
    assert broken.json()["checks"] == {"sign_in": "the last sign-in failed (AADSTS7000215)"}
    assert fixed.status_code == 200


async def test_a_drain_is_not_ready_at_once_refuses_new_calls_answers_callbacks_and_cuts_no_run_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="desktop_flows_mcp.audit")
    wire = HeldStarts(Emulator(clock=FakeClock()).transport())
    app = app_on(wire)
    drain = Drain(grace_seconds=0)  # the grace period is already over when the drain looks
    results: list[dict[str, Any]] = []
    async with (
        serving_on_loopback(http_app(app, HttpSettings(), drain)) as base,
        httpx.AsyncClient(base_url=base) as probe,
        httpx2.AsyncClient(timeout=60) as http,  # the run start is held unanswered meanwhile
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        anyio.create_task_group() as group,
    ):

        async def start() -> None:
            results.append(
                ok(await client.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
            )

        await client.list_tools()  # the client checks results against the schemas; it reads them before the drain
        group.start_soon(start)
        await wire.sent.wait()  # the start is on the wire, unanswered
        drain.begin()
        ready = await probe.get("/health/ready")
        live = await probe.get("/health/live")
        refused = await probe.post("/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"})
        callback = await probe.post("/callbacks/unknown-token", content=b"{}")
        assert app.readiness is not None
        starts = app.readiness.starts
        finished = anyio.Event()

        async def finish() -> None:
            await drain.finish(lambda: starts)
            finished.set()

        group.start_soon(finish)
        await anyio.wait_all_tasks_blocked()
        assert not finished.is_set() and starts.count == 1  # grace is over, but the start has no answer yet
        wire.release.set()
        await finished.wait()
        with pytest.raises(DesktopFlowsError, match="shutting down"):
            starts.__enter__()  # after the drain, no run start is sent
        assert ready.status_code == 503 and ready.json()["checks"] == {
            "draining": "shutting down: finishing the calls in flight"
        }
        assert live.status_code == 200
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert callback.status_code == 404  # answered by the callback endpoint, not refused by the drain
        while not results:  # the answer is on its way to the client (the server still serves; uvicorn stops it)
            await anyio.wait_all_tasks_blocked()
        assert results[0]["run_id"] and wire.starts == 1
        audit = [r.getMessage() for r in caplog.records if r.name == "desktop_flows_mcp.audit"]
        assert any(line.startswith("run started") and results[0]["run_id"] in line for line in audit)


async def test_a_drain_waits_for_calls_in_flight_within_its_grace_period() -> None:
    wire = HeldStarts(Emulator(clock=FakeClock()).transport())
    app = app_on(wire)
    drain = Drain(grace_seconds=3600)  # never reached: the call ends first
    async with (
        serving_on_loopback(http_app(app, HttpSettings(), drain)) as base,
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        anyio.create_task_group() as group,
    ):
        answered: list[dict[str, Any]] = []

        async def start() -> None:
            answered.append(
                ok(await client.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
            )

        await client.list_tools()
        group.start_soon(start)
        await wire.sent.wait()
        drain.begin()
        assert drain.in_flight == 1
        wire.release.set()
        await drain.finish(lambda: None)
        assert drain.in_flight == 0  # the answer has left the server
        while not answered:
            await anyio.wait_all_tasks_blocked()
        assert answered[0]["run_id"]


async def test_sigterm_drains_then_stops_and_a_second_signal_stops_at_once() -> None:
    async def one_sigterm() -> AsyncIterator[int]:
        yield signal.SIGTERM

    drain = Drain(grace_seconds=0)
    app = app_on(Emulator(clock=FakeClock()).transport())
    with anyio.fail_after(10):
        await serve_http(build_server(app), app, HttpSettings(port=0), drain=drain, signal_source=one_sigterm)
    assert drain.draining

    held = anyio.Event()

    async def two_signals() -> AsyncIterator[int]:
        yield signal.SIGTERM
        yield signal.SIGINT
        held.set()

    never = Drain(grace_seconds=0)
    never.finish = _never  # type: ignore[method-assign]  # a drain that would wait forever
    with anyio.fail_after(10):
        second = app_on(Emulator(clock=FakeClock()).transport())
        await serve_http(
            build_server(second),
            second,
            HttpSettings(port=0),
            drain=never,
            signal_source=two_signals,
        )
    assert never.draining


async def _never(*_: Any) -> None:
    await anyio.sleep_forever()


def _secret() -> Any:
    from desktop_flows_mcp.config import Secret

    return Secret(TOKEN)
