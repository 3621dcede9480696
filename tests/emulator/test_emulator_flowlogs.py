"""flowlogs (action logs V2) and the organization's log settings that explain which runs have them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emulator_helpers import PDF_FLOW, StartRun, error_of

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

FLOW_ERROR_RUN = "c7a2e9d1-4b6f-4f3a-8c25-9d1e3b7f5a64"
API_STARTED_RUN = "d4b8f2c6-1e9a-4d7b-a3f5-6c2e8a4d1b97"
EXPIRED_LOGS_RUN = "e8c3a5f7-2d1b-4e9c-b6a4-7f3d9c5e2a18"
SUCCEEDED_RUN = "b1f0c3a4-6d2e-4c8b-9a17-3e5f7d9b1c20"
NO_CANDIDATE_RUN = "f2d6b8a3-5c4e-4a1f-9e72-8b4a6d2c7e35"
FIN_BOT_1, FIN_BOT_2 = "6d2a9f4c-1b7e-4c3a-a8d5-2e9f6b1c4a70", "9b4e1c7a-3f6d-4a2b-8c91-5d7a3e9f1b26"
LOG_SETTINGS = (
    "desktopflowrunactionlogsstatus,desktopflowrunactionlogversion,desktopflowrunactionlogverbosity,"
    "flowlogsttlinminutes,desktopflowqueuelogsttlinminutes"
)


async def logs_of(client: httpx.AsyncClient, run_id: str, **params: str) -> list[dict[str, Any]]:
    query = {"$filter": f"_flowsessionid_value eq {run_id} and type eq 100000001", **params}
    response = await client.get("flowlogs", params=query)
    assert response.status_code == 200, response.text
    return response.json()["value"]


async def test_the_organization_keeps_action_logs_on_failure_in_flow_logs_for_14_days(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("organizations", params={"$select": LOG_SETTINGS})

    [organization] = response.json()["value"]
    assert {key: value for key, value in organization.items() if not key.startswith("@")} == {
        "organizationid": "3f9a2d47-8c1e-4b6a-a5d0-7e2c9b4f1a86",
        "desktopflowrunactionlogsstatus": 1,
        "desktopflowrunactionlogversion": 1,
        "desktopflowrunactionlogverbosity": 0,
        "flowlogsttlinminutes": 20160,
        "desktopflowqueuelogsttlinminutes": 10080,
    }
    single = await client.get("organizations(3f9a2d47-8c1e-4b6a-a5d0-7e2c9b4f1a86)", params={"$select": "name"})
    assert single.json()["name"] == "Contoso (emulator)"


async def test_a_failed_cloud_flow_run_has_its_actions_in_time_order_ending_with_the_failed_one(
    client: httpx.AsyncClient,
) -> None:
    logs = await logs_of(client, FLOW_ERROR_RUN, **{"$orderby": "createdon asc", "$select": "data,level,createdon"})

    data = [json.loads(row["data"]) for row in logs]
    assert len(logs) == 32
    assert [entry["startTime"] for entry in data] == sorted(entry["startTime"] for entry in data)
    assert data[0] == {
        "name": "Get files in folder",
        "startTime": "2026-05-28T19:47:15.000Z",
        "endTime": "2026-05-28T19:47:17.968Z",
        "status": "Succeeded",
        "subflowName": "main",
        "actionIndex": 1,
    }
    assert (data[-1]["name"], data[-1]["status"], data[-1]["actionIndex"]) == ("Extract tables from PDF", "Failed", 7)
    assert "is password protected" in data[-1]["error"]
    assert [row["level"] for row in logs] == [100000002] * 31 + [100000004]


async def test_log_rows_point_at_run_flow_and_machine_and_come_in_no_order_without_orderby(
    client: httpx.AsyncClient,
) -> None:
    logs = await logs_of(client, FLOW_ERROR_RUN)

    first = logs[0]
    assert first["_parentobjectid_value"] == FLOW_ERROR_RUN and first["parentobjectididtype"] == "flowsession"
    assert first["_desktopflowid_value"] == PDF_FLOW
    assert first["_flowmachineid_value"] in (FIN_BOT_1, FIN_BOT_2)
    assert first["partitionid"] == f"flowsession_{FLOW_ERROR_RUN}"
    assert first["ttlinseconds"] == 1_209_600
    starts = [json.loads(row["data"])["startTime"] for row in logs]
    assert starts != sorted(starts)


async def test_the_runs_log_navigation_property_pages_like_any_collection(client: httpx.AsyncClient) -> None:
    path = f"flowsessions({FLOW_ERROR_RUN})/flowsession_flowlog_parentobjectid"
    page_size = {"Prefer": "odata.maxpagesize=20"}

    first = await client.get(path, params={"$orderby": "createdon desc", "$select": "name"}, headers=page_size)
    second = await client.get(first.json()["@odata.nextLink"], headers=page_size)

    assert first.json()["value"][0]["name"] == "Extract tables from PDF"
    assert [len(first.json()["value"]), len(second.json()["value"])] == [20, 12]
    assert first.json()["@odata.nextLink"].startswith(f"http://emulator.local/api/data/v9.2/{path}?")


@pytest.mark.parametrize(
    "run_id",
    [API_STARTED_RUN, EXPIRED_LOGS_RUN, SUCCEEDED_RUN, NO_CANDIDATE_RUN],
    ids=["started-through-the-api", "older-than-the-ttl", "succeeded-logs-kept-on-failure-only", "never-started"],
)
async def test_runs_without_action_logs(client: httpx.AsyncClient, run_id: str) -> None:
    assert await logs_of(client, run_id) == []


async def test_the_api_started_run_says_so_in_its_trigger_type(client: httpx.AsyncClient) -> None:
    api = (await client.get(f"flowsessions({API_STARTED_RUN})", params={"$select": "triggertype"})).json()
    cloud = (await client.get(f"flowsessions({FLOW_ERROR_RUN})", params={"$select": "triggertype"})).json()

    assert (api["triggertype"], cloud["triggertype"]) == (3, 0)


async def test_logs_vanish_when_their_time_to_live_runs_out(emulator: Emulator, client: httpx.AsyncClient) -> None:
    assert await logs_of(client, FLOW_ERROR_RUN, **{"$top": "1"})

    await emulator.advance(14 * 86_400)

    assert await logs_of(client, FLOW_ERROR_RUN) == []


async def test_history_keeps_logs_only_for_recent_failed_cloud_flow_runs(client: httpx.AsyncClient) -> None:
    failed = (
        await client.get(
            "flowsessions",
            params={"$select": "triggertype,errorcode,createdon", "$filter": "errorcode eq 'ActionFailed'"},
        )
    ).json()["value"]
    logged = {
        row["_flowsessionid_value"]
        for row in (await client.get("flowlogs", params={"$select": "_flowsessionid_value"})).json()["value"]
    }

    recent_cloud = {
        run["flowsessionid"] for run in failed if run["triggertype"] == 0 and run["createdon"] >= "2026-05-14T20:26:40Z"
    }
    assert logged == recent_cloud and len(logged) >= 2


async def test_a_run_started_now_through_the_web_api_never_gets_logs(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = (await start_run(PDF_FLOW)).json()["flowsessionId"]
    await emulator.advance(60)

    failed = (await client.get(f"flowsessions({run_id})", params={"$select": "statuscode,triggertype"})).json()
    assert (failed["statuscode"], failed["triggertype"]) == (8, 3)
    assert await logs_of(client, run_id) == []


async def test_a_single_log_row_reads_by_id_and_an_unknown_one_is_404(client: httpx.AsyncClient) -> None:
    [row] = await logs_of(client, FLOW_ERROR_RUN, **{"$top": "1", "$select": "name"})

    single = await client.get(f"flowlogs({row['flowlogid']})", params={"$select": "type"})
    missing = await client.get("flowlogs(00000000-0000-0000-0000-000000000001)")

    assert single.json()["type"] == 100000001
    assert error_of(missing)[:2] == (404, "0x80040217")
