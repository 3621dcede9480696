"""What operators see of the server: traces and metrics, behind one small seam.

``Telemetry`` is the default and does nothing: each hook is a method with an empty body, so when OpenTelemetry is
off the per-call path pays a method call and nothing of the OpenTelemetry SDK is ever imported (the ``mcp`` SDK
already imports the OpenTelemetry *API* for its own tool-call spans; without an SDK those are no-ops too).
``telemetry.otel.OtelTelemetry`` (the ``[otel]`` extra) records the same facts as spans and metrics.

Core code never imports OpenTelemetry: the Dataverse client reports each request to ``dataverse_request``, the
sign-in seam to ``sign_in``, the tool boundary to ``tool_result``, and so on. What a hook may be given is chosen
here: names, counts, statuses and codes, never a query value, an input or a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

# The standard variables that turn telemetry on (OTEL_SDK_DISABLED=true turns it off whatever else is set).
OTEL_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
)


def otel_wanted(env: Mapping[str, str], flag: bool = False) -> bool:
    """``--otel``, or any standard OpenTelemetry variable that asks for an export; never when the SDK is disabled."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if flag:
        return True
    return any(env.get(name, "").strip() not in ("", "none") for name in OTEL_SWITCHES)


class RequestTrace:
    """One Dataverse request as ``DataverseCore._send`` lives it: retries, throttle pauses, its last status."""

    __slots__ = ()

    def __enter__(self) -> RequestTrace:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def retried(self) -> None:
        """The request is sent again (after a network failure, a 5xx or a 429)."""

    def paused(self, seconds: float) -> None:
        """Dataverse answered 429: calls in the request's scope pause this long."""

    def answered(self, status: int) -> None:
        """The HTTP status of the latest attempt."""

    def acquired(self) -> None:
        """Sign-in: a new token came back (not the one in use), so the provider went to the identity service."""


NO_REQUEST = RequestTrace()


class Telemetry:
    """The hooks, doing nothing. ``OtelTelemetry`` overrides each; nothing else should."""

    enabled = False

    def server_middleware(self) -> list[Any]:
        """MCP server middleware to put first in the chain (``mcp.server.operation.duration``)."""
        return []

    def dataverse_request(self, method: str, path: str) -> RequestTrace:
        """``path`` is below the Web API root; only its ``request_target`` may be recorded."""
        return NO_REQUEST

    def sign_in(self, mode: str) -> RequestTrace:
        """A token asked of the sign-in mode's provider (a cached one too); ``acquired`` when it was a new one."""
        return NO_REQUEST

    def run_limit_refused(self) -> None:
        """The per-connection run window refused a start (70 a minute)."""

    def tool_result(self, tool: str, result: BaseModel | None, error_code: str | None) -> None:
        """A tool call ended, with its result model or the taxonomy code of its error."""

    def callback_received(self, status: int) -> None:
        """A Dataverse callback was answered with ``status``."""

    def shared_state_error(self) -> None:
        """A Redis command failed."""


NO_TELEMETRY = Telemetry()

_KEY = re.compile(r"\([^)]*\)")


def request_target(path: str) -> str:
    """A request path as a low-cardinality name that says nothing of its values: ``flowsessions({key})``,
    ``workflows({key})/inputs/$value``, ``RunDesktopFlow``; the query (filters, search text) is dropped."""
    path = _KEY.sub("({key})", path.split("?", 1)[0])
    return path.replace("Microsoft.Dynamics.CRM.", "")


def tool_attributes(result: Any) -> dict[str, str]:
    """Span attributes a tool's result may give: the run's and the flow's ids."""
    attributes: dict[str, str] = {}
    run_id = getattr(result, "run_id", None)
    flow_id = getattr(result, "flow_id", None)
    if isinstance(run_id, str) and run_id:
        attributes["desktop_flows.run.id"] = run_id
    if isinstance(flow_id, str) and flow_id:
        attributes["desktop_flows.flow.id"] = flow_id
    return attributes
