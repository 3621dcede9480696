"""What the tools return: the logical entities, trimmed to what an agent can use.

Dataverse rows are parsed here (``@odata.*`` annotations and internal columns never reach the model).
Every result model's JSON Schema also admits the error envelope ``{"error": {...}}``, because common MCP
clients validate error results against ``outputSchema`` too.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool
    http_status: int | None = None
    dataverse_code: str | None = None
    hint: str | None = None
    retry_after_seconds: float | None = None


def _admit_error_envelope(schema: dict[str, Any]) -> None:
    """Make the advertised schema accept either the success shape or ``{"error": ...}``."""
    required = schema.pop("required", [])
    properties = schema.setdefault("properties", {})
    envelope = ToolErrorBody.model_json_schema()
    # A run's own `error` (the flow's errorcode) shares the name; either shape is valid there.
    properties["error"] = {"anyOf": [properties["error"], envelope]} if "error" in properties else envelope
    schema["anyOf"] = [{"required": required}, {"required": ["error"]}]


class ToolResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=_admit_error_envelope)


class RunStatus(IntEnum):
    """flowsession.statuscode. ``statecode`` says nothing about completion: Failed runs stay state 0."""

    NotSpecified = 0
    Paused = 1
    Running = 2
    Waiting = 3
    Succeeded = 4
    Skipped = 5
    Suspended = 6
    Cancelled = 7
    Failed = 8
    Faulted = 9
    TimedOut = 10
    Aborted = 11
    Ignored = 12
    Deleted = 13
    Terminated = 14


TERMINAL_STATUSES = frozenset(
    {
        RunStatus.Succeeded,
        RunStatus.Skipped,
        RunStatus.Cancelled,
        RunStatus.Failed,
        RunStatus.Faulted,
        RunStatus.TimedOut,
        RunStatus.Aborted,
        RunStatus.Ignored,
        RunStatus.Deleted,
        RunStatus.Terminated,
    }
)

RunStatusName = Literal[
    "NotSpecified",
    "Paused",
    "Running",
    "Waiting",
    "Succeeded",
    "Skipped",
    "Suspended",
    "Cancelled",
    "Failed",
    "Faulted",
    "TimedOut",
    "Aborted",
    "Ignored",
    "Deleted",
    "Terminated",
]


def status_label(code: int | None) -> str:
    """The label of a statuscode; an unknown code passes through as ``Unknown(<n>)``."""
    if code is None:
        return "NotSpecified"
    try:
        return RunStatus(code).name
    except ValueError:
        return f"Unknown({code})"


def is_terminal(code: int | None) -> bool:
    return code is not None and code in TERMINAL_STATUSES


FlowState = Literal["draft", "published", "suspended", "unknown"]
_FLOW_STATES: dict[int, FlowState] = {0: "draft", 1: "published", 2: "suspended"}


def flow_state(statecode: int | None) -> FlowState:
    return _FLOW_STATES.get(statecode if statecode is not None else -1, "unknown")


_RUN_MODES = {0: "local", 1: "attended", 2: "unattended"}


def run_mode_label(code: int | None) -> str | None:
    if code is None:
        return None
    return _RUN_MODES.get(code, f"unknown({code})")


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# ---- tool results -------------------------------------------------------------------------------------------


class DesktopFlow(BaseModel):
    id: str = Field(description="The flow's GUID (workflowid); pass it as `flow` to the other tools.")
    name: str
    description: str | None = None
    state: FlowState = Field(description="published flows can run; drafts and suspended flows cannot.")
    modified_on: datetime | None = None
    runnable: bool = Field(description="False when the flow is not published or DESKTOP_FLOWS_ALLOWED excludes it.")


class FlowList(ToolResult):
    flows: list[DesktopFlow]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null when this is the last page."
    )


class FlowSchema(ToolResult):
    flow_id: str
    name: str
    inputs: dict[str, Any] = Field(description="JSON Schema of the `inputs` object that run_desktop_flow accepts.")
    outputs: dict[str, Any] = Field(description="JSON Schema of the outputs a successful run returns.")


class RunError(BaseModel):
    code: str | None = Field(description="flowsession.errorcode, e.g. NoCandidateMachine.")
    message: str | None = None
    hint: str | None = None
    retryable: bool = False


class FlowRun(ToolResult):
    run_id: str
    flow_id: str | None = None
    status: str = Field(description="Label of statuscode: Waiting, Running, Succeeded, Failed, Cancelled, ...")
    status_code: int | None = None
    state_code: int | None = None
    is_terminal: bool = Field(description="True once the run has finished (decided by statuscode).")
    created_on: datetime | None = None
    started_on: datetime | None = None
    completed_on: datetime | None = None
    run_mode: str | None = None
    error: RunError | None = None
    outputs: dict[str, Any] | str | None = Field(
        default=None, description="The run's outputs, present once it succeeded and outputs were read."
    )
    hint: str | None = Field(default=None, description="What to do next.")


class StartedRun(FlowRun):
    flow_name: str | None = None
    connection_name: str
    connection_type: Literal["connection", "connection_reference"]
    reused: bool = Field(
        default=False, description="True when idempotency_key matched an earlier run and no new run was started."
    )
    license_check: str | None = Field(default=None, description="Dataverse's license coverage verdict for the run.")


class RunOutputs(ToolResult):
    run_id: str
    outputs: dict[str, Any] | str = Field(description="An object, or the raw text when the outputs are not JSON.")
    note: str | None = None


class CancelledRun(ToolResult):
    run_id: str
    cancelled: bool
    status: str
    hint: str | None = None


class RunList(ToolResult):
    runs: list[FlowRun]
    next_cursor: str | None = None


class ConnectionReference(BaseModel):
    logical_name: str = Field(description="Pass as connection_name with connection_type='connection_reference'.")
    display_name: str | None = None
    connector_id: str | None = None
    connection_id: str | None = Field(default=None, description="Null when the reference is not bound yet.")


class ConnectionReferenceList(ToolResult):
    connection_references: list[ConnectionReference]
    truncated: bool = False
