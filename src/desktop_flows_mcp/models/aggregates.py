"""Aggregate answers about flowsession (summarize_desktop_flow_runs): counted groups and a sample of durations.

An aggregate row's columns depend on its query: the group's columns (``dims``), the counted columns, ``runs`` (the
count's alias), or the FetchXML day parts ``year``, ``month`` and ``day`` (aliases of ``createdon``). The query is
built in ``dataverse.run_aggregates``; its rows are parsed here, so nothing above reads the wire's column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import Row, parse_timestamp
from .cells import number, text

Key = tuple[str | None, ...]
FETCH_DAY_PARTS = ("year", "month", "day")


@dataclass(frozen=True)
class RunCount:
    key: Key
    status: int | None
    error_code: str | None
    run_mode: int | None
    runs: int

    @classmethod
    def from_row(cls, row: Row, dims: Sequence[str]) -> RunCount:
        """A ``$apply`` groupby row: the group is the values of ``dims``."""
        return cls._counted(tuple(text(row, column) for column in dims), row)

    @classmethod
    def from_day_row(cls, row: Row) -> RunCount:
        """A FetchXML row grouped by UTC day: the group is the day, ``YYYY-MM-DD``."""
        return cls._counted(_day_key(row), row)

    @classmethod
    def _counted(cls, key: Key, row: Row) -> RunCount:
        return cls(
            key, number(row, "statuscode"), text(row, "errorcode"), number(row, "runmode"), number(row, "runs") or 0
        )


@dataclass(frozen=True)
class RunSample:
    key: Key
    wait_ms: int | None
    run_ms: int | None

    @classmethod
    def from_row(cls, row: Row, dims: Sequence[str], *, by_day: bool) -> RunSample:
        """A finished run of the sample: its group (the values of ``dims``, or its UTC day) and its durations."""
        key = (_created_day(row),) if by_day else tuple(text(row, column) for column in dims)
        return cls(key, number(row, "runwaitduration"), number(row, "runexecutionduration"))


def _day_key(row: Row) -> Key:
    parts = [number(row, part) for part in FETCH_DAY_PARTS]
    if any(part is None for part in parts):
        return (None,)
    year, month, day = parts
    return (f"{year:04d}-{month:02d}-{day:02d}",)


def _created_day(row: Row) -> str | None:
    moment = parse_timestamp(row.get("createdon"))
    return moment.strftime("%Y-%m-%d") if moment else None
