"""Run lifecycle on a manual clock, flowsession reads and queries, outputs and cancellation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emulator_helpers import (
    API,
    INVOICE_FLOW,
    PDF_FLOW,
    PERMIT_FLOW,
    SALES_REPORT_FLOW,
    VENDOR_LOOKUP_FLOW,
    StartRun,
    error_of,
)

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

STATUS = "statuscode,statecode,startedon,completedon"


async def started(start_run: StartRun, flow_id: str = INVOICE_FLOW, **body: Any) -> str:
    response = await start_run(flow_id, **body)
    assert response.status_code == 200, response.text
    return response.json()["flowsessionId"]


async def status(client: httpx.AsyncClient, run_id: str, select: str = STATUS) -> dict[str, Any]:
    response = await client.get(f"flowsessions({run_id})", params={"$select": select})
    assert response.status_code == 200, response.text
    return {key: value for key, value in response.json().items() if not key.startswith("@")}


async def test_a_run_waits_then_runs_then_succeeds_with_timestamps_and_statecode_0(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, inputs={"InvoiceNumber": "INV-2026-0412", "Amount": 1249.5})

    waiting = await status(client, run_id)
    await emulator.advance(1)
    running = await status(client, run_id)
    await emulator.advance(3)
    done = await status(client, run_id)

    assert waiting == {
        "flowsessionid": run_id,
        "statuscode": 3,
        "statecode": 0,
        "startedon": None,
        "completedon": None,
    }
    assert running["statuscode"] == 2 and running["startedon"] == "2026-05-28T20:26:41Z"
    assert running["completedon"] is None
    assert done == {
        "flowsessionid": run_id,
        "statuscode": 4,
        "statecode": 0,
        "startedon": "2026-05-28T20:26:41Z",
        "completedon": "2026-05-28T20:26:44Z",
    }


async def test_the_status_response_matches_the_documented_example_shape(
    client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run)

    response = await client.get(f"flowsessions({run_id})", params={"$select": STATUS})

    body = response.json()
    assert body["@odata.context"] == f"{API}$metadata#flowsessions({STATUS})/$entity"
    assert list(body) == ["@odata.context", "@odata.etag", "flowsessionid", *STATUS.split(",")]


async def test_the_etag_changes_with_each_transition(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run)
    etags: list[str] = []
    for _ in range(3):
        etags.append((await client.get(f"flowsessions({run_id})")).json()["@odata.etag"])
        await emulator.advance(2)

    assert len(set(etags)) == 3


async def test_a_full_row_carries_the_run_details(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, runMode="attended", callbackUrl="https://hooks.example.com/done")

    row = (await client.get(f"flowsessions({run_id})")).json()

    assert row["runmode"] == 1 and row["triggertype"] == 3
    assert row["_regardingobjectid_value"] == INVOICE_FLOW
    assert row["connectionid"] == "shared-uiflow-7f3c1a"
    assert row["callbackurl"] == "https://hooks.example.com/done"
    assert row["_ownerid_value"] == "8d3f6b21-4c7a-4e9d-b2f8-1a6c5e9d3b70"
    assert row["name"] == "Enter invoices into legacy ERP"
    assert row["createdon"] == row["modifiedon"] == "2026-05-28T20:26:40Z"


async def test_outputs_are_computed_from_the_inputs_and_served_as_a_file(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(
        start_run, inputs={"InvoiceNumber": "INV-77", "Amount": "1,000.10", "PostImmediately": False}
    )
    await emulator.advance(10)

    response = await client.get(f"flowsessions({run_id})/outputs/$value")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="outputs.json"'
    assert response.headers["x-ms-file-name"] == "outputs.json"
    assert response.headers["x-ms-file-size"] == str(len(response.content))
    outputs = json.loads(response.content)
    assert outputs["PostedTotal"] == 1000.1 and outputs["Status"] == "Parked"
    assert outputs["DocumentNumber"].startswith("51") and len(outputs["DocumentNumber"]) == 10


async def test_the_vendor_lookup_returns_the_matching_record(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, VENDOR_LOOKUP_FLOW, inputs={"VendorName": "fabrikam", "CompanyCode": "2000"})
    await emulator.advance(5)

    outputs = (await client.get(f"flowsessions({run_id})/outputs/$value")).json()

    assert outputs["MatchCount"] == 1
    assert outputs["VendorRecord"]["Name"] == "Fabrikam Industrial GmbH"
    assert outputs["VendorRecord"]["CompanyCode"] == "2000"


async def test_outputs_of_an_unfinished_run_are_404(client: httpx.AsyncClient, start_run: StartRun) -> None:
    run_id = await started(start_run)

    status_code, code, message = error_of(await client.get(f"flowsessions({run_id})/outputs/$value"))

    assert (status_code, code) == (404, "0x80040217") and "No file attachment" in message


async def test_no_candidate_machine_fails_in_the_queue_without_ever_starting(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, PERMIT_FLOW)
    await emulator.advance(3)
    still_waiting = await status(client, run_id, "statuscode")
    await emulator.advance(1)

    failed = await status(client, run_id, f"{STATUS},errorcode,errormessage")

    assert still_waiting["statuscode"] == 3
    assert failed["statuscode"] == 8 and failed["statecode"] == 0
    assert failed["startedon"] is None and failed["completedon"] == "2026-05-28T20:26:44Z"
    assert failed["errorcode"] == "NoCandidateMachine"
    assert (await client.get(f"flowsessions({run_id})/outputs/$value")).status_code == 404


async def test_a_flow_error_fails_the_run_with_a_pad_style_message(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, PDF_FLOW, inputs={"FolderPath": "D:\\Scans\\"})
    await emulator.advance(5)

    failed = await status(client, run_id, "statuscode,startedon,errorcode,errormessage")

    assert failed["statuscode"] == 8 and failed["startedon"] is not None
    assert failed["errorcode"] == "ActionFailed"
    assert "D:\\Scans\\scan_0042.pdf" in failed["errormessage"]


async def test_the_callers_timeout_decides_whether_a_long_run_times_out(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    short = await started(start_run, SALES_REPORT_FLOW, timeout=30)
    long = await started(start_run, SALES_REPORT_FLOW, timeout=900)
    await emulator.advance(31)
    short_state = await status(client, short, "statuscode,startedon,completedon,errorcode")
    long_running = await status(client, long, "statuscode")
    await emulator.advance(600)

    assert short_state["statuscode"] == 10
    assert short_state["errorcode"] == "DesktopFlowsActionTimeout"
    assert short_state["completedon"] == "2026-05-28T20:27:11Z"  # started 20:26:41 + 30 s
    assert long_running["statuscode"] == 2
    assert (await status(client, long, "statuscode"))["statuscode"] == 4


async def test_cancelling_a_running_run_answers_204_and_marks_it_cancelled(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run, SALES_REPORT_FLOW)
    await emulator.advance(5)

    response = await client.post(f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")
    await emulator.advance(1000)

    assert response.status_code == 204 and response.content == b""
    assert response.headers["OData-Version"] == "4.0"
    cancelled = await status(client, run_id)
    assert cancelled["statuscode"] == 7 and cancelled["statecode"] == 0
    assert cancelled["startedon"] == "2026-05-28T20:26:41Z"
    assert cancelled["completedon"] == "2026-05-28T20:26:45Z"


async def test_cancelling_a_queued_run_leaves_it_never_started(client: httpx.AsyncClient, start_run: StartRun) -> None:
    run_id = await started(start_run)

    await client.post(f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")

    assert await status(client, run_id, "statuscode,startedon") == {
        "flowsessionid": run_id,
        "statuscode": 7,
        "startedon": None,
    }


async def test_cancelling_a_finished_run_is_400(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    run_id = await started(start_run)
    await emulator.advance(10)

    status_code, code, message = error_of(
        await client.post(f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")
    )

    assert (status_code, code) == (400, "0x80040203") and "already completed" in message
    assert (await status(client, run_id, "statuscode"))["statuscode"] == 4


async def test_an_unknown_run_is_404_with_the_entity_message(client: httpx.AsyncClient) -> None:
    unknown = "d9687093-d0c0-ec11-983e-0022480b428a"

    assert error_of(await client.get(f"flowsessions({unknown})")) == (
        404,
        "0x80040217",
        f"Entity 'flowsession' With Id = {unknown} Does Not Exist",
    )
    cancel = await client.post(f"flowsessions({unknown})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")
    assert cancel.status_code == 404


async def test_history_holds_weeks_of_runs_across_statuses(client: httpx.AsyncClient) -> None:
    response = await client.get("flowsessions", params={"$select": "statuscode,createdon,errorcode"})

    rows = response.json()["value"]
    assert len(rows) >= 40
    assert {4, 7, 8} <= {row["statuscode"] for row in rows}
    assert all(row["errorcode"] for row in rows if row["statuscode"] == 8)
    assert min(row["createdon"] for row in rows) < "2026-05-10"


async def test_runs_of_one_flow_filter_by_lookup_status_date_and_trigger_newest_first(
    emulator: Emulator, client: httpx.AsyncClient, start_run: StartRun
) -> None:
    first = await started(start_run)
    await emulator.advance(10)
    second = await started(start_run)
    await emulator.advance(10)
    filters = (
        f"_regardingobjectid_value eq {INVOICE_FLOW} and statuscode eq 4 "
        "and createdon ge 2026-05-28T00:00:00Z and triggertype eq 3"
    )

    response = await client.get(
        "flowsessions",
        params={"$filter": filters, "$orderby": "createdon desc", "$select": "createdon,statuscode"},
        headers={"Prefer": "odata.maxpagesize=1"},
    )

    body = response.json()
    assert [row["flowsessionid"] for row in body["value"]] == [second]
    following = (await client.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=1"})).json()
    assert [row["flowsessionid"] for row in following["value"]] == [first]
    assert "@odata.nextLink" not in following


async def test_history_outputs_are_available_for_succeeded_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("flowsessions", params={"$filter": "statuscode eq 4", "$top": "1"})
    run_id = response.json()["value"][0]["flowsessionid"]

    assert (await client.get(f"flowsessions({run_id})/outputs/$value")).status_code == 200
