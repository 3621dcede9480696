"""What the tools return: the logical entities, trimmed to what an agent can use.

Every Dataverse row is parsed in this package, nowhere else (``tests/test_layers.py`` reads the source to hold it):
flow, run and connection-reference rows here (``@odata.*`` annotations and internal columns never reach the model);
``machines`` (machine and group rows, where a run went), ``evidence`` (a run's error texts, the queue beside it),
``logs`` (action logs, log settings), ``aggregates`` (summarize's counts and samples) and ``identity`` (WhoAmI, the
user, Global Discovery's instances).
The run enums on the wire (``ConnectionType``, ``RunMode``) live here, so the client and config share them.
Every result model's JSON Schema also admits the error envelope ``{"error": {...}}``, because common MCP
clients validate error results against ``outputSchema`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..bounds import MAX_LISTED_TEXT, MAX_NAME, clean
from ..errors import cap, scrub
from ..knowledge.run_hints import DIAGNOSE_FAILED, FAILED_STATUSES, hint_for

# The error envelope as every output schema admits it. Its fields (code, message, hint, retryable, ...) are the
# same for every tool and described once, in the server's instructions, rather than in each tool's schema.
ERROR_ENVELOPE: dict[str, Any] = {"type": "object"}


def _admit_error_envelope(schema: dict[str, Any]) -> None:
    """Make the advertised schema accept either the success shape or ``{"error": ...}``."""
    required = schema.pop("required", [])
    properties = schema.setdefault("properties", {})
    # A run's own `error` (the flow's errorcode) shares the name, and its schema already admits the envelope.
    properties.setdefault("error", ERROR_ENVELOPE)
    schema["anyOf"] = [{"required": required}, {"required": ["error"]}]


def publish_as_object(schema: dict[str, Any]) -> None:
    """Publish a nested part of a result as a plain object (or array of objects): its fields are in the result
    itself and in the tool's description, and spelling them out again would cost every tools/list."""
    branches = [schema, *schema.get("anyOf", [])]
    is_list = any(branch.get("type") == "array" for branch in branches)
    schema.clear()
    schema.update({"type": "array", "items": {"type": "object"}} if is_list else {"type": "object"})


class ToolResult(BaseModel):
    """A tool's result. Fields that are None are left out of the result (compact JSON); so the output schemas
    publish no nulls."""

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
ConnectionType = Literal["connection", "connection_reference"]  # RunDesktopFlow's connectionType, in our words
RunMode = Literal["attended", "unattended"]  # RunDesktopFlow's runMode
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


Row = dict[str, Any]  # a Dataverse row as the Web API returns it


def _text(row: Row, column: str) -> str | None:
    value = row.get(column)
    return value if isinstance(value, str) and value else None


def _int(row: Row, column: str) -> int | None:
    value = row.get(column)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class FlowRef:
    """Just enough of a workflow row to resolve, allow and run a flow."""

    id: str
    name: str
    state: FlowState
    category: object = field(default=None, compare=False)  # 6 for a desktop flow; None when not selected

    @classmethod
    def from_row(cls, row: Row) -> FlowRef:
        return cls(
            id=str(row.get("workflowid") or ""),
            name=str(row.get("name") or ""),
            state=flow_state(_int(row, "statecode")),
            category=row.get("category"),
        )

    @property
    def is_desktop_flow(self) -> bool:
        return self.category in (6, None)


@dataclass(frozen=True)
class RunOwnership:
    """Whose a flowsession row is and on which connection: what proves a run is a caller's attempt."""

    run_id: str
    owner_id: str | None
    connection_id: str | None

    @classmethod
    def from_row(cls, row: Row) -> RunOwnership:
        return cls(
            run_id=str(row.get("flowsessionid") or ""),
            owner_id=_text(row, "_ownerid_value"),
            connection_id=_text(row, "connectionid"),
        )


def claimed_run_id(body: Row) -> str | None:
    """The run a callback's body names (``flowsessionid``): never trusted, only compared with its token's run."""
    value = body.get("flowsessionid")
    return value if isinstance(value, str) else None


# ---- tool results -------------------------------------------------------------------------------------------


class DesktopFlow(BaseModel):
    id: str = Field(description="GUID; pass as `flow` to the other tools.")
    name: str
    description: str | None = None
    state: FlowState = Field(description="Only published flows run.")
    modified_on: datetime | None = None
    runnable: bool = Field(description="False when not published or not in DESKTOP_FLOWS_ALLOWED.")

    @classmethod
    def from_row(cls, row: Row, *, allowed: bool) -> DesktopFlow:
        ref = FlowRef.from_row(row)
        description = clean(_text(row, "description") or "", MAX_LISTED_TEXT)
        return cls(
            id=ref.id,
            name=clean(ref.name, MAX_NAME),  # the flow's author wrote both: shown clean and capped
            description=description or None,
            state=ref.state,
            modified_on=parse_timestamp(row.get("modifiedon")),
            runnable=ref.state == "published" and allowed,
        )


class FlowList(ToolResult):
    flows: list[DesktopFlow]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class FlowSchema(ToolResult):
    flow_id: str
    name: str
    inputs: dict[str, Any] = Field(description="JSON Schema of run_desktop_flow's `inputs`.")
    outputs: dict[str, Any] = Field(description="JSON Schema of a successful run's outputs.")


class RunError(BaseModel):
    """A run's own failure (flowsession.errorcode); its shape also admits the tool error envelope."""

    code: str | None = Field(default=None, description="e.g. NoCandidateMachine")
    message: str | None = None
    hint: str | None = None
    retryable: bool = False


class FlowRun(ToolResult):
    run_id: str
    flow_id: str | None = None
    status: str = Field(description="Waiting, Running, Succeeded, Failed, Cancelled, TimedOut, ...")
    status_code: int | None = None
    is_terminal: bool = Field(description="True once the run has finished.")
    created_on: datetime | None = None
    started_on: datetime | None = None
    completed_on: datetime | None = None
    run_mode: str | None = None
    error: RunError | None = None
    outputs: dict[str, Any] | str | None = Field(default=None, description="Set once a run succeeded.")
    hint: str | None = Field(default=None, description="What to do next.")

    @classmethod
    def from_row(cls, row: Row) -> FlowRun:
        """A flowsession row; error text is capped and scrubbed, since a flow writes it."""
        status_code = _int(row, "statuscode")
        status = status_label(status_code)
        error = None
        error_code, error_message = _text(row, "errorcode"), _text(row, "errormessage")
        if error_code or error_message or status in FAILED_STATUSES:
            hint, retryable = hint_for(error_code, status)
            error = RunError(
                code=cap(error_code, 200) if error_code else None,
                message=cap(scrub(error_message)) if error_message else None,
                hint=hint,
                retryable=retryable,
            )
        return cls(
            run_id=str(row.get("flowsessionid") or ""),
            flow_id=_text(row, "_regardingobjectid_value"),
            status=status,
            status_code=status_code,
            is_terminal=is_terminal(status_code),
            created_on=parse_timestamp(row.get("createdon")),
            started_on=parse_timestamp(row.get("startedon")),
            completed_on=parse_timestamp(row.get("completedon")),
            run_mode=run_mode_label(_int(row, "runmode")),
            error=error,
            hint=DIAGNOSE_FAILED if status in FAILED_STATUSES else None,
        )


# StartedRun requires no more than FlowRun: a run started as an MCP task ends with the FlowRun that
# wait_for_desktop_flow_run returns, and clients check that against the run tool's outputSchema.
class StartedRun(FlowRun):
    flow_name: str | None = None
    connection_name: str | None = None
    connection_type: ConnectionType | None = None
    reused: bool = Field(default=False, description="True: idempotency_key matched an earlier run; none started.")
    license_check: str | None = Field(default=None, description="Dataverse's licence verdict for the run.")
    warning: str | None = Field(default=None, description="Set when the run started but could not be followed.")


class RunOutputs(ToolResult):
    run_id: str
    outputs: dict[str, Any] | str = Field(description="An object, or raw text when not JSON.")
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
    connection_id: str | None = Field(default=None, description="Absent when not bound yet (cannot run).")

    @classmethod
    def from_row(cls, row: Row) -> ConnectionReference:
        return cls(
            logical_name=str(row.get("connectionreferencelogicalname") or ""),
            display_name=_text(row, "connectionreferencedisplayname"),
            connector_id=_text(row, "connectorid"),
            connection_id=_text(row, "connectionid"),
        )


class ConnectionReferenceList(ToolResult):
    connection_references: list[ConnectionReference]
    truncated: bool = False
