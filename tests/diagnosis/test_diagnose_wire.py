"""diagnose_desktop_flow_run against a faked Dataverse (respx): the hosted-machine error read, the cached log
settings, a failing side read, and a run without a flow under an allow-list."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from tests.helpers import RUN_ID, connect, error_of, make_settings, ok, run_row

pytestmark = pytest.mark.anyio
MACHINE_ID = "1c7f4a9e-6b3d-4f2a-8e59-2a6d9c4f7b31"
HOSTED_MACHINE = {
    "flowmachineid": MACHINE_ID,
    "name": "HOSTED-INV-01",
    "statecode": 2,
    "statuscode": 12,
    "hostingtype": 1,
    "hostedmachinestate": 2,
    "sessioncapacity": 1,
}


def failed_on_hosted_machine(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "completedon": "2026-11-28T09:05:00Z",
        "errorcode": "SessionNotFound",
        "errormessage": "The session was lost.",
        "triggertype": 0,
        "_machineid_value": MACHINE_ID,
        "MachineId": HOSTED_MACHINE,
        "MachineGroupId": None,
    }
    return run_row(statuscode=8, **(fields | extra))


async def test_a_hosted_machine_in_error_is_read_once_for_its_error_and_log_settings_are_kept(
    dataverse: respx.MockRouter,
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=failed_on_hosted_machine())
    machine = dataverse.get(f"flowmachines({MACHINE_ID})").respond(
        json={"hostedmachineerror": "HostedMachineProvisioningFailed: image not shared.\nDiagnostics: {...}"}
    )
    dataverse.get("flowlogs").respond(json={"value": []})
    settings = dataverse.get("organizations").respond(json={"value": [{"desktopflowrunactionlogsstatus": 2}]})
    async with connect() as client:
        first = ok(await client.call_tool("diagnose_desktop_flow_run", {"run_id": RUN_ID}))
        ok(await client.call_tool("diagnose_desktop_flow_run", {"run_id": RUN_ID}))
    assert machine.calls.last.request.url.params["$select"] == "hostedmachineerror"
    assert first["machine"]["error"] == "HostedMachineProvisioningFailed: image not shared."
    assert first["machine"]["health"] == "error" and first["verdict"] == "failed_machine_or_session"
    assert "disabled" in first["action_log"]["note"]
    assert first["licence"]["finding"] == "Hosted machines and groups run unattended only."  # an attended run
    assert settings.call_count == 1


async def test_a_side_read_that_fails_for_another_reason_than_privileges_is_the_error(
    dataverse: respx.MockRouter,
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=failed_on_hosted_machine(MachineId=None))
    dataverse.get("flowlogs").respond(400, json={"error": {"code": "0x80060888", "message": "Bad query"}})
    dataverse.get("organizations").respond(json={"value": []})
    async with connect() as client:
        error = error_of(await client.call_tool("diagnose_desktop_flow_run", {"run_id": RUN_ID}))
    assert error["code"] == "invalid_argument" and "Bad query" in error["message"]


async def test_under_an_allow_list_a_run_without_a_flow_is_not_diagnosed(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row(_regardingobjectid_value=None))
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="Invoice entry")) as client:
        error = error_of(await client.call_tool("diagnose_desktop_flow_run", {"run_id": RUN_ID}))
    assert error["code"] == "flow_not_allowed"
    assert len(dataverse.calls) == 1
