"""What a diagnosis reads besides the run itself: its error texts, the runs queued beside it, and the error memo of
a hosted machine or group in error (each read alone: these columns hold tens of kilobytes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import Row, parse_timestamp
from .cells import number, text

WAITING, RUNNING = 3, 2  # flowsession.statuscode


@dataclass(frozen=True)
class RunErrorTexts:
    """A flowsession row's error columns, as the flow and Dataverse wrote them (scrubbed and capped by the caller)."""

    code: str | None
    message: str | None
    details: str | None
    inner: str | None

    @classmethod
    def from_row(cls, row: Row) -> RunErrorTexts:
        return cls(
            code=text(row, "errorcode"),
            message=text(row, "errormessage"),
            details=text(row, "errordetails"),
            inner=text(row, "errorinnererror"),
        )


@dataclass(frozen=True)
class QueuedRun:
    """A waiting or running run on the same machine or group (``list_active_runs_on``)."""

    run_id: str | None
    status_code: int | None
    created_on: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> QueuedRun:
        return cls(
            run_id=text(row, "flowsessionid"),
            status_code=number(row, "statuscode"),
            created_on=parse_timestamp(row.get("createdon")),
        )

    @property
    def waiting(self) -> bool:
        return self.status_code == WAITING

    @property
    def running(self) -> bool:
        return self.status_code == RUNNING


def machine_error(row: Row) -> str | None:
    """``flowmachines(id)?$select=hostedmachineerror``."""
    return text(row, "hostedmachineerror")


def group_provisioning_error(row: Row) -> str | None:
    """``flowmachinegroups(id)?$select=provisioningerror``."""
    return text(row, "provisioningerror")
