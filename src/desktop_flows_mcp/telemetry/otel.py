"""OpenTelemetry traces and metrics (the ``[otel]`` extra), imported only when telemetry is on.

Why these packages: ``opentelemetry-sdk`` is the reference implementation the ``mcp`` SDK's spans already expect;
OTLP goes out over HTTP/protobuf (``opentelemetry-exporter-otlp-proto-http``: the protocol's default, pure Python,
uses ``requests``, which we have) rather than gRPC, whose ``grpcio`` wheel is larger than this whole server; the
Prometheus reader (``opentelemetry-exporter-prometheus``) fills a registry of our own that ``/metrics`` serves, so
no second port opens. ``opentelemetry-instrumentation-httpx`` is left out on purpose: its spans carry full URLs,
and ours must never carry a query value (``$filter`` holds flow names and search text).

Configuration is OpenTelemetry's own: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the per-signal ones, headers, timeouts: read by the exporters themselves),
``OTEL_TRACES_EXPORTER`` (otlp | console | none) and ``OTEL_METRICS_EXPORTER`` (otlp | prometheus | console | none,
comma-separated). ``console`` writes to stderr: stdout belongs to the stdio protocol.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context, metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode

from .. import __version__
from ..config import ConfigError
from ..knowledge.run_hints import FAILED_STATUSES
from . import RequestTrace, Telemetry, request_target, tool_attributes

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from prometheus_client import CollectorRegistry
    from pydantic import BaseModel

SCOPE = "desktop-flows-mcp"
# OpenTelemetry's MCP conventions: mcp.server.operation.duration, a histogram in seconds, with these buckets.
OPERATION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_SEEN_RUNS = 4096  # runs whose queue wait and error are already counted (a run is read many times)


class OtelTelemetry(Telemetry):
    """Spans through ``tracer_provider`` and instruments on ``meter_provider`` (default: the global ones)."""

    enabled = True

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        prometheus: CollectorRegistry | None = None,
        transport: str = "pipe",
    ) -> None:
        self.transport = transport  # network.transport: "pipe" (stdio) or "tcp" (HTTP)
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.prometheus = prometheus  # served at /metrics on the HTTP server when OTEL_METRICS_EXPORTER has it
        self.operation_duration = meter.create_histogram(
            "mcp.server.operation.duration",
            unit="s",
            description="MCP request duration as observed on the server, from receipt to answer.",
            explicit_bucket_boundaries_advisory=OPERATION_BUCKETS,
        )
        self.runs_started = meter.create_counter(
            "desktop_flows.runs.started", unit="{run}", description="Run start calls by flow, connection, outcome."
        )
        self.run_errors = meter.create_counter(
            "desktop_flows.run.errors", unit="{run}", description="Runs that ended failed, by Dataverse errorcode."
        )
        self.queue_wait = meter.create_histogram(
            "desktop_flows.run.queue_wait",
            unit="s",
            description="From a run's creation until a machine started it.",
            explicit_bucket_boundaries_advisory=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
        )
        self.dataverse_requests = meter.create_counter(
            "desktop_flows.dataverse.requests", unit="{request}", description="Dataverse requests by outcome."
        )
        self.dataverse_duration = meter.create_histogram(
            "desktop_flows.dataverse.request.duration", unit="s", description="Dataverse requests, retries included."
        )
        self.throttle_pauses = meter.create_counter(
            "desktop_flows.dataverse.throttle.pauses", unit="{pause}", description="Dataverse 429 answers."
        )
        self.throttle_seconds = meter.create_counter(
            "desktop_flows.dataverse.throttle.pause_seconds", unit="s", description="Retry-After of those 429s."
        )
        self.limit_refusals = meter.create_counter(
            "desktop_flows.run_limit.refusals", unit="{call}", description="Starts refused by the 70-a-minute window."
        )
        self.callbacks = meter.create_counter(
            "desktop_flows.callbacks.received", unit="{callback}", description="Dataverse callbacks, by answer."
        )
        self.status_reads = meter.create_counter(
            "desktop_flows.run.status_reads", unit="{request}", description="Reads of one run's status (polls)."
        )
        self.redis_errors = meter.create_counter(
            "desktop_flows.redis.errors", unit="{error}", description="Failed Redis commands."
        )
        self.sign_in_failures = meter.create_counter(
            "desktop_flows.sign_in.failures", unit="{failure}", description="Failed token requests by AADSTS code."
        )
        self._seen: OrderedDict[str, None] = OrderedDict()

    # --- hooks -------------------------------------------------------------------------------------------------

    def server_middleware(self) -> list[Any]:
        return [OperationMetrics(self, self.transport)]

    def dataverse_request(self, method: str, path: str) -> RequestTrace:
        return _DataverseSpan(self, method, path)

    def sign_in(self, mode: str) -> RequestTrace:
        return _SignInSpan(self, mode)

    def run_limit_refused(self) -> None:
        self.limit_refusals.add(1)

    def callback_received(self, status: int) -> None:
        self.callbacks.add(1, {"http.response.status_code": status})

    def shared_state_error(self) -> None:
        self.redis_errors.add(1)

    def tool_result(self, tool: str, result: BaseModel | None, error_code: str | None) -> None:
        span = trace.get_current_span()
        if result is not None and span.is_recording():
            span.set_attributes(tool_attributes(result))
        if tool == "run_desktop_flow" or tool.startswith("run_"):
            self._run_start(result, error_code)
        if result is not None:
            self._runs_read(result)

    def _run_start(self, result: BaseModel | None, error_code: str | None) -> None:
        if result is None:
            self.runs_started.add(1, {"desktop_flows.outcome": error_code or "error"})
            return
        facts = cast(dict[str, Any], result.__dict__)
        if "connection_name" not in facts:
            return
        self.runs_started.add(
            1,
            {
                "desktop_flows.flow.id": str(facts.get("flow_id") or ""),
                "desktop_flows.flow.name": str(facts.get("flow_name") or "")[:100],
                "desktop_flows.connection": str(facts.get("connection_name") or "")[:200],
                "desktop_flows.outcome": "reused" if facts.get("reused") else "started",
            },
        )

    def _runs_read(self, result: BaseModel) -> None:
        """Queue wait and run errors, once per run, from any result that shows a run (or a list of them)."""
        runs: Any = getattr(result, "runs", None)
        for run in cast(list[Any], runs) if isinstance(runs, list) else [result]:
            run_id = getattr(run, "run_id", None)
            created, started = getattr(run, "created_on", None), getattr(run, "started_on", None)
            if not isinstance(run_id, str) or created is None or started is None:
                continue
            status = getattr(run, "status", None)
            ended = bool(getattr(run, "is_terminal", False))
            if self._first_time(run_id + ":queued"):
                self.queue_wait.record(max(0.0, (started - created).total_seconds()))
            if ended and status in FAILED_STATUSES and self._first_time(run_id + ":ended"):
                error: Any = getattr(run, "error", None)
                code = getattr(error, "code", None) or "none"
                self.run_errors.add(1, {"errorcode": str(code)[:64], "desktop_flows.run.status": str(status)})

    def _first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _SEEN_RUNS:
            self._seen.popitem(last=False)
        return True


class _DataverseSpan(RequestTrace):
    __slots__ = ("_attributes", "_retries", "_span", "_started", "_status", "_telemetry", "_throttled", "_token")

    def __init__(self, telemetry: OtelTelemetry, method: str, path: str) -> None:
        target = request_target(path)
        attributes: dict[str, Any] = {"http.request.method": method, "url.template": target}
        first = target.split("/", 1)[0].split("(", 1)[0]
        last = target.rsplit("/", 1)[-1]
        if "Microsoft.Dynamics.CRM." in path:
            attributes["dataverse.action"] = last
        attributes["dataverse.entity_set"] = first
        self._telemetry = telemetry
        self._attributes = attributes
        self._span: Span = telemetry.tracer.start_span(f"Dataverse {method} {target}", kind=SpanKind.CLIENT)
        self._span.set_attributes(attributes)
        self._retries = 0
        self._throttled = 0.0
        self._status: int | None = None
        self._started = time.perf_counter()

    def retried(self) -> None:
        self._retries += 1

    def paused(self, seconds: float) -> None:
        self._throttled += seconds
        self._telemetry.throttle_pauses.add(1)
        self._telemetry.throttle_seconds.add(seconds)

    def answered(self, status: int) -> None:
        self._status = status

    def __enter__(self) -> RequestTrace:
        self._token = context.attach(trace.set_span_in_context(self._span))  # sign-in nests below it
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        context.detach(self._token)
        span, telemetry = self._span, self._telemetry
        outcome = str(self._status) if self._status is not None else "no_answer"
        if error is not None:
            code = getattr(getattr(error, "code", None), "value", None)
            outcome = code if isinstance(code, str) else type(error).__name__
            span.set_attribute("error.type", outcome)
            span.set_status(StatusCode.ERROR)
        if self._status is not None:
            span.set_attribute("http.response.status_code", self._status)
        span.set_attribute("dataverse.retry_count", self._retries)
        if self._throttled:
            span.set_attribute("dataverse.throttle_pause_seconds", self._throttled)
        span.end()
        facts = {
            "http.request.method": self._attributes["http.request.method"],
            "url.template": self._attributes["url.template"],
            "desktop_flows.outcome": outcome,
        }
        telemetry.dataverse_requests.add(1, facts)
        telemetry.dataverse_duration.record(time.perf_counter() - self._started, facts)
        if facts["http.request.method"] == "GET" and facts["url.template"] == "flowsessions({key})":
            telemetry.status_reads.add(1)


class _SignInSpan(RequestTrace):
    """A ``sign-in`` span only when the provider went to the identity service (a new token) or failed; a cached
    token, handed out on every Dataverse request, is not worth a span."""

    __slots__ = ("_acquired", "_mode", "_started", "_telemetry")

    def __init__(self, telemetry: OtelTelemetry, mode: str) -> None:
        self._telemetry = telemetry
        self._mode = mode
        self._started = time.time_ns()
        self._acquired = False

    def acquired(self) -> None:
        self._acquired = True

    def __enter__(self) -> RequestTrace:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is None and not self._acquired:
            return
        span = self._telemetry.tracer.start_span("sign-in", kind=SpanKind.CLIENT, start_time=self._started)
        span.set_attribute("desktop_flows.sign_in.mode", self._mode)
        if error is not None:
            code = getattr(error, "dataverse_code", None) or getattr(getattr(error, "code", None), "value", None)
            reason = str(code) if code else type(error).__name__
            span.set_attribute("error.type", reason)
            span.set_status(StatusCode.ERROR)
            self._telemetry.sign_in_failures.add(1, {"aadsts": reason, "desktop_flows.sign_in.mode": self._mode})
        span.end()


class OperationMetrics:
    """Server middleware, first in the chain: ``mcp.server.operation.duration`` for every request, and a
    ``traceparent`` HTTP header honoured as if it came in ``_meta`` (where the SDK looks for it)."""

    def __init__(self, telemetry: OtelTelemetry, transport: str) -> None:
        self._telemetry = telemetry
        self._transport = transport

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        ctx = _with_header_trace_context(ctx)
        started = time.perf_counter()
        attributes: dict[str, Any] = {
            "mcp.method.name": ctx.method,
            "mcp.protocol.version": ctx.protocol_version,
            "network.transport": self._transport,
        }
        name = ctx.params.get("name") if ctx.params else None
        if ctx.method == "tools/call" and isinstance(name, str):
            attributes["gen_ai.tool.name"] = name
            attributes["gen_ai.operation.name"] = "execute_tool"
        try:
            result = await call_next(ctx)
        except Exception as error:
            attributes["error.type"] = type(error).__qualname__
            self._telemetry.operation_duration.record(time.perf_counter() - started, attributes)
            raise
        error_type = _tool_error_type(result)
        if error_type is not None:
            attributes["error.type"] = error_type
        self._telemetry.operation_duration.record(time.perf_counter() - started, attributes)
        return result


def _with_header_trace_context(ctx: ServerRequestContext[Any, Any]) -> ServerRequestContext[Any, Any]:
    meta: Mapping[str, Any] = cast(Mapping[str, Any], ctx.meta or {})
    if "traceparent" in meta:
        return ctx
    headers: Any = getattr(ctx.request, "headers", None)
    if headers is None:
        return ctx
    traceparent: Any = headers.get("traceparent")
    if not isinstance(traceparent, str):
        return ctx
    carried = {**meta, "traceparent": traceparent}
    tracestate: Any = headers.get("tracestate")
    if isinstance(tracestate, str):
        carried["tracestate"] = tracestate
    return replace(ctx, meta=cast(Any, carried))


def _tool_error_type(result: Any) -> str | None:
    """The taxonomy code of a tool's error result (``tool_error`` when it has none), else None."""
    is_error = getattr(result, "is_error", None)
    structured: Any = getattr(result, "structured_content", None)
    if isinstance(result, dict):
        is_error = cast(dict[str, Any], result).get("isError")
        structured = cast(dict[str, Any], result).get("structuredContent")
    if is_error is not True:
        return None
    error: Any = cast(dict[str, Any], structured).get("error") if isinstance(structured, dict) else None
    code: Any = cast(dict[str, Any], error).get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "tool_error"


def start_telemetry(env: Mapping[str, str], *, transport: str = "pipe") -> OtelTelemetry:
    """Global tracer and meter providers with the exporters the environment asks for; the SDK's spans follow."""
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() or "http/protobuf"
    if protocol != "http/protobuf":
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            f"is {protocol!r}, but this server exports OTLP over HTTP only (the Collector's port 4318).",
            "http/protobuf",
        )
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or SCOPE, "service.version": __version__})
    tracer_provider = TracerProvider(resource=resource)
    for name in _exporters(env, "OTEL_TRACES_EXPORTER", ("otlp", "console", "none")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    readers: list[MetricReader] = []
    registry: CollectorRegistry | None = None
    for name in _exporters(env, "OTEL_METRICS_EXPORTER", ("otlp", "prometheus", "console", "none")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        elif name == "console":
            from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
        elif name == "prometheus":
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            readers.append(PrometheusMetricReader(registry=registry))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return OtelTelemetry(tracer_provider, meter_provider, prometheus=registry, transport=transport)


def _exporters(env: Mapping[str, str], variable: str, known: tuple[str, ...]) -> list[str]:
    names = [n.strip().lower() for n in (env.get(variable) or "otlp").split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(variable, f"names {', '.join(unknown)}, which this server cannot export to.", known[0])
    return [n for n in names if n != "none"]
