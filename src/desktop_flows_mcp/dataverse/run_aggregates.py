"""The reads behind summarize_desktop_flow_runs: counts computed by Dataverse, a bounded sample, and names.

    count_runs     one aggregate: runs per group x statuscode x errorcode x runmode in a window.
                   flow / machine_group / connection / error_code: OData $apply groupby with $count;
                   day: FetchXML (``$apply`` cannot group a date-time column), grouped by year, month and day
                   in UTC (usertimezone false)
    sample_runs    the newest finished runs of the window, one page, only the group and duration columns
                   (runwaitduration, runexecutionduration: BigInt, milliseconds per the reference)
    find_flows / groups_with_machines / machines_by_id     names, capacity and health of the groups shown

Aggregates see at most 50,000 rows: past that Dataverse answers 0x8004E023 (``errors.exceeds_aggregate_limit``),
and the caller narrows the window. Rows come back typed (``RunCount``, ``RunSample``, parsed in ``models.aggregates``):
nothing above this module reads the wire's column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from xml.sax.saxutils import quoteattr

from ..models import Row
from ..models.aggregates import FETCH_DAY_PARTS, RunCount, RunSample
from .answers import rows_of
from .core import INCLUDE_DRAFTS, DataverseCore, max_page_size
from .diagnosis_reads import GROUP_COLUMNS, MACHINE_COLUMNS
from .odata import odata_datetime, string_literal

Dimension = Literal["flow", "machine_group", "connection", "error_code", "day"]

# The columns that make a group. A run on a machine group carries the group; one on a standalone machine may carry
# only the machine, so machine_group groups by both and the caller keys on the group, else the machine.
DIMENSION_COLUMNS: dict[Dimension, tuple[str, ...]] = {
    "flow": ("_regardingobjectid_value",),
    "machine_group": ("_machinegroupid_value", "_machineid_value"),
    "connection": ("connectionid",),
    "error_code": ("errorcode",),
    "day": ("createdon",),
}
COUNTED = ("statuscode", "errorcode", "runmode")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    flow_ids: tuple[str, ...] | None = None  # None: every flow

    def odata_filter(self) -> str:
        clauses = [f"createdon ge {odata_datetime(self.since)}", f"createdon lt {odata_datetime(self.until)}"]
        if self.flow_ids is not None:
            clauses.append("(" + " or ".join(f"_regardingobjectid_value eq {i}" for i in self.flow_ids) + ")")
        return " and ".join(clauses)


class RunAggregates(DataverseCore):
    """Aggregates and samples of flowsession."""

    async def count_runs(self, dimension: Dimension, window: Window) -> list[RunCount]:
        if dimension == "day":
            return await self._count_runs_by_day(window)
        dims = DIMENSION_COLUMNS[dimension]
        columns = ",".join(dict.fromkeys((*dims, *COUNTED)))
        apply = f"filter({window.odata_filter()})/groupby(({columns}),aggregate($count as runs))"
        rows = rows_of(await self._get_json("flowsessions", {"$apply": apply}, operation="list_runs"), "list_runs")
        return [RunCount.from_row(row, dims) for row in rows]

    async def _count_runs_by_day(self, window: Window) -> list[RunCount]:
        fetch = _fetch_by_day(window)
        rows = rows_of(await self._get_json("flowsessions", {"fetchXml": fetch}, operation="list_runs"), "list_runs")
        return [RunCount.from_day_row(row) for row in rows]

    async def sample_runs(self, dimension: Dimension, window: Window, size: int) -> tuple[list[RunSample], bool]:
        """The newest ``size`` finished runs of the window (one page), and whether there were more."""
        dims = DIMENSION_COLUMNS[dimension]
        params = {
            "$select": ",".join(dict.fromkeys((*dims, "runwaitduration", "runexecutionduration"))),
            "$filter": f"{window.odata_filter()} and completedon ne null",
            "$orderby": "createdon desc",
        }
        page = await self._get_page("flowsessions", params, None, headers=max_page_size(size), operation="list_runs")
        samples = [RunSample.from_row(row, dims, by_day=dimension == "day") for row in page.rows]
        return samples, page.next_link is not None

    async def find_flows(self, ids: Sequence[str], names: Sequence[str] = ()) -> list[Row]:
        """Desktop flows (drafts too: they may have run) with one of these ids or names: id and name only."""
        wanted = [f"workflowid eq {flow_id}" for flow_id in ids] + [f"name eq {string_literal(n)}" for n in names]
        params = {"$select": "workflowid,name", "$filter": f"category eq 6 and ({' or '.join(wanted)})"}
        headers = {**max_page_size(500), **INCLUDE_DRAFTS}
        return rows_of(await self._get_json("workflows", params, headers=headers, operation="list_flows"), "list_flows")

    async def groups_with_machines(self, ids: Sequence[str]) -> list[Row]:
        """These machine groups, each with its machines (at most 50 in a group)."""
        params = {
            "$select": GROUP_COLUMNS,
            "$filter": " or ".join(f"flowmachinegroupid eq {group_id}" for group_id in ids),
            "$expand": f"flowmachinegroup_flowmachine($select={MACHINE_COLUMNS})",
        }
        body = await self._get_json("flowmachinegroups", params, operation="list_machines")
        return rows_of(body, "list_machines")

    async def machines_by_id(self, ids: Sequence[str]) -> list[Row]:
        params = {
            "$select": MACHINE_COLUMNS,
            "$filter": " or ".join(f"flowmachineid eq {machine_id}" for machine_id in ids),
        }
        return rows_of(await self._get_json("flowmachines", params, operation="list_machines"), "list_machines")


def _fetch_by_day(window: Window) -> str:
    """FetchXML: runs per UTC day x statuscode x errorcode x runmode in the window."""
    days = "".join(
        f'<attribute name="createdon" alias="{part}" groupby="true" dategrouping="{part}" usertimezone="false"/>'
        for part in FETCH_DAY_PARTS
    )
    counted = "".join(f'<attribute name="{c}" alias="{c}" groupby="true"/>' for c in COUNTED)
    conditions = (
        f'<condition attribute="createdon" operator="ge" value={quoteattr(odata_datetime(window.since))}/>'
        f'<condition attribute="createdon" operator="lt" value={quoteattr(odata_datetime(window.until))}/>'
    )
    if window.flow_ids is not None:
        values = "".join(f"<value>{flow_id}</value>" for flow_id in window.flow_ids)
        conditions += f'<condition attribute="regardingobjectid" operator="in">{values}</condition>'
    return (
        '<fetch aggregate="true"><entity name="flowsession">'
        '<attribute name="flowsessionid" alias="runs" aggregate="count"/>'
        f'{days}{counted}<filter type="and">{conditions}</filter></entity></fetch>'
    )
