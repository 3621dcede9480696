"""The Web API reads that explain a run or an identity: machines and groups, the queue on them, action logs and
the environment's log settings, and who the caller is (diagnose_desktop_flow_run, check_access).
"""

from __future__ import annotations

from ..models import Row
from ..models.evidence import group_provisioning_error, machine_error
from .answers import rows_of
from .core import DataverseCore, Page, max_page_size
from .flow_operations import RUN_COLUMNS
from .odata import like_literal, string_literal

# Machines and groups: never the internal memo columns (metadata, key packages) nor the error memos in lists.
MACHINE_COLUMNS = (
    "flowmachineid,name,statecode,statuscode,agentversion,lastheartbeatdate,sessioncapacity,overcapacitysince,"
    "hostingtype,hostedmachinestate,keydeliverystatus,_flowmachinegroupid_value"
)
GROUP_COLUMNS = "flowmachinegroupid,name,statecode,statuscode,managementtype,flowgrouptype,provisioningstate"
DIAGNOSIS_RUN_COLUMNS = RUN_COLUMNS + ",errordetails,errorinnererror,triggertype,_machineid_value,_machinegroupid_value"
LOG_SETTINGS_COLUMNS = (
    "desktopflowrunactionlogsstatus,desktopflowrunactionlogversion,desktopflowrunactionlogverbosity,"
    "flowlogsttlinminutes"
)
ACTION_LOG_TYPE = 100000001


class DiagnosisReads(DataverseCore):
    """Machines, groups, action logs and identity."""

    async def get_run_for_diagnosis(self, run_id: str, *, expand_machine: bool) -> Row:
        """The run with its error texts; with ``expand_machine`` also its machine and group rows."""
        params = {"$select": DIAGNOSIS_RUN_COLUMNS}
        if expand_machine:
            params["$expand"] = f"MachineId($select={MACHINE_COLUMNS}),MachineGroupId($select={GROUP_COLUMNS})"
        return await self._get_json(f"flowsessions({run_id})", params, operation="read_run")

    async def list_machines(self, *, search: str | None, page_size: int, next_link: str | None) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            params = {
                "$select": MACHINE_COLUMNS,
                "$expand": "FlowMachineGroupId($select=name,flowgrouptype)",
                "$orderby": "name asc,flowmachineid asc",
            }
            if search:
                params["$filter"] = f"contains(name,{like_literal(search)})"
        headers = max_page_size(page_size)
        return await self._get_page("flowmachines", params, next_link, headers=headers, operation="list_machines")

    async def list_machine_groups(self, *, search: str | None, limit: int) -> Page:
        """Real groups (not the Default group row of each standalone machine), each with its machines' ids."""
        flt = "flowgrouptype ne 545940002"
        if search:
            flt += f" and contains(name,{like_literal(search)})"
        params = {
            "$select": GROUP_COLUMNS,
            "$filter": flt,
            "$orderby": "name asc",
            "$expand": "flowmachinegroup_flowmachine($select=flowmachineid)",
        }
        headers = max_page_size(limit)
        return await self._get_page("flowmachinegroups", params, None, headers=headers, operation="list_machines")

    async def list_group_machines(self, group_id: str) -> list[Row]:
        """The machines of one group (at most 50 are allowed in a group)."""
        params = {"$select": MACHINE_COLUMNS, "$filter": f"_flowmachinegroupid_value eq {group_id}", "$top": "50"}
        return rows_of(await self._get_json("flowmachines", params, operation="read_machines"), "read_machines")

    async def get_machine_error(self, machine_id: str) -> str | None:
        """A hosted machine's error text (a large memo: read for one machine only)."""
        row = await self._get_json(
            f"flowmachines({machine_id})", {"$select": "hostedmachineerror"}, operation="read_machines"
        )
        return machine_error(row)

    async def get_group_provisioning_error(self, group_id: str) -> str | None:
        row = await self._get_json(
            f"flowmachinegroups({group_id})", {"$select": "provisioningerror"}, operation="read_machines"
        )
        return group_provisioning_error(row)

    async def list_active_runs_on(self, *, group_id: str | None, machine_id: str | None, limit: int = 100) -> Page:
        """Waiting and running runs on one group (or standalone machine), oldest first: the queue as seen."""
        target = f"_machinegroupid_value eq {group_id}" if group_id else f"_machineid_value eq {machine_id}"
        params = {
            "$select": "flowsessionid,statuscode,createdon",
            "$filter": f"{target} and (statuscode eq 3 or statuscode eq 2)",
            "$orderby": "createdon asc",
        }
        headers = max_page_size(limit)
        return await self._get_page("flowsessions", params, None, headers=headers, operation="list_runs")

    async def list_runs_on_connection(self, connection: str, *, limit: int) -> list[Row]:
        """The latest runs sent through one connection, each with the machine and group it went to: Dataverse keeps
        no connection → machine link, so this is how to see what a connection reaches (doctor)."""
        params = {
            "$select": "flowsessionid,createdon,_machineid_value,_machinegroupid_value",
            "$filter": f"connectionid eq {string_literal(connection)}",
            "$orderby": "createdon desc",
            "$top": str(limit),
            "$expand": f"MachineId($select={MACHINE_COLUMNS}),MachineGroupId($select={GROUP_COLUMNS})",
        }
        return rows_of(await self._get_json("flowsessions", params, operation="list_runs"), "list_runs")

    async def list_action_logs(self, run_id: str, *, limit: int) -> list[Row]:
        """The run's last ``limit`` action logs (flowlog, V2), newest first; flat, as elastic tables want."""
        params = {
            "$select": "flowlogid,data,level,createdon",
            "$filter": f"_flowsessionid_value eq {run_id} and type eq {ACTION_LOG_TYPE}",
            "$orderby": "createdon desc",
            "$top": str(limit),
        }
        return rows_of(await self._get_json("flowlogs", params, operation="read_logs"), "read_logs")

    async def peek_action_logs(self) -> None:
        """One flowlog id: whether this identity may read action logs at all (check_access)."""
        await self._get_json("flowlogs", {"$select": "flowlogid", "$top": "1"}, operation="read_logs")

    async def get_log_settings(self) -> Row:
        """The environment's action-log settings (organization), which explain why a run has no logs."""
        params = {"$select": LOG_SETTINGS_COLUMNS, "$top": "1"}
        rows = rows_of(await self._get_json("organizations", params, operation="read_logs"), "read_logs")
        return rows[0] if rows else {}

    async def who_am_i(self) -> Row:
        return await self._get_json("WhoAmI", {}, operation="who_am_i")

    async def get_system_user(self, user_id: str) -> Row:
        """The Dataverse user behind WhoAmI's UserId (applicationid is set for application users)."""
        params = {"$select": "fullname,domainname,applicationid,isdisabled"}
        return await self._get_json(f"systemusers({user_id})", params, operation="who_am_i")
