"""$expand on navigation properties, and the 403s of an identity that may not read machines or logs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_helpers import API, api_client, error_of

from desktop_flows_mcp.emulator import RUN_ONLY_TOKEN, Emulator, Principal

pytestmark = pytest.mark.anyio

QUEUED_RUN = "6a1f8c3e-4d9b-4e7a-b2f5-3c8d6a1e9b52"
STUCK_RUN = "3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71"
FLOW_ERROR_RUN = "c7a2e9d1-4b6f-4f3a-8c25-9d1e3b7f5a64"
FINANCE_GROUP = "2f8c4a61-7d3e-4b9a-8e15-6c1d9f3a7b42"
RUN_ONLY_ID = "2c9e7a14-5b3d-4f8a-9e61-7d4b2a8c5f09"


def fields(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if not key.startswith("@")}


async def test_a_run_expands_its_machine_and_group_with_nested_select(client: httpx.AsyncClient) -> None:
    expand = "MachineId($select=name,lastheartbeatdate),MachineGroupId($select=name,managementtype)"

    response = await client.get(f"flowsessions({STUCK_RUN})", params={"$select": "statuscode", "$expand": expand})

    body = response.json()
    assert body["@odata.context"] == (
        f"{API}$metadata#flowsessions(statuscode,MachineId(name,lastheartbeatdate),"
        "MachineGroupId(name,managementtype))/$entity"
    )
    assert fields(body["MachineId"]) == {
        "flowmachineid": "b8d3f6a2-4e7c-4b1d-9a53-6f2e8c4b1d97",
        "name": "WH-PC-07",
        "lastheartbeatdate": "2026-05-25T16:26:40Z",
    }
    assert body["MachineId"]["@odata.etag"].startswith('W/"')
    assert body["MachineGroupId"] is None  # a standalone machine's run names no group


async def test_a_queued_run_names_its_group_but_no_machine_yet(client: httpx.AsyncClient) -> None:
    expand = "MachineId($select=name),MachineGroupId($select=name;$expand=flowmachinegroup_flowmachine($select=name))"

    body = (await client.get(f"flowsessions({QUEUED_RUN})", params={"$select": "statuscode", "$expand": expand})).json()

    assert body["statuscode"] == 3 and body["MachineId"] is None
    assert body["MachineGroupId"]["name"] == "Claims processing bots"
    assert sorted(m["name"] for m in body["MachineGroupId"]["flowmachinegroup_flowmachine"]) == [
        "CLM-BOT-01",
        "CLM-BOT-02",
    ]


async def test_a_run_list_expands_each_rows_machine(client: httpx.AsyncClient) -> None:
    params = {
        "$select": "statuscode,_machinegroupid_value",
        "$filter": f"_machinegroupid_value eq {FINANCE_GROUP} and statuscode eq 8",
        "$expand": "MachineId($select=name)",
        "$orderby": "createdon desc",
        "$top": "3",
    }

    runs = (await client.get("flowsessions", params=params)).json()["value"]

    assert len(runs) == 3
    assert all(run["_machinegroupid_value"] == FINANCE_GROUP for run in runs)
    assert {run["MachineId"]["name"] for run in runs if run["MachineId"]} <= {"FIN-BOT-01", "FIN-BOT-02"}


async def test_machines_expand_their_group_and_groups_their_machines_with_filter_order_and_top(
    client: httpx.AsyncClient,
) -> None:
    machine = await client.get(
        "flowmachines",
        params={"$select": "name", "$filter": "name eq 'FIN-BOT-03'", "$expand": "FlowMachineGroupId($select=name)"},
    )
    group = await client.get(
        f"flowmachinegroups({FINANCE_GROUP})",
        params={
            "$select": "name",
            "$expand": "flowmachinegroup_flowmachine($select=name;$filter=statecode eq 0;$orderby=name desc;$top=1)",
        },
    )

    assert machine.json()["value"][0]["FlowMachineGroupId"]["name"] == "Finance bots"
    assert [m["name"] for m in group.json()["flowmachinegroup_flowmachine"]] == ["FIN-BOT-02"]


async def test_a_run_expands_its_action_logs_oldest_first(client: httpx.AsyncClient) -> None:
    expand = "flowsession_flowlog_parentobjectid($select=name,level;$filter=type eq 100000001;$orderby=createdon asc)"

    logs = (await client.get(f"flowsessions({FLOW_ERROR_RUN})", params={"$expand": expand})).json()

    actions = logs["flowsession_flowlog_parentobjectid"]
    assert actions[0]["name"] == "Get files in folder"
    assert (actions[-1]["name"], actions[-1]["level"]) == ("Extract tables from PDF", 100000004)


UNKNOWN = "Could not find a property named '{}' on type 'Microsoft.Dynamics.CRM.{}'."
NOT_IN_EXPAND = "The query option '{}' is not supported in $expand of the navigation property '{}'. Use one of: {}."


@pytest.mark.parametrize(
    ("path", "expand", "message"),
    [
        ("flowsessions", "machineid", UNKNOWN.format("machineid", "flowsession")),
        ("flowsessions", "MachineId($top=1)", NOT_IN_EXPAND.format("$top", "MachineId", "$expand, $select")),
        (
            "flowmachinegroups",
            "flowmachinegroup_flowmachine($expand=FlowMachineGroupId)",
            NOT_IN_EXPAND.format("$expand", "flowmachinegroup_flowmachine", "$filter, $orderby, $select, $top"),
        ),
        ("flowmachines", "FlowMachineGroupId($select=nope)", UNKNOWN.format("nope", "flowmachinegroup")),
        ("flowlogs", "flowsessionid", UNKNOWN.format("flowsessionid", "flowlog")),
        ("workflows", "MachineId", UNKNOWN.format("MachineId", "workflow")),
    ],
)
async def test_a_wrong_expand_is_400_with_dataverses_message(
    client: httpx.AsyncClient, path: str, expand: str, message: str
) -> None:
    status, _, text = error_of(await client.get(path, params={"$expand": expand}))

    assert (status, text) == (400, message)


async def test_an_unbalanced_expand_is_a_syntax_error(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get("flowmachines", params={"$expand": "FlowMachineGroupId($select=name"}))[:2] == (
        400,
        "0x0",
    )


async def test_the_run_only_identity_gets_403_on_machines_groups_and_logs_naming_the_privilege(
    emulator: Emulator,
) -> None:
    async with api_client(emulator, RUN_ONLY_TOKEN) as client:
        answers = {
            path: error_of(await client.get(path))
            for path in (
                "flowmachines",
                f"flowmachinegroups({FINANCE_GROUP})",
                "flowlogs",
                f"flowmachinegroups({FINANCE_GROUP})/flowmachinegroup_flowmachine",
            )
        }
        organization = await client.get("organizations", params={"$select": "desktopflowrunactionlogsstatus"})

    assert answers["flowmachines"] == (
        403,
        "0x80040220",
        f"Principal user (Id={RUN_ONLY_ID}, type=8) is missing prvReadflowmachine privilege "
        "(Id=8c2f5a1e-7d4b-4e9a-b3c6-0a5d8f2e1b74) on OTC=10212 for entity 'flowmachine'.",
    )
    assert "missing prvReadflowmachinegroup privilege" in answers[f"flowmachinegroups({FINANCE_GROUP})"][2]
    assert "missing prvReadflowlog privilege" in answers["flowlogs"][2]
    assert answers[f"flowmachinegroups({FINANCE_GROUP})/flowmachinegroup_flowmachine"][0] == 403
    assert organization.status_code == 200


async def test_the_run_only_identity_reads_its_own_run_but_not_an_expansion_into_machines(emulator: Emulator) -> None:
    async with api_client(emulator, RUN_ONLY_TOKEN) as client:
        started = await client.post(
            "workflows(3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14)/Microsoft.Dynamics.CRM.RunDesktopFlow",
            json={"runMode": "unattended", "connectionName": "shared-uiflow-7f3c1a"},
        )
        run_id = started.json()["flowsessionId"]
        plain = await client.get(f"flowsessions({run_id})", params={"$select": "_machinegroupid_value"})
        expanded = await client.get(f"flowsessions({run_id})", params={"$expand": "MachineGroupId($select=name)"})

    assert plain.json()["_machinegroupid_value"] == FINANCE_GROUP
    assert error_of(expanded)[:2] == (403, "0x80040220")
    assert "prvReadflowmachinegroup" in error_of(expanded)[2]


async def test_logs_follow_the_runs_a_principal_may_read(emulator: Emulator) -> None:
    emulator.tokens["log-reader"] = Principal(
        "5d2b8e4f-1a7c-4d3e-9b6a-2f8c5e1d7a94", "Log reader", reads_all_runs=False
    )
    emulator.tokens["no-logs"] = Principal("7e4c1a9d-3b6f-4a2e-8d5c-9f1b7e3a6c28", "No logs", reads_logs=False)

    async with api_client(emulator, "log-reader") as client:
        own_logs = (await client.get("flowlogs", params={"$select": "name"})).json()["value"]
    async with api_client(emulator, "no-logs") as client:
        denied = error_of(await client.get("flowlogs"))
        machines = await client.get("flowmachines", params={"$select": "name"})

    assert own_logs == []  # it owns no runs, so it sees no run's logs
    assert denied[:2] == (403, "0x80040220") and "prvReadflowlog" in denied[2]
    assert machines.status_code == 200


async def test_expanding_into_an_unreadable_table_is_403_even_when_no_row_would_expand(emulator: Emulator) -> None:
    async with api_client(emulator, RUN_ONLY_TOKEN) as client:
        empty = await client.get("flowsessions", params={"$select": "statuscode"})
        expanded = await client.get("flowsessions", params={"$expand": "MachineId($select=name)"})

    assert empty.json()["value"] == []  # the run-only identity owns no runs yet
    assert error_of(expanded)[:2] == (403, "0x80040220") and "prvReadflowmachine " in error_of(expanded)[2]
