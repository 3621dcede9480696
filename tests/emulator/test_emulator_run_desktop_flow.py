"""RunDesktopFlow: the documented response, parameter validation, connections and the 70/min limit."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from emulator_helpers import (
    API,
    CLOUD_FLOW,
    DRAFT_FLOW,
    INVOICE_FLOW,
    SUSPENDED_FLOW,
    StartRun,
    error_of,
)

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

RUN = f"workflows({INVOICE_FLOW})/Microsoft.Dynamics.CRM.RunDesktopFlow"


async def test_a_run_starts_with_the_documented_response(start_run: StartRun) -> None:
    response = await start_run(inputs={"InvoiceNumber": "INV-1"}, runPriority="normal", timeout=7200)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.RunDesktopFlowResponse",
        "flowsessionId": body["flowsessionId"],
        "licenseCheck": {
            "@odata.context": "#Microsoft.Dynamics.CRM.expando",
            "code": "ValidLicenseCoverage",
            "message": "Valid License Coverage",
        },
    }
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["flowsessionId"])


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"connectionName": None}, "0x80040203", "'connectionName' is required"),
        ({"runMode": ""}, "0x80040203", "'runMode' is required"),
        ({"runMode": "background"}, "0x80040203", "Invalid runMode 'background'"),
        ({"raw_inputs": {"InvoiceNumber": "INV-1"}}, "0x0", "'StartObject' node"),
        ({"raw_inputs": ["INV-1"]}, "0x0", "'StartArray' node"),
        ({"raw_inputs": "InvoiceNumber=INV-1"}, "0x80040203", "not valid JSON"),
        ({"raw_inputs": "[1, 2]"}, "0x80040203", "must be a JSON object"),
        ({"timeout": 0}, "0x80040203", "between 1 and 86400"),
        ({"timeout": 86401}, "0x80040203", "between 1 and 86400"),
        ({"timeout": "7200"}, "0x0", "'Edm.Int32'"),
        ({"connectionType": 3}, "0x80040203", "Invalid connectionType 3"),
        ({"connectionname": "x"}, "0x0", "'connectionname' in the request payload is not a valid parameter"),
        ({"connectionName": "shared-uiflow-000000"}, "0x80040203", "'shared-uiflow-000000' was not found"),
        ({"callbackUrl": "/relative/path"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://exa mple.com"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://exa%20mple.com/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://exa\u3000mple.com/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://hooks.example.com/a b"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://hooks.example.com\t/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://hooks_1.example.com/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://hooks.example.com:99999/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "https://user:pw@hooks.example.com/done"}, "0x80040203", "Invalid callbackUrl"),
        ({"callbackUrl": "ftp://hooks.example.com/done"}, "0x80040203", "Invalid callbackUrl"),
    ],
)
async def test_invalid_parameters_are_rejected_with_a_dataverse_error(
    start_run: StartRun, body: dict[str, Any], code: str, fragment: str
) -> None:
    status, actual_code, message = error_of(await start_run(**body))

    assert (status, actual_code) == (400, code)
    assert fragment in message


async def test_inputs_over_2_mb_of_utf8_are_rejected_but_2_mb_exactly_is_accepted(
    start_run: StartRun,
) -> None:
    overhead = len(json.dumps({"InvoiceNumber": ""}))
    fits = {"InvoiceNumber": "x" * (2 * 1024 * 1024 - overhead)}
    too_big = {"InvoiceNumber": "ä" * (1024 * 1024)}  # 1 Mi characters, 2 MiB + overhead of UTF-8

    assert (await start_run(inputs=fits)).status_code == 200
    status, code, message = error_of(await start_run(inputs=too_big))
    assert (status, code) == (400, "0x80040203") and "2 MB" in message


async def test_run_mode_is_case_insensitive_and_custom_priorities_are_accepted(start_run: StartRun) -> None:
    assert (await start_run(runMode="Attended", runPriority="Urgent-Month-End")).status_code == 200


async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(RUN, content=b"runMode=attended")

    assert error_of(response)[:2] == (400, "0x0")


async def test_a_connection_reference_resolves_to_its_connection(
    client: httpx.AsyncClient, start_run: StartRun
) -> None:
    started = await start_run(connectionName="contoso_DesktopFlowsOpsWorkstation", connectionType=2)

    run = await client.get(f"flowsessions({started.json()['flowsessionId']})", params={"$select": "connectionid"})
    assert run.json()["connectionid"] == "shared-uiflow-2b9e44"


@pytest.mark.parametrize(
    ("reference", "status", "code"),
    [
        ("contoso_Missing", 404, "0x80060891"),
        ("contoso_DesktopFlowsUnbound", 400, "0x80040203"),
        ("contoso_SharePointOnline", 400, "0x80040203"),
    ],
)
async def test_unusable_connection_references_are_rejected(
    start_run: StartRun, reference: str, status: int, code: str
) -> None:
    assert error_of(await start_run(connectionName=reference, connectionType=2))[:2] == (status, code)


async def test_drafts_suspended_flows_and_cloud_flows_cannot_be_run(
    client: httpx.AsyncClient, start_run: StartRun
) -> None:
    draft_hidden = await start_run(DRAFT_FLOW)
    draft_shown = await client.post(
        f"workflows({DRAFT_FLOW})/Microsoft.Dynamics.CRM.RunDesktopFlow",
        json={"runMode": "attended", "connectionName": "shared-uiflow-7f3c1a"},
        headers={"MSCRM.IncludeUnpublished": "true"},
    )

    assert error_of(draft_hidden)[:2] == (404, "0x80040217")
    assert error_of(draft_shown)[:2] == (400, "0x80040203")
    assert "suspended" in error_of(await start_run(SUSPENDED_FLOW))[2]
    assert "not a desktop flow" in error_of(await start_run(CLOUD_FLOW))[2]


async def test_the_71st_run_on_a_connection_within_a_minute_is_throttled_until_the_window_moves(
    emulator: Emulator, start_run: StartRun
) -> None:
    for _ in range(70):
        assert (await start_run()).status_code == 200
    await emulator.advance(20)

    throttled = await start_run()
    other_connection = await start_run(connectionName="shared-uiflow-2b9e44")
    await emulator.advance(40)
    after_window = await start_run()

    status, code, message = error_of(throttled)
    assert (status, code) == (429, "0x8005F103")
    assert message.startswith("DesktopFlowsActionThrottled")
    assert throttled.headers["Retry-After"] == "40"
    assert other_connection.status_code == 200
    assert after_window.status_code == 200


async def test_throttling_counts_runs_by_the_connection_a_reference_resolves_to(
    start_run: StartRun,
) -> None:
    for _ in range(70):
        await start_run()

    via_reference = await start_run(connectionName="contoso_DesktopFlowsFinanceBots", connectionType=2)

    assert via_reference.status_code == 429
