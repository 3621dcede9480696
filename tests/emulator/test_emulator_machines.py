"""flowmachines and flowmachinegroups: columns, lookups, query options, navigation paths, heartbeats."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emulator_helpers import API, error_of

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

FINANCE_GROUP = "2f8c4a61-7d3e-4b9a-8e15-6c1d9f3a7b42"
CLAIMS_GROUP = "8a3d6e1f-4c9b-4a72-b5e8-1f7c3a9d2e60"
CITIZEN_GROUP = "c5e9b2d7-3a1f-4e6c-9d48-7b2a5f1c8e93"
WAREHOUSE_PC = "b8d3f6a2-4e7c-4b1d-9a53-6f2e8c4b1d97"
HOSTED_MACHINE = "1c7f4a9e-6b3d-4f2a-8e59-2a6d9c4f7b31"
MACHINE_LIST = "flowmachineid,name,statecode,statuscode,agentversion,lastheartbeatdate,sessioncapacity,hostingtype"
MEMOS = ("connectivityconfiguration", "machinemetadata", "hostedmachineerror")


async def rows(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["value"]


async def test_machines_list_with_the_columns_a_client_selects_ordered_by_name(client: httpx.AsyncClient) -> None:
    machines = await rows(client, "flowmachines", **{"$select": MACHINE_LIST, "$orderby": "name"})

    assert [m["name"] for m in machines] == [
        "CLM-BOT-01", "CLM-BOT-02", "FIN-BOT-01", "FIN-BOT-02", "FIN-BOT-03",
        "HOSTED-INV-01", "HR-PC-03", "OPS-WS-014", "WH-PC-07",
    ]  # fmt: skip
    assert set(machines[0]) == {"@odata.etag", *MACHINE_LIST.split(",")}
    by_name = {m["name"]: m for m in machines}
    assert (by_name["FIN-BOT-03"]["statecode"], by_name["FIN-BOT-03"]["statuscode"]) == (2, 4)
    assert (by_name["WH-PC-07"]["statecode"], by_name["WH-PC-07"]["statuscode"]) == (0, 1)
    assert by_name["HOSTED-INV-01"]["hostingtype"] == 1 and by_name["HOSTED-INV-01"]["statuscode"] == 12
    assert by_name["WH-PC-07"]["agentversion"] == "2.41.172.24033"


async def test_online_machines_keep_heartbeating_while_the_offline_one_stays_days_old(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    select = {"$select": "name,lastheartbeatdate", "$filter": "name eq 'FIN-BOT-01' or name eq 'WH-PC-07'"}
    before = {m["name"]: m["lastheartbeatdate"] for m in await rows(client, "flowmachines", **select)}
    await emulator.advance(3600)
    after = {m["name"]: m["lastheartbeatdate"] for m in await rows(client, "flowmachines", **select)}

    assert before["WH-PC-07"] == after["WH-PC-07"] == "2026-05-25T16:26:40Z"  # 3 d 4 h before start-up
    assert "2026-05-28T20:25:" in before["FIN-BOT-01"] and "2026-05-28T21:25:" in after["FIN-BOT-01"]


async def test_a_list_without_select_carries_the_large_internal_memo_columns(client: httpx.AsyncClient) -> None:
    everything = await client.get("flowmachines")
    selected = await client.get("flowmachines", params={"$select": MACHINE_LIST})

    assert len(everything.content) > 200_000 > 20 * len(selected.content)
    first = everything.json()["value"][0]
    assert all(column in first for column in MEMOS)
    assert len(first["machinemetadata"]) >= 20_000 and json.loads(first["machinemetadata"])["v"] == 3


async def test_the_hosted_machine_error_is_long_with_a_readable_first_line(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"flowmachines({HOSTED_MACHINE})", params={"$select": "hostedmachineerror,hostedmachinestate"}
    )

    body = response.json()
    assert body["hostedmachinestate"] == 2
    first_line, _, rest = body["hostedmachineerror"].partition("\n")
    assert first_line.startswith("HostedMachineProvisioningFailed: The custom VM image 'win11-rpa-v3'")
    assert len(rest) > 30_000


async def test_machines_of_a_group_filter_by_the_group_lookup(client: httpx.AsyncClient) -> None:
    finance = await rows(
        client, "flowmachines", **{"$filter": f"_flowmachinegroupid_value eq {FINANCE_GROUP}", "$select": "name"}
    )
    via_navigation = await rows(
        client, f"flowmachinegroups({FINANCE_GROUP})/flowmachinegroup_flowmachine", **{"$select": "name"}
    )

    assert sorted(m["name"] for m in finance) == ["FIN-BOT-01", "FIN-BOT-02", "FIN-BOT-03"]
    assert sorted(m["name"] for m in via_navigation) == ["FIN-BOT-01", "FIN-BOT-02", "FIN-BOT-03"]


async def test_groups_show_their_kind_and_the_hosted_one_its_provisioning_error(client: httpx.AsyncClient) -> None:
    select = "name,managementtype,flowgrouptype,provisioningstate,maxmanagedmachinecount,statecode,statuscode"
    groups = {g["name"]: g for g in await rows(client, "flowmachinegroups", **{"$select": select})}
    error = (await client.get(f"flowmachinegroups({CITIZEN_GROUP})", params={"$select": "provisioningerror"})).json()

    assert set(groups) == {"Finance bots", "Claims processing bots", "Citizen portal bots", "OPS-WS-014", "WH-PC-07",
                           "HR-PC-03", "HOSTED-INV-01"}  # fmt: skip
    assert (groups["Finance bots"]["managementtype"], groups["Finance bots"]["provisioningstate"]) == (0, None)
    citizen = groups["Citizen portal bots"]
    assert (citizen["managementtype"], citizen["provisioningstate"], citizen["maxmanagedmachinecount"]) == (1, 3, 2)
    assert groups["WH-PC-07"]["flowgrouptype"] == 545940002 and groups["Finance bots"]["flowgrouptype"] == 545940001
    assert error["provisioningerror"].startswith("HostedMachineGroupProvisioningFailed: The virtual network")
    assert await rows(client, f"flowmachinegroups({CITIZEN_GROUP})/flowmachinegroup_flowmachine") == []


async def test_a_groups_last_run_date_follows_the_runs_that_target_it(client: httpx.AsyncClient) -> None:
    response = await client.get(f"flowmachinegroups({CLAIMS_GROUP})", params={"$select": "lastrundate"})

    assert response.json()["lastrundate"] == "2026-05-28T20:23:40Z"  # the claim queued 3 min before start-up


async def test_machine_lists_page_with_maxpagesize_and_honour_top(client: httpx.AsyncClient) -> None:
    page_size = {"Prefer": "odata.maxpagesize=4"}
    first = await client.get("flowmachines", params={"$select": "name", "$orderby": "name"}, headers=page_size)
    second = await client.get(first.json()["@odata.nextLink"], headers=page_size)
    top = await rows(client, "flowmachines", **{"$select": "name", "$top": "2", "$orderby": "name desc"})

    assert first.headers["Preference-Applied"] == "odata.maxpagesize=4"
    assert [m["name"] for m in first.json()["value"]] == ["CLM-BOT-01", "CLM-BOT-02", "FIN-BOT-01", "FIN-BOT-02"]
    assert second.json()["value"][0]["name"] == "FIN-BOT-03" and "@odata.nextLink" in second.json()
    assert [m["name"] for m in top] == ["WH-PC-07", "OPS-WS-014"]


async def test_a_single_machine_says_entity_in_its_context_and_an_unknown_one_is_404(client: httpx.AsyncClient) -> None:
    found = await client.get(f"flowmachines({WAREHOUSE_PC.upper()})", params={"$select": "name"})
    missing = await client.get("flowmachines(00000000-0000-0000-0000-000000000001)")
    bad_column = await client.get("flowmachines", params={"$select": "name,online"})

    assert found.json()["@odata.context"] == f"{API}$metadata#flowmachines(name)/$entity"
    assert found.json()["name"] == "WH-PC-07"
    assert error_of(missing)[:2] == (404, "0x80040217")
    assert error_of(bad_column) == (
        400,
        "0x80060888",
        "Could not find a property named 'online' on type 'Microsoft.Dynamics.CRM.flowmachine'.",
    )


async def test_runs_of_a_machine_are_reachable_through_its_navigation_property(client: httpx.AsyncClient) -> None:
    runs = await rows(
        client, f"flowmachines({WAREHOUSE_PC})/flowmachine_flowsession_MachineId", **{"$select": "statuscode,name"}
    )

    assert [(r["flowsessionid"], r["statuscode"]) for r in runs] == [("3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71", 3)]
