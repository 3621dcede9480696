"""Action-log rows (flowlog, logs V2) and the environment's log settings (organization), as the diagnosis reads them."""

from __future__ import annotations

from dataclasses import dataclass

from . import Row
from .cells import number, text


@dataclass(frozen=True)
class LogRow:
    """One action's log: ``data`` is the JSON a machine wrote (parsed, leniently, by ``diagnosis.action_log``)."""

    data: str | None
    created_on: str | None
    name: str | None
    level: int | None

    @classmethod
    def from_row(cls, row: Row) -> LogRow:
        return cls(
            data=text(row, "data"),
            created_on=text(row, "createdon"),
            name=text(row, "name"),
            level=number(row, "level"),
        )


@dataclass(frozen=True)
class LogSettings:
    """The organization's action-log settings; all None when they could not be read."""

    status: int | None  # desktopflowrunactionlogsstatus: 0 enabled, 1 on failure, 2 disabled
    version: int | None  # desktopflowrunactionlogversion: 0 V1 only
    ttl_minutes: int | None  # flowlogsttlinminutes

    @classmethod
    def from_row(cls, row: Row | None) -> LogSettings:
        row = row or {}
        return cls(
            status=number(row, "desktopflowrunactionlogsstatus"),
            version=number(row, "desktopflowrunactionlogversion"),
            ttl_minutes=number(row, "flowlogsttlinminutes"),
        )
