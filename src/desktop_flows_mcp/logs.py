"""Logging to stderr only (stdout belongs to the stdio protocol), as text or one JSON object per line.

Audit lines (logger ``desktop_flows_mcp.audit``) also name the caller (and the person's upn with Entra sign-in), the
tool and the trace id of the call in progress (``AuditFields``); in JSON these and the line's own facts (flow,
run_id, outcome) are fields of their own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
AUDIT = "desktop_flows_mcp.audit"
AUDIT_FIELDS = ("caller", "upn", "tool", "flow", "run_id", "outcome", "trace_id")


class AuditFields(logging.Filter):
    """Adds the call's caller and tool (``call_scope.call_audit``) and its trace id to each audit record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .call_scope import call_audit

        call = call_audit.get()
        if call is not None:
            record.__dict__.setdefault("caller", call.caller)
            record.__dict__.setdefault("tool", call.tool)
            if call.upn is not None:
                record.__dict__.setdefault("upn", call.upn)
        trace_id = current_trace_id()
        if trace_id is not None:
            record.__dict__.setdefault("trace_id", trace_id)
        return True


def current_trace_id() -> str | None:
    """The trace id of the span in progress: ours, or the caller's ``traceparent`` even with telemetry off (the
    ``mcp`` SDK opens a span for each call either way); None outside a call, or when OpenTelemetry never loaded."""
    if "opentelemetry.trace" not in sys.modules:  # never imported only for this
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _audit_suffix(record: logging.LogRecord) -> str:
    found = {name: record.__dict__[name] for name in AUDIT_FIELDS if record.__dict__.get(name) is not None}
    return "".join(f" {name}={value}" for name, value in found.items() if name in ("caller", "upn", "tool", "trace_id"))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line + _audit_suffix(record) if record.name == AUDIT else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == AUDIT:
            entry.update({k: record.__dict__[k] for k in AUDIT_FIELDS if record.__dict__.get(k) is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "WARNING", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Run starts and cancels are always recorded, whatever the level (one line each, no input values).
    logging.getLogger(AUDIT).setLevel(logging.INFO)
    # httpx logs every request URL at INFO; keep that for DEBUG only.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


if not any(isinstance(f, AuditFields) for f in logging.getLogger(AUDIT).filters):
    logging.getLogger(AUDIT).addFilter(AuditFields())
