"""list_machines: the machines and machine groups this identity can see, each machine with its health verdict.

Page one costs two requests (machines with their group's name expanded; groups with their machines' ids
expanded, for the count); later pages one (machines only). Lists never select the large memo columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from ..clock import Clock
from ..cursors import CursorCodec, PageToken, refuse_other_arguments
from ..dataverse.client import DataverseClient, Page
from ..flows import gather
from ..models import RunOwnership
from ..models.machine_rows import (
    RunPlacement,
    group_from_row,
    group_id,
    group_members,
    is_standalone_group,
    listed_machine,
    machine_from_row,
)
from ..models.machines import Machine, MachineGroup
from .results import MachineList

MAX_GROUPS = 100
RUNS_LOOKED_AT = 20  # a connection's latest runs that say where it sends runs


@dataclass
class ConnectionReach:
    """Where a connection's latest runs went: the groups (with all their machines) and standalone machines."""

    runs_seen: int = 0
    last_run: datetime | None = None
    groups: list[tuple[MachineGroup, list[Machine]]] = field(default_factory=list[tuple[MachineGroup, list[Machine]]])
    machines: list[Machine] = field(default_factory=list[Machine])  # standalone machines


class MachineService:
    def __init__(self, client: DataverseClient, cursors: CursorCodec, clock: Clock) -> None:
        self._client = client
        self._cursors = cursors
        self._now = clock.now

    async def list_machines(self, *, search: str | None, limit: int, cursor: str | None) -> MachineList:
        search = search.strip() if search and search.strip() else None
        next_link: str | None = None
        if cursor:
            token = self._cursors.decode("machines", cursor, tool="list_machines")
            refuse_other_arguments({"search": token.extra or None}, {"search": search})
            next_link, limit, search = token.next_link, token.page_size, token.extra or None
        machines_page = self._client.list_machines(search=search, page_size=limit, next_link=next_link)
        groups: list[MachineGroup] = []
        if next_link is None:
            page, group_page = cast(
                tuple[Page, Page],
                tuple(await gather(machines_page, self._client.list_machine_groups(search=search, limit=MAX_GROUPS))),
            )
            groups = [_group(row) for row in group_page.rows]
        else:
            page = await machines_page
        now = self._now()
        machines = [listed_machine(row, now) for row in page.rows]
        next_cursor = None
        if page.next_link:
            next_cursor = self._cursors.encode("machines", PageToken(page.next_link, limit, search or ""))
        return MachineList(machines=machines, groups=groups, next_cursor=next_cursor)

    async def reached_by(self, connection: str) -> ConnectionReach:
        """The machines and groups a connection reaches, with their health, as its latest runs show (Dataverse has
        no connection → machine column): one request, and one per group for its machines."""
        runs = [
            RunPlacement.from_row(row)
            for row in await self._client.list_runs_on_connection(connection, limit=RUNS_LOOKED_AT)
        ]
        reach = ConnectionReach(runs_seen=len(runs))
        reach.last_run = max((t for run in runs if (t := run.created_on)), default=None)
        now = self._now()
        groups: dict[str, Any] = {}
        machines: dict[str, Machine] = {}
        for run in runs:
            group, machine = run.group, run.machine
            if group is not None and not is_standalone_group(group):
                groups.setdefault(group_id(group), group)
            elif machine is not None:
                found = machine_from_row(machine, now)
                machines.setdefault(found.id, found)
        members = await gather(*(self._client.list_group_machines(group_id) for group_id in groups))
        for group, rows_of_group in zip(groups.values(), members, strict=True):
            listed = [machine_from_row(m, now, group=group) for m in rows_of_group]
            reach.groups.append((group_from_row(group, machine_count=len(listed)), listed))
        reach.machines = list(machines.values())
        return reach

    async def connections_seen(self, *, runs: int = 100) -> list[str]:
        """The connections the latest runs went through (for "did you mean" on a connection name)."""
        page = await self._client.list_flow_sessions(flow_id=None, status_code=None, page_size=runs, next_link=None)
        return sorted({name for row in page.rows if (name := RunOwnership.from_row(row).connection_id)})


def _group(row: dict[str, Any]) -> MachineGroup:
    members = group_members(row)
    return group_from_row(row, machine_count=len(members) if members is not None else None)
