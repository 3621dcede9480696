"""summarize_desktop_flow_runs: counts from Dataverse, never from paging runs; a bounded number of requests.

    request                                                          when
    workflows (ids and names of the allow-list)                      an allow-list is set and no flow is given
    workflows by name (``FlowCatalogue.resolve_allowed``)            flow is a name not read in the last minute
    flowsessions $apply groupby/aggregate (FetchXML for day)         always; once more per narrowing (at most 4)
    flowsessions, newest finished runs, one page of SAMPLE_SIZE      always (for the percentiles)
    workflows (names of the flows shown)                             group_by flow, unless known already
    flowmachinegroups + their machines; flowmachines (standalone)    group_by machine_group
    connectionreferences (desktop flows connector)                   group_by connection

So 2 to 5 requests, 9 at most; the last three kinds run concurrently with the sample. An aggregate over more
than 50,000 runs is refused by Dataverse (0x8004E023): the window is halved, keeping its most recent half, and
the summary says so. Nothing is written. A refusal (403) of a lookup degrades: the summary names what it could
not read in ``unreadable`` and gives the rest; only the runs this identity may read are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from ..clock import Clock
from ..dataverse.client import DataverseClient
from ..dataverse.run_aggregates import Window
from ..diagnosis.service import settle
from ..errors import MACHINES_PRIVILEGE, DesktopFlowsError, ErrorCode, exceeds_aggregate_limit, invalid_argument
from ..flows import FlowCatalogue
from ..models import ConnectionReference, FlowRef, Row
from ..models.aggregates import Key, RunCount, RunSample
from ..models.machine_rows import (
    group_from_row,
    group_id,
    group_members,
    is_standalone_group,
    machine_from_row,
    machine_id,
    short_error,
)
from ..models.machines import Machine
from .results import GroupBy, GroupRow, RunSummary
from .tally import Tally, failures, fold, group_row, total, totals
from .window import window

SAMPLE_SIZE = 1000
MAX_GROUPS = 20
MAX_FAILURES = 6
EXPLAINED_FAILURES = 3  # the first ones carry meaning, fix and licence; the rest their code and count
MAX_NARROWING = 4
ISSUE_LIMIT = 120
NONE = "(none)"  # the name of the group of runs without a value: no flow, group, connection or error code
STANDALONE = "machine:"  # key prefix of a standalone machine: its runs carry no group


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class EstateService:
    def __init__(self, client: DataverseClient, catalogue: FlowCatalogue, clock: Clock) -> None:
        self._client = client
        self._catalogue = catalogue
        self._now = clock.now

    async def summarize(self, *, since: str, until: str | None, flow: str | None, group_by: GroupBy) -> RunSummary:
        start, end = window(since, until, self._now())
        names: dict[str, str] = {}
        flow_ids: tuple[str, ...] | None = None
        allowed = self._catalogue.allowed
        if flow is not None:
            ref = await self._catalogue.resolve_allowed(flow)
            flow_ids, names[ref.id] = (ref.id,), ref.name
        elif allowed.active:
            rows = await self._client.find_flows(sorted(allowed.ids), sorted(allowed.names))
            refs = [ref for ref in map(FlowRef.from_row, rows) if allowed.allows(ref)]
            flow_ids = tuple(ref.id for ref in refs)
            names.update({ref.id: ref.name for ref in refs})
        notes: list[str] = []
        if flow_ids == ():
            notes.append("No flow in DESKTOP_FLOWS_ALLOWED exists here: nothing to count.")
            counts: list[RunCount] = []
        else:
            counts, start = await self._counts(group_by, Window(start, end, flow_ids), notes)
        return await self._summary(group_by, Window(start, end, flow_ids), counts, names, notes)

    async def _counts(self, group_by: GroupBy, win: Window, notes: list[str]) -> tuple[list[RunCount], datetime]:
        """The aggregate, over a window halved (most recent half kept) while Dataverse finds it too large."""
        asked = win.since
        for _ in range(MAX_NARROWING + 1):
            try:
                counts = await self._client.count_runs(group_by, win)
            except DesktopFlowsError as error:
                if not exceeds_aggregate_limit(error):
                    raise
                win = Window(win.until - (win.until - win.since) / 2, win.until, win.flow_ids)
                continue
            if win.since != asked:
                notes.append(
                    f"More than 50,000 runs since {_iso(asked)}: Dataverse aggregates at most 50,000, so this "
                    f"covers only since {_iso(win.since)}. Pass a flow, or a later since, for the rest."
                )
            return counts, win.since
        raise invalid_argument(
            f"More than 50,000 runs even between {_iso(win.since)} and {_iso(win.until)}: Dataverse aggregates at "
            "most 50,000 rows.",
            hint="Pass a flow, or a shorter window (since 24h, or until).",
        )

    async def _summary(
        self, group_by: GroupBy, win: Window, counts: list[RunCount], names: dict[str, str], notes: list[str]
    ) -> RunSummary:
        key_of = _key_function(group_by)
        keys = {key_of(count.key) for count in counts}
        calls: dict[str, Awaitable[Any]] = {}
        if counts:
            calls["sample"] = self._client.sample_runs(group_by, win, SAMPLE_SIZE)
        calls.update(self._lookups(group_by, keys, names))
        found = await settle(calls)
        fatal = next(
            (
                v
                for v in found.values()
                if isinstance(v, DesktopFlowsError) and v.code is not ErrorCode.PERMISSION_DENIED
            ),
            None,
        )
        if fatal is not None:
            raise fatal
        unreadable: list[str] = []
        sample = found.get("sample")
        if isinstance(sample, DesktopFlowsError):
            raise sample  # the aggregate was readable, so a refused sample is not a missing privilege
        samples: list[RunSample] = sample[0] if sample else []
        tallies = fold(counts, samples, key_of)
        whole = total(tallies.values())
        if samples:
            which = f"the newest {len(samples)}" if sample and sample[1] else f"all {len(samples)}"
            notes.append(f"wait_s, run_s: over a sample, {which} finished runs (no aggregate gives percentiles).")
        order = sorted(tallies.items(), key=_ranking(group_by))
        shown = order[:MAX_GROUPS]
        rows = _keys_only_where_needed(
            group_by, [self._row(group_by, key, tally, found, names, unreadable) for key, tally in shown]
        )
        hidden = order[MAX_GROUPS:]
        if hidden:
            notes.append(f"{len(hidden)} more groups ({sum(t.runs for _, t in hidden)} runs) not shown: pass a flow.")
        return RunSummary(
            since=_iso(win.since),
            until=_iso(win.until),
            group_by=group_by,
            totals=totals(whole),
            groups=rows,
            failures=failures(whole, MAX_FAILURES, explained=EXPLAINED_FAILURES),
            notes=notes or None,
            unreadable=sorted(set(unreadable)) or None,
        )

    def _lookups(self, group_by: GroupBy, keys: set[str | None], names: dict[str, str]) -> dict[str, Awaitable[Any]]:
        ids = sorted(k for k in keys if k)
        if group_by == "flow":
            unknown = [k for k in ids if k not in names][: MAX_GROUPS * 5]
            return {"flows": self._client.find_flows(unknown)} if unknown else {}
        if group_by == "machine_group":
            groups = [k for k in ids if not k.startswith(STANDALONE)]
            machines = [k.removeprefix(STANDALONE) for k in ids if k.startswith(STANDALONE)]
            calls: dict[str, Awaitable[Any]] = {}
            if groups:
                calls["groups"] = self._client.groups_with_machines(groups[:100])
            if machines:
                calls["machines"] = self._client.machines_by_id(machines[:100])
            return calls
        if group_by == "connection" and ids:
            return {"references": self._client.list_connection_references(search=None, limit=500)}
        return {}

    def _row(
        self,
        group_by: GroupBy,
        key: str | None,
        tally: Tally,
        found: dict[str, Any],
        names: dict[str, str],
        unreadable: list[str],
    ) -> GroupRow:
        row = group_row(key, tally, with_top_error=group_by != "error_code")
        if key is None:
            return row.model_copy(update={"name": NONE})
        if group_by == "flow":
            flows = found.get("flows")
            if isinstance(flows, list):
                names.update({ref.id: ref.name for ref in map(FlowRef.from_row, cast(list[Row], flows))})
            elif isinstance(flows, DesktopFlowsError):
                unreadable.append("flow names: needs Read on Processes (workflow)")
            return row.model_copy(update={"name": names.get(key)})
        if group_by == "connection":
            references = found.get("references")
            if isinstance(references, DesktopFlowsError):
                unreadable.append("connection reference names: needs Read on Connection References")
                return row
            listed = map(ConnectionReference.from_row, references.rows) if references else ()
            bound = next((r for r in listed if r.connection_id == key), None)
            return row.model_copy(update={"name": bound.display_name if bound else None})
        if group_by == "machine_group":
            return self._with_machines(row, key, found, unreadable)
        return row

    def _with_machines(self, row: GroupRow, key: str, found: dict[str, Any], unreadable: list[str]) -> GroupRow:
        source = "machines" if key.startswith(STANDALONE) else "groups"
        rows = found.get(source)
        if isinstance(rows, DesktopFlowsError) or rows is None:
            unreadable.append(f"machines and groups: needs {MACHINES_PRIVILEGE}")
            return row
        record_id = key.removeprefix(STANDALONE)
        id_of = machine_id if source == "machines" else group_id
        record: Row | None = next((r for r in rows if id_of(r) == record_id), None)
        if record is None:
            return row.model_copy(update={"issue": "not readable, or deleted"})
        now = self._now()
        if source == "machines":
            machines = [machine_from_row(record, now)]
            name, kind, error = machines[0].name, "machine", None
        else:
            machines = [machine_from_row(m, now, group=record) for m in group_members(record) or []]
            group = group_from_row(record, machine_count=len(machines))
            standalone = is_standalone_group(record)
            name, kind, error = group.name, "machine" if standalone else group.kind, group.error
            if group.provisioning == "Error" and error is None:
                error = "hosted group provisioning failed"
        online = [m for m in machines if m.health == "online"]
        return row.model_copy(
            update={
                "name": name,
                "kind": kind,
                "machines": len(machines),
                "online": len(online),
                "capacity": sum(m.session_capacity or 1 for m in online),
                "issue": _issue(error, machines, online),
            }
        )


def _keys_only_where_needed(group_by: GroupBy, rows: list[GroupRow]) -> list[GroupRow]:
    """Flows and machine groups go by name (the tools take a flow's exact name): their id only when the name is
    missing or shared."""
    if group_by not in ("flow", "machine_group"):
        return rows
    names = Counter(row.name for row in rows)
    return [row.model_copy(update={"key": None}) if row.name and names[row.name] == 1 else row for row in rows]


def _issue(error: str | None, machines: list[Machine], online: list[Machine]) -> str | None:
    first_line = short_error(error)
    if first_line:
        return first_line[:ISSUE_LIMIT]
    if not machines:
        return "no machines"
    if online:
        return None
    shown = "; ".join(f"{m.name} {m.health}: {m.health_reason}" for m in machines[:2])
    return f"no machine online ({shown})"[:ISSUE_LIMIT]


def _key_function(group_by: GroupBy) -> Callable[[Key], str | None]:
    if group_by == "machine_group":
        return lambda key: key[0] or (STANDALONE + key[1] if len(key) > 1 and key[1] else None)
    return lambda key: key[0]


def _ranking(group_by: GroupBy) -> Callable[[tuple[str | None, Tally]], tuple[Any, ...]]:
    """Days in order; any other group by failures, then runs, most first."""
    if group_by == "day":
        return lambda item: (item[0] is None, item[0] or "")
    return lambda item: (-item[1].failed, -item[1].runs, item[0] or "")
