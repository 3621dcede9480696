"""list_machines: the machines and machine groups this identity can see, each machine with its health verdict.

Page one costs two requests (machines with their group's name expanded; groups with their machines' ids
expanded, for the count); later pages one (machines only). Lists never select the large memo columns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from ..cursors import CursorCodec, PageToken, refuse_other_arguments
from ..dataverse.client import DataverseClient, Page
from ..flows import gather
from .machine_rows import group_from_row, machine_from_row, nested
from .results import MachineGroup, MachineList

MAX_GROUPS = 100


class MachineService:
    def __init__(self, client: DataverseClient, cursors: CursorCodec, now: Callable[[], datetime]) -> None:
        self._client = client
        self._cursors = cursors
        self._now = now

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
        machines = [machine_from_row(row, now, group=nested(row, "FlowMachineGroupId")) for row in page.rows]
        next_cursor = None
        if page.next_link:
            next_cursor = self._cursors.encode("machines", PageToken(page.next_link, limit, search or ""))
        return MachineList(machines=machines, groups=groups, next_cursor=next_cursor)


def _group(row: dict[str, Any]) -> MachineGroup:
    members = row.get("flowmachinegroup_flowmachine")
    count = len(cast(list[Any], members)) if isinstance(members, list) else None
    return group_from_row(row, machine_count=count)
