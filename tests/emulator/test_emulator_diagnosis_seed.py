"""The seed a run diagnosis needs: scenario runs with fixed ids, and demo flows that reach every verdict live."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emulator_helpers import INVOICE_FLOW, PERMIT_FLOW, StartRun

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

PICK_LISTS_FLOW = "c2a8e4f1-7b3d-4e6a-9f15-8d2c6b4a1e73"
CLAIM_FLOW = "4b9f1d6c-2e8a-4c7b-a5d3-9e1f7c2b8a46"
SUPPLIER_FLOW = "8d3c5a7e-6f2b-4d1a-b9e4-3a7c1f5d9b82"
TIMESHEETS_FLOW = "e5b1d9f3-8c4a-4f7e-a2b6-1d8e5c3f7a90"
CLAIMS_GROUP = "8a3d6e1f-4c9b-4a72-b5e8-1f7c3a9d2e60"
ROW = "statuscode,startedon,completedon,errorcode,errormessage,errordetails,triggertype,connectionid"
EXPAND = "MachineId($select=name),MachineGroupId($select=name)"


async def run_row(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"flowsessions({run_id})", params={"$select": ROW, "$expand": EXPAND})
    assert response.status_code == 200, response.text
    row = response.json()
    row["machine"] = row["MachineId"] and row["MachineId"]["name"]
    row["group"] = row["MachineGroupId"] and row["MachineGroupId"]["name"]
    return row


async def started(start_run: StartRun, flow_id: str, **body: Any) -> tuple[str, dict[str, Any]]:
    response = await start_run(flow_id, **body)
    assert response.status_code == 200, response.text
    return response.json()["flowsessionId"], response.json()["licenseCheck"]


# run id, statuscode, errorcode, machine, group, started, triggertype
SCENARIOS = [
    ("b1f0c3a4-6d2e-4c8b-9a17-3e5f7d9b1c20", 4, None, "FIN-BOT-*", "Finance bots", True, 0),
    ("c7a2e9d1-4b6f-4f3a-8c25-9d1e3b7f5a64", 8, "ActionFailed", "FIN-BOT-*", "Finance bots", True, 0),
    ("d4b8f2c6-1e9a-4d7b-a3f5-6c2e8a4d1b97", 8, "ActionFailed", "FIN-BOT-*", "Finance bots", True, 3),
    ("e8c3a5f7-2d1b-4e9c-b6a4-7f3d9c5e2a18", 8, "ActionFailed", "FIN-BOT-*", "Finance bots", True, 0),
    ("f2d6b8a3-5c4e-4a1f-9e72-8b4a6d2c7e35", 8, "NoCandidateMachine", None, "Citizen portal bots", False, 0),
    ("a9e4c7b2-8f3d-4b6a-9c51-2d7f4b8e6a03", 8, "WindowsIdentityIncorrect", "FIN-BOT-*", "Finance bots", False, 0),
    ("3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71", 3, None, "WH-PC-07", None, False, 0),
    ("7d5a1c8e-3f9b-4a2d-8e67-4b1d9a5c2f38", 8, "NoCandidateMachine", "HR-PC-03", None, False, 0),
    ("0a6c3e9f-1d5b-4f8a-a2c7-5e9b3d1f7a64", 2, None, "CLM-BOT-01", "Claims processing bots", True, 0),
    ("5f8b2d4a-9c6e-4b1f-8d3a-7c2e6a9f4b15", 2, None, "CLM-BOT-02", "Claims processing bots", True, 0),
    ("9c3e7a1d-5b8f-4d2c-b6e9-1a4f8c2d6e37", 3, None, None, "Claims processing bots", False, 0),
    ("2b7d4f9a-6e1c-4a8b-9f3d-8e5a2c7b1d46", 3, None, None, "Claims processing bots", False, 0),
    ("6a1f8c3e-4d9b-4e7a-b2f5-3c8d6a1e9b52", 3, None, None, "Claims processing bots", False, 0),
]


@pytest.mark.parametrize(
    ("run_id", "status", "code", "machine", "group", "was_started", "trigger"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
async def test_each_scenario_run_has_its_promised_shape(
    client: httpx.AsyncClient,
    run_id: str,
    status: int,
    code: str | None,
    machine: str | None,
    group: str | None,
    was_started: bool,
    trigger: int,
) -> None:
    row = await run_row(client, run_id)

    assert (row["statuscode"], row["errorcode"], row["group"], row["triggertype"]) == (status, code, group, trigger)
    assert (row["startedon"] is not None) == was_started
    if machine and machine.endswith("*"):
        assert row["machine"] in ("FIN-BOT-01", "FIN-BOT-02")
    else:
        assert row["machine"] == machine


async def test_failed_scenarios_carry_details_and_a_large_inner_error(client: httpx.AsyncClient) -> None:
    run_id = "f2d6b8a3-5c4e-4a1f-9e72-8b4a6d2c7e35"
    response = await client.get(f"flowsessions({run_id})", params={"$select": "errordetails,errorinnererror,createdon"})

    body = response.json()
    assert json.loads(body["errordetails"]) == {"machineGroup": "Citizen portal bots"}
    assert body["errorinnererror"].startswith("NoCandidateMachine: ") and len(body["errorinnererror"]) > 10_000


async def test_the_claims_queue_holds_three_waiting_runs_behind_two_running_ones(client: httpx.AsyncClient) -> None:
    waiting = f"_machinegroupid_value eq {CLAIMS_GROUP} and startedon eq null and statuscode eq 3"
    running = f"_machinegroupid_value eq {CLAIMS_GROUP} and statuscode eq 2"

    queue = (await client.get("flowsessions", params={"$filter": waiting, "$orderby": "createdon asc"})).json()
    busy = (await client.get("flowsessions", params={"$filter": running, "$select": "startedon"})).json()
    capacity = (
        await client.get(
            f"flowmachinegroups({CLAIMS_GROUP})/flowmachinegroup_flowmachine", params={"$select": "sessioncapacity"}
        )
    ).json()

    assert [row["flowsessionid"][:8] for row in queue["value"]] == ["9c3e7a1d", "2b7d4f9a", "6a1f8c3e"]
    assert len(busy["value"]) == sum(m["sessioncapacity"] for m in capacity["value"]) == 2


async def test_the_queued_claim_starts_when_the_runs_ahead_have_freed_a_machine(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    run_id = "6a1f8c3e-4d9b-4e7a-b2f5-3c8d6a1e9b52"

    await emulator.advance(34 * 60)
    before = await run_row(client, run_id)
    await emulator.advance(2 * 60)
    after = await run_row(client, run_id)

    assert (before["statuscode"], before["machine"]) == (3, None)
    assert (after["statuscode"], after["machine"], after["startedon"]) == (2, "CLM-BOT-01", "2026-05-28T21:01:40Z")


async def test_a_new_claim_queues_behind_everything_on_the_busy_group(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, licence = await started(start_run, CLAIM_FLOW, inputs={"ClaimNumber": "CLM-1"})

    waiting = await run_row(client, run_id)
    await emulator.advance(44 * 60)
    still = await run_row(client, run_id)
    await emulator.advance(2 * 60)
    running = await run_row(client, run_id)

    assert licence["code"] == "ValidLicenseCoverage"
    assert (waiting["statuscode"], waiting["group"], waiting["machine"]) == (3, "Claims processing bots", None)
    assert still["statuscode"] == 3
    assert (running["statuscode"], running["machine"]) == (2, "CLM-BOT-02")
    assert waiting["connectionid"] == "shared-uiflow-7f3c1a"  # the caller's connection is kept as sent


async def test_a_run_for_the_offline_machine_waits_six_hours_then_fails_no_candidate_machine(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, _ = await started(start_run, PICK_LISTS_FLOW)

    await emulator.advance(6 * 3600 - 1)
    waiting = await run_row(client, run_id)
    await emulator.advance(1)
    failed = await run_row(client, run_id)

    assert (waiting["statuscode"], waiting["machine"], waiting["group"]) == (3, "WH-PC-07", None)
    assert (failed["statuscode"], failed["errorcode"], failed["startedon"]) == (8, "NoCandidateMachine", None)
    assert "machine 'WH-PC-07', which is not connected" in failed["errormessage"]


async def test_any_flow_on_the_offline_machines_connection_stays_queued(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, _ = await started(start_run, INVOICE_FLOW, connectionName="shared-uiflow-4d1e90")
    await emulator.advance(3600)

    assert (await run_row(client, run_id))["statuscode"] == 3


async def test_the_permit_flow_fails_no_candidate_machine_on_the_hosted_group(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, _ = await started(start_run, PERMIT_FLOW)
    await emulator.advance(4)

    row = await run_row(client, run_id)
    assert (row["errorcode"], row["group"], row["machine"]) == ("NoCandidateMachine", "Citizen portal bots", None)


async def test_supplier_statements_fail_on_credentials_after_a_machine_was_assigned(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, _ = await started(start_run, SUPPLIER_FLOW)
    await emulator.advance(2)

    row = await run_row(client, run_id)
    assert (row["statuscode"], row["errorcode"], row["startedon"]) == (8, "WindowsIdentityIncorrect", None)
    assert row["machine"] in ("FIN-BOT-01", "FIN-BOT-02") and row["group"] == "Finance bots"


async def test_timesheets_fail_the_licence_check_unattended_and_only_warn_attended(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    unattended, unattended_check = await started(start_run, TIMESHEETS_FLOW, runMode="unattended")
    attended, attended_check = await started(start_run, TIMESHEETS_FLOW, runMode="attended")
    await emulator.advance(10)

    assert unattended_check["code"] == "UnattendedNoAddon" and "HR-PC-03" in unattended_check["message"]
    assert attended_check["code"] == "AttendedNoLicense"
    failed, succeeded = await run_row(client, unattended), await run_row(client, attended)
    assert (failed["statuscode"], failed["errorcode"], failed["machine"]) == (8, "NoCandidateMachine", "HR-PC-03")
    assert (succeeded["statuscode"], succeeded["machine"]) == (4, "HR-PC-03")


async def test_a_healthy_run_succeeds_on_an_online_finance_bot_with_a_valid_licence(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id, licence = await started(start_run, INVOICE_FLOW)
    waiting = await run_row(client, run_id)
    await emulator.advance(10)

    done = await run_row(client, run_id)
    assert licence == {
        "@odata.context": "#Microsoft.Dynamics.CRM.expando",
        "code": "ValidLicenseCoverage",
        "message": "Valid License Coverage",
    }
    assert (waiting["machine"], waiting["group"]) == (None, "Finance bots")
    assert done["statuscode"] == 4 and done["machine"] in ("FIN-BOT-01", "FIN-BOT-02")


@pytest.mark.parametrize(
    ("connection", "machine", "group"),
    [
        ("shared-uiflow-7f3c1a", None, "Finance bots"),
        ("shared-uiflow-2b9e44", "OPS-WS-014", None),
        ("shared-uiflow-4d1e90", "WH-PC-07", None),
        ("shared-uiflow-c35a02", None, "Claims processing bots"),
        ("shared-uiflow-91b7e6", None, "Citizen portal bots"),
        ("shared-uiflow-e6f208", "HR-PC-03", None),
    ],
)
async def test_every_connection_sends_runs_to_its_machine_or_group(
    client: httpx.AsyncClient, start_run: StartRun, connection: str, machine: str | None, group: str | None
) -> None:
    run_id, _ = await started(start_run, INVOICE_FLOW, connectionName=connection)

    row = await run_row(client, run_id)
    assert (row["machine"], row["group"]) == (machine, group)


async def test_no_run_ever_lands_on_the_machine_in_maintenance(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "flowsessions", params={"$select": "_machineid_value", "$expand": "MachineId($select=name)"}
    )

    names = {row["MachineId"]["name"] for row in response.json()["value"] if row["MachineId"]}
    assert "FIN-BOT-03" not in names
    assert {"FIN-BOT-01", "FIN-BOT-02", "OPS-WS-014", "CLM-BOT-01", "WH-PC-07"} <= names
