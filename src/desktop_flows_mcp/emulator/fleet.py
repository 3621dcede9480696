"""Machines, machine groups, action logs and the organization row, read with the caller's privileges.

flowmachine and flowmachinegroup are user-owned; a principal without any read privilege on them gets 403
(0x80040220), as does one without read on flowlog. flowlog rows otherwise inherit access from their run
(LOGS): a caller sees the logs of the runs it may read. The organization row is readable by everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .errors import not_found, privilege_denied
from .flowlogs import action_logs, organization_row
from .machines import GROUPS, MACHINES, group_row, machine_row
from .odata_filter import parse_datetime
from .principals import Principal
from .runs import Run

Row = dict[str, object]


class Fleet:
    def __init__(self, seeded_at: float, owner_id: str, runs: Mapping[str, Run]) -> None:
        self.seeded_at = seeded_at
        self.owner_id = owner_id
        self.runs = runs
        self.organization = organization_row()
        self.logs: list[tuple[float, Row]] = []
        for run in sorted(runs.values(), key=lambda run: run.created_at):
            self.add_logs(run)

    def add_logs(self, run: Run) -> None:
        """Keep the action logs of a finished run, each until its time to live runs out."""
        for row in action_logs(run, self.organization):
            expires = parse_datetime(str(row["createdon"])) + float(str(row["ttlinseconds"]))
            self.logs.append((expires, row))

    def machines(self, principal: Principal, now: float) -> list[Row]:
        if not principal.reads_machines:
            raise privilege_denied(principal.user_id, "flowmachine")
        return [
            {**machine_row(machine, now, self.seeded_at, 3_100_000 + index * 13), "_ownerid_value": self.owner_id}
            for index, machine in enumerate(MACHINES)
        ]

    def groups(self, principal: Principal, now: float) -> list[Row]:
        if not principal.reads_machines:
            raise privilege_denied(principal.user_id, "flowmachinegroup")
        rows: list[Row] = []
        for index, group in enumerate(GROUPS):
            started = [run.created_at for run in self.runs.values() if run.group_id == group.id]
            last_run = max((moment for moment in started if moment <= now), default=None)
            row = group_row(group, self.seeded_at, last_run, 3_200_000 + index * 13)
            rows.append({**row, "_ownerid_value": self.owner_id})
        return rows

    def logs_for(self, principal: Principal, now: float, reads_run: Callable[[str], bool]) -> list[Row]:
        if not principal.reads_logs:
            raise privilege_denied(principal.user_id, "flowlog")
        return [row for expires, row in self.logs if expires > now and reads_run(str(row["_flowsessionid_value"]))]

    def organizations(self) -> list[Row]:
        return [self.organization]


def find(rows: Iterable[Row], key: str, record_id: str, logical_name: str) -> Row:
    """The row with this primary key, or Dataverse's 404."""
    for row in rows:
        if str(row[key]) == record_id:
            return row
    raise not_found(logical_name, record_id)
