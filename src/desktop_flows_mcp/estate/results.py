"""What summarize_desktop_flow_runs returns: a compact summary, parts published as plain objects.

Counts that are zero and fields that are None are left out, so twenty groups fit in about 4 KB of text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models import ToolResult, publish_as_object

GroupBy = Literal["flow", "machine_group", "connection", "error_code", "day"]


def _part() -> Any:
    return Field(json_schema_extra=publish_as_object)


class GroupRow(BaseModel):
    key: str | None = None  # None: runs without a value (no group, no error code)
    name: str | None = None
    kind: Literal["standard", "hosted", "machine"] | None = None
    runs: int
    ok: int | None = None
    failed: int | None = None
    cancelled: int | None = None
    waiting: int | None = None
    running: int | None = None
    success: float | None = None
    top_error: str | None = None
    wait_s: list[int] | None = None
    run_s: list[int] | None = None
    machines: int | None = None
    online: int | None = None
    capacity: int | None = None
    issue: str | None = None


class Totals(BaseModel):
    runs: int
    statuses: dict[str, int]
    success: float | None = None
    wait_s: list[int] | None = None
    run_s: list[int] | None = None


class Failure(BaseModel):
    code: str
    runs: int
    meaning: str | None = None
    fix: str | None = None
    licence: str | None = None


class RunSummary(ToolResult):
    since: str
    until: str
    group_by: str
    totals: Totals = _part()
    groups: list[GroupRow] = _part()
    failures: list[Failure] = _part()
    notes: list[str] | None = None
    unreadable: list[str] | None = None
