"""What list_machines and diagnose_desktop_flow_run return: lean models (``Machine`` and ``MachineGroup`` are parsed
from their rows in ``models.machines``).

Fields that are None are left out of results; descriptions are few, because every byte of an output schema is
paid by every agent on every tools/list.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models import ToolResult, publish_as_object
from ..models.machines import Machine, MachineGroup


def _part(**kwargs: Any) -> Any:
    """A nested part, published as a plain object (list_machines publishes Machine and MachineGroup in full)."""
    return Field(default=None, json_schema_extra=publish_as_object, **kwargs)


Verdict = Literal[
    "succeeded",
    "running",
    "queued",
    "queued_machine_unavailable",
    "queued_behind_others",
    "failed_no_machine",
    "failed_licence",
    "failed_machine_or_session",
    "failed_in_flow",
    "cancelled",
]


class MachineList(ToolResult):
    machines: list[Machine]
    groups: list[MachineGroup] = Field(description="On the first page only.")
    next_cursor: str | None = None


class Queue(BaseModel):
    """An estimate: Dataverse publishes no queue position; only runs this identity can see are counted."""

    runs_ahead: int
    running: int
    capacity: int | None = Field(default=None, description="Session slots on online machines.")
    oldest_waiting_minutes: int | None = None
    note: str | None = None


class RunFailure(BaseModel):
    code: str | None = None
    message: str | None = None
    details: str | None = None
    meaning: str | None = None
    fix: str | None = None
    admin_fix: str | None = None
    documented: bool = False
    retry: str | None = None


class Licence(BaseModel):
    needs: str
    holder: str
    check: str | None = Field(default=None, description="licenseCheck.code at start, when this server saw it.")
    ok: bool | None = None
    finding: str | None = None


class Action(BaseModel):
    at: str | None = None
    name: str | None = None
    status: str | None = None
    level: str | None = None
    error: str | None = None


class ActionLog(BaseModel):
    actions: list[Action] = Field(description="Last actions, oldest first.")
    note: str | None = Field(default=None, description="Why there are none or fewer.")


class Diagnosis(ToolResult):
    run_id: str
    flow_id: str | None = None
    status: str
    verdict: Verdict
    summary: str
    cause: str
    machine: Machine | None = _part()
    group: MachineGroup | None = _part()
    group_machines: list[Machine] | None = _part()
    queue: Queue | None = _part()
    failure: RunFailure | None = _part()
    licence: Licence | None = _part()
    action_log: ActionLog = Field(json_schema_extra=publish_as_object)
    next_step: str
    admin_step: str | None = None
    unreadable: list[str] | None = Field(default=None, description="What could not be read, and the privilege.")
