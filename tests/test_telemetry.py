"""Traces and metrics with the OpenTelemetry SDK's in-memory exporters: no collector, the emulator, fake time.

The ``mcp`` SDK's own tool-call spans go to the global tracer provider, so this module installs one (once per test
session, recording only while a test here asks for it); metrics go to a meter provider per test.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, cast

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext
from prometheus_client import CollectorRegistry

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import ConfigError, HttpSettings, Secret, Settings
from desktop_flows_mcp.dataverse.client import DataverseClient, RunDesktopFlowRequest
from desktop_flows_mcp.dataverse.resilience import window_full
from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.logs import JsonFormatter
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from desktop_flows_mcp.telemetry import otel_wanted, request_target
from desktop_flows_mcp.telemetry.otel import OtelTelemetry, start_telemetry
from tests.helpers import FakeClock, ok
from tests.loopback import serving_on_loopback

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
TOKEN = "s3cret-token-for-tests-only"
INVOICE_FLOW = "Enter invoices into legacy ERP"
INVOICE_INPUTS = {"InvoiceNumber": "INV-SECRET-77", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}


class _Switch(SpanProcessor):
    """Passes ended spans to the exporter only while a test here records (the provider is process-wide)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.on = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)


_EXPORTER = InMemorySpanExporter()
_SWITCH = _Switch(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_SWITCH)
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _SWITCH.on = True
    try:
        yield _EXPORTER
    finally:
        _SWITCH.on = False
        _EXPORTER.clear()


def _context(span: ReadableSpan) -> SpanContext:
    assert span.context is not None
    return span.context


@dataclass
class Stack:
    client: Client
    emulator: Emulator
    clock: FakeClock
    reader: InMemoryMetricReader
    sent: list[httpx.Request]

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return ok(await self.client.call_tool(tool, arguments))

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric name → (attributes, value) per data point; a histogram's value is its count."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:  # pyright: ignore[reportAttributeAccessIssue]
                        value: Any = getattr(point, "value", None)
                        if value is None:
                            value = getattr(point, "count")  # noqa: B009  # a histogram's point
                        found.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
        return found


@asynccontextmanager
async def telemetry_stack(mode: str = "legacy", token_provider: Any = None) -> AsyncGenerator[Stack, None]:
    clock = FakeClock()
    emulator = Emulator(clock=clock, test_api=True)
    reader = InMemoryMetricReader()
    telemetry = OtelTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    sent: list[httpx.Request] = []
    inner = emulator.transport()

    async def counted(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return await inner.handle_async_request(request)

    app = App(
        Settings.from_env({}),
        clock=clock,
        dataverse_transport=httpx.MockTransport(counted),
        token_provider=token_provider,
        telemetry=telemetry,
    )
    server = build_server(app)
    async with Client(server, mode=mode, raise_exceptions=True) as client:
        yield Stack(client, emulator, clock, reader, sent)


async def short_job(stack: Stack) -> str:
    """The bench's short job: find, read the schema, run, wait, read the outputs."""
    listed = await stack.call("list_desktop_flows", {"search": "invoices into"})
    flow = listed["flows"][0]["name"]
    await stack.call("get_desktop_flow_schema", {"flow": flow})
    started = await stack.call("run_desktop_flow", {"flow": flow, "inputs": INVOICE_INPUTS})
    await stack.call("wait_for_desktop_flow_run", {"run_id": started["run_id"]})
    await stack.call("get_desktop_flow_run_outputs", {"run_id": started["run_id"]})
    return str(started["run_id"])


@pytest.mark.parametrize("mode", ERAS)
async def test_a_run_call_is_one_span_tree_with_a_child_per_dataverse_request_and_no_inputs(
    mode: str, spans: InMemorySpanExporter
) -> None:
    async with telemetry_stack(mode) as stack:
        started = await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS})
    finished = list(spans.get_finished_spans())
    call = next(s for s in finished if s.name == "tools/call run_desktop_flow")
    children = [s for s in finished if s.parent is not None and s.parent.span_id == _context(call).span_id]
    names = sorted(s.name for s in children)
    assert names == [
        "Dataverse GET workflows",
        "Dataverse GET workflows({key})/inputs/$value",
        "Dataverse POST workflows({key})/RunDesktopFlow",
    ], names
    start = next(s for s in children if s.name.endswith("RunDesktopFlow"))
    assert dict(start.attributes or {}) == {
        "http.request.method": "POST",
        "url.template": "workflows({key})/RunDesktopFlow",
        "dataverse.action": "RunDesktopFlow",
        "dataverse.entity_set": "workflows",
        "http.response.status_code": 200,
        "dataverse.retry_count": 0,
    }
    assert (call.attributes or {})["desktop_flows.run.id"] == started["run_id"]
    assert (call.attributes or {})["desktop_flows.flow.id"] == started["flow_id"]
    assert all(_context(s).trace_id == _context(call).trace_id for s in children)
    every_value = json.dumps([dict(s.attributes or {}) for s in finished] + [s.name for s in finished])
    assert "INV-SECRET-77" not in every_value and "invoices" not in every_value.lower()


async def test_a_throttled_request_records_its_retry_and_pause_on_its_span(spans: InMemorySpanExporter) -> None:
    async with telemetry_stack() as stack:
        stack.emulator.faults.add(r"/workflows$", method="GET", status=429, code="0x80072322", retry_after=3)
        await stack.call("list_desktop_flows", {})
        points = stack.metrics()
    listed = next(s for s in spans.get_finished_spans() if s.name == "Dataverse GET workflows")
    attributes = dict(listed.attributes or {})
    assert attributes["dataverse.retry_count"] == 1
    assert attributes["dataverse.throttle_pause_seconds"] == 3
    assert attributes["http.response.status_code"] == 200
    assert points["desktop_flows.dataverse.throttle.pauses"][0][1] == 1


@pytest.mark.parametrize("mode", ERAS)
async def test_the_callers_trace_context_in_meta_is_the_parent_of_the_call_over_http(
    mode: Any, spans: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("agent")
    clock = FakeClock()
    app = App(
        Settings.from_env({}),
        clock=clock,
        dataverse_transport=Emulator(clock=clock).transport(),
        telemetry=OtelTelemetry(meter_provider=MeterProvider()),
    )
    async with (
        serving_on_loopback(build_http_app(build_server(app), app, HttpSettings())) as base,
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
    ):
        with tracer.start_as_current_span("agent step") as agent:
            ok(await client.call_tool("list_desktop_flows", {}))
    finished = spans.get_finished_spans()
    call = next(s for s in finished if s.name == "tools/call list_desktop_flows")
    sent = next(s for s in finished if s.name == "MCP send tools/call list_desktop_flows")
    assert _context(call).trace_id == agent.get_span_context().trace_id
    assert call.parent is not None and call.parent.is_remote  # it came over the wire, in _meta
    assert call.parent.span_id == _context(sent).span_id


async def test_metrics_after_the_short_job(spans: InMemorySpanExporter) -> None:
    async with telemetry_stack() as stack:
        await short_job(stack)
        points = stack.metrics()
    operations = {
        a.get("gen_ai.tool.name"): v for a, v in points["mcp.server.operation.duration"] if a.get("gen_ai.tool.name")
    }
    assert operations == {
        "list_desktop_flows": 1,
        "get_desktop_flow_schema": 1,
        "run_desktop_flow": 1,
        "wait_for_desktop_flow_run": 1,
        "get_desktop_flow_run_outputs": 1,
    }
    durations = [a for a, _ in points["mcp.server.operation.duration"]]
    assert all(a["network.transport"] == "pipe" and "mcp.protocol.version" in a for a in durations)
    [(started, count)] = points["desktop_flows.runs.started"]
    assert count == 1 and started["desktop_flows.outcome"] == "started"
    assert started["desktop_flows.flow.name"] == INVOICE_FLOW and started["desktop_flows.connection"]
    assert sum(v for _, v in points["desktop_flows.dataverse.requests"]) == len(stack.sent)  # each one, once
    assert points["desktop_flows.run.status_reads"][0][1] >= 1
    assert points["desktop_flows.run.queue_wait"][0][1] == 1


async def test_a_failed_run_counts_once_by_its_errorcode_and_refused_calls_by_their_code(
    spans: InMemorySpanExporter,
) -> None:
    async with telemetry_stack() as stack:
        refused = await stack.client.call_tool("run_desktop_flow", {"flow": "No such flow", "inputs": {}})
        assert refused.is_error
        points = stack.metrics()
    errors = {a.get("error.type") for a, _ in points["mcp.server.operation.duration"]}
    assert "not_found" in errors
    assert [a["desktop_flows.outcome"] for a, _ in points["desktop_flows.runs.started"]] == ["not_found"]


def test_request_targets_keep_no_key_or_query_value() -> None:
    assert request_target("workflows(3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14)/inputs/$value") == (
        "workflows({key})/inputs/$value"
    )
    assert request_target("systemusers(domainname='ada@contoso.com')?$select=fullname") == "systemusers({key})"
    assert request_target("workflows?$filter=contains(name,'secret')") == "workflows"


def test_telemetry_is_on_only_when_asked_for() -> None:
    assert not otel_wanted({})
    assert not otel_wanted({"OTEL_TRACES_EXPORTER": "none"})
    assert otel_wanted({}, flag=True)
    assert otel_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert otel_wanted({"OTEL_SERVICE_NAME": "flows"})
    assert not otel_wanted({"OTEL_SERVICE_NAME": "flows", "OTEL_SDK_DISABLED": "true"}, flag=True)


@pytest.mark.slow
def test_without_otel_nothing_of_the_opentelemetry_sdk_is_imported() -> None:
    code = (
        "import sys, anyio\n"
        "from desktop_flows_mcp.config import Settings\n"
        "from desktop_flows_mcp.app import App\n"
        "from desktop_flows_mcp.server import build_server\n"
        "from mcp import Client\n"
        "async def main():\n"
        "    async with Client(build_server(App(Settings.from_env({})))) as client:\n"
        "        await client.call_tool('list_desktop_flows', {'limit': 1})\n"
        "anyio.run(main)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter',"
        " 'prometheus_client', 'desktop_flows_mcp.telemetry.otel'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


async def test_audit_lines_carry_the_caller_tool_run_and_trace_id_and_no_inputs(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="desktop_flows_mcp.audit")
    async with telemetry_stack() as stack:
        started = await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS})
        refused = await stack.client.call_tool("cancel_desktop_flow_run", {"run_id": started["run_id"]})
        await stack.clock.sleep(600)
        again = await stack.client.call_tool("cancel_desktop_flow_run", {"run_id": started["run_id"]})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "desktop_flows_mcp.audit"]
    call = next(s for s in spans.get_finished_spans() if s.name == "tools/call run_desktop_flow")
    first = lines[0]
    assert first["caller"] == "local" and first["tool"] == "run_desktop_flow"
    assert first["run_id"] == started["run_id"] and first["flow"] == started["flow_id"]
    assert first["outcome"] == "started" and first["trace_id"] == format(_context(call).trace_id, "032x")
    assert not refused.is_error and again.is_error
    assert [line["outcome"] for line in lines] == ["started", "cancelled", "conflict"]
    assert lines[-1]["tool"] == "cancel_desktop_flow_run" and lines[-1]["run_id"] == started["run_id"]
    assert "INV-SECRET-77" not in caplog.text
    logging.getLogger("desktop_flows_mcp.audit").handlers.clear()


class Refusing:
    """A sign-in that Entra refuses until ``works`` is set, then hands out the emulator's token."""

    mode = "client_secret"

    def __init__(self) -> None:
        self.works = False

    async def token(self, *, force_refresh: bool = False) -> str:
        if not self.works:
            raise DesktopFlowsError(ErrorCode.UNAUTHENTICATED, "Invalid client secret.", dataverse_code="AADSTS7000215")
        return EMULATOR_TOKEN


async def test_sign_in_is_a_span_when_a_token_is_fetched_or_refused_not_for_each_cached_use(
    spans: InMemorySpanExporter,
) -> None:
    provider = Refusing()
    async with telemetry_stack(token_provider=provider) as stack:
        refused = await stack.client.call_tool("list_desktop_flows", {})
        provider.works = True
        await stack.call("list_desktop_flows", {})
        await stack.call("list_desktop_flows", {"limit": 1})
        points = stack.metrics()
    assert refused.is_error
    sign_ins = [s for s in spans.get_finished_spans() if s.name == "sign-in"]
    assert [dict(s.attributes or {}).get("error.type") for s in sign_ins] == ["AADSTS7000215", None]
    assert all(s.parent is not None for s in sign_ins)  # below the Dataverse request that needed the token
    assert points["desktop_flows.sign_in.failures"] == [
        ({"aadsts": "AADSTS7000215", "desktop_flows.sign_in.mode": "client_secret"}, 1)
    ]


async def test_a_traceparent_http_header_counts_when_meta_has_none() -> None:
    seen: list[Any] = []

    async def call_next(ctx: Any) -> Any:
        seen.append(ctx.meta)
        return {}

    class Request:
        headers: ClassVar[dict[str, str]] = {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "k=v",
        }

    telemetry = OtelTelemetry(meter_provider=MeterProvider())
    [middleware] = telemetry.server_middleware()
    base = ServerRequestContext(
        session=cast(Any, None),
        lifespan_context=None,
        protocol_version="2026-07-28",
        method="tools/list",
        request=Request(),
    )
    await middleware(base, call_next)
    await middleware(
        replace(base, meta=cast(Any, {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})), call_next
    )
    assert seen[0] == {"traceparent": Request.headers["traceparent"], "tracestate": "k=v"}
    assert seen[1] == {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}  # _meta wins


async def test_metrics_scrape_as_prometheus_text_with_the_token() -> None:
    registry = CollectorRegistry()
    telemetry = OtelTelemetry(
        meter_provider=MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)]),
        prometheus=registry,
        transport="tcp",
    )
    clock = FakeClock()
    app = App(
        Settings.from_env({}),
        clock=clock,
        dataverse_transport=Emulator(clock=clock).transport(),
        telemetry=telemetry,
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        serving_on_loopback(build_http_app(build_server(app), app, HttpSettings(token=Secret(TOKEN)))) as base,
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        ok(await client.call_tool("list_desktop_flows", {}))
        scraped = await http.get(f"{base}/metrics")
    text = scraped.text
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert "mcp_server_operation_duration_seconds_count{" in text and 'gen_ai_tool_name="list_desktop_flows"' in text
    assert 'network_transport="tcp"' in text and "desktop_flows_dataverse_requests_total" in text


def test_exporters_are_chosen_by_the_standard_variables_and_a_wrong_one_stops_start_up() -> None:
    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_PROTOCOL: is 'grpc'"):
        start_telemetry({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ConfigError, match=r"^OTEL_TRACES_EXPORTER: names zipkin"):
        start_telemetry({"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.mark.slow
def test_the_cli_with_otel_says_so_on_stderr_and_serves() -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}
    env.pop("DATAVERSE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "desktop_flows_mcp", "--otel"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "OpenTelemetry on: traces console, metrics none" in result.stderr
    assert result.stdout == ""  # the console exporter writes to stderr: stdout is the protocol's


async def test_a_start_the_run_window_refuses_is_counted_and_nothing_is_sent() -> None:
    class Full:
        async def acquire(self, connection: str) -> None:
            raise window_full(connection, 70, 60.0, 12.0)

    reader = InMemoryMetricReader()
    telemetry = OtelTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DataverseClient(http, "https://contoso.crm.dynamics.com", run_limiter=Full(), telemetry=telemetry)
        request = RunDesktopFlowRequest("conn-1", "connection", "attended", {})
        with pytest.raises(DesktopFlowsError, match="No run was started"):
            await client.run_desktop_flow("3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14", request)
    assert not sent
    assert '"desktop_flows.run_limit.refusals"' in (reader.get_metrics_data() or MetricsData([])).to_json()
