"""The run tools end to end through the in-memory MCP client, with Dataverse faked by respx."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
import respx
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.server import build_server
from tests.helpers import (
    FLOW_ID,
    INPUT_SCHEMA,
    OTHER_FLOW_ID,
    OTHER_RUN_ID,
    RUN_ID,
    FakeClock,
    connect,
    error_of,
    flow_row,
    make_settings,
    ok,
    run_row,
)

pytestmark = pytest.mark.anyio

RUN_URL = f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow"
RUN_RESPONSE = {
    "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RunDesktopFlowResponse",
    "flowsessionId": RUN_ID,
    "licenseCheck": {"@odata.context": "#Microsoft.Dynamics.CRM.expando", "code": "ValidLicenseCoverage"},
}


def flow_routes(
    dataverse: respx.MockRouter, *, statecode: int = 1, schema: dict[str, Any] | None = None
) -> respx.Route:
    dataverse.get(f"workflows({FLOW_ID})").respond(json=flow_row(statecode=statecode))
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(text=json.dumps(schema or INPUT_SCHEMA))
    return dataverse.post(RUN_URL).respond(json=RUN_RESPONSE)


async def test_run_sends_inputs_as_a_json_string_and_returns_the_queued_run(dataverse: respx.MockRouter) -> None:
    run = flow_routes(dataverse)
    async with connect() as client:
        result = ok(
            await client.call_tool(
                "run_desktop_flow",
                {"flow": FLOW_ID, "inputs": {"InvoiceNumber": "INV-7", "Amount": 12.5}, "run_priority": "high"},
            )
        )
    assert json.loads(run.calls.last.request.content) == {
        "runMode": "attended",
        "runPriority": "high",
        "connectionName": "conn-1",
        "timeout": 7200,
        "inputs": '{"InvoiceNumber":"INV-7","Amount":12.5}',
    }
    assert result["run_id"] == RUN_ID
    assert result["status"] == "Waiting"
    assert result["is_terminal"] is False
    assert result["license_check"] == "ValidLicenseCoverage"
    assert result["reused"] is False
    assert "wait_for_desktop_flow_run" in result["hint"]


async def test_a_connection_reference_is_sent_as_connection_type_2_with_a_callback(dataverse: respx.MockRouter) -> None:
    run = flow_routes(dataverse)
    args = {
        "flow": FLOW_ID,
        "connection_name": "cr_finance_desktop",
        "connection_type": "connection_reference",
        "run_mode": "unattended",
        "timeout_seconds": 600,
        "callback_url": "https://hooks.contoso.com/flows/done",
    }
    async with connect() as client:
        ok(await client.call_tool("run_desktop_flow", args))
    body = json.loads(run.calls.last.request.content)
    assert body["connectionType"] == 2
    assert body["connectionName"] == "cr_finance_desktop"
    assert body["runMode"] == "unattended"
    assert body["timeout"] == 600
    assert body["callbackUrl"] == "https://hooks.contoso.com/flows/done"
    assert body["inputs"] == "{}"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        ({"inputs": {"Invoice": "x"}}, "invalid_argument", "unknown input(s) 'Invoice'"),
        ({"inputs": {"Amount": "12"}}, "invalid_argument", "input 'Amount' must be a number"),
        ({"callback_url": "http://hooks.contoso.com/x"}, "invalid_argument", "must use https"),
        ({"callback_url": "https://127.0.0.1/x"}, "invalid_argument", "not localhost or an IP address"),
        ({"callback_url": "https://localhost/x"}, "invalid_argument", "not localhost or an IP address"),
        ({"inputs": {"InvoiceNumber": "x" * (2 * 1024 * 1024)}}, "input_too_large", "2 MB"),
    ],
)
async def test_bad_run_arguments_are_refused_before_any_run_request(
    dataverse: respx.MockRouter, args: dict[str, Any], code: str, fragment: str
) -> None:
    run = flow_routes(dataverse)
    async with connect() as client:
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID, **args}))
    assert error["code"] == code
    assert fragment in error["message"]
    assert not run.called


async def test_a_flow_outside_the_allow_list_is_refused_without_any_request(dataverse: respx.MockRouter) -> None:
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED=OTHER_FLOW_ID)) as client:
        by_id = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="Vendor lookup")) as client:
        by_name = error_of(await client.call_tool("run_desktop_flow", {"flow": "Invoice entry"}))
    assert by_id["code"] == by_name["code"] == "flow_not_allowed"
    assert "list_desktop_flows" in by_id["hint"]
    assert not dataverse.calls


async def test_an_allow_list_of_names_checks_a_flow_given_by_id_after_looking_it_up(
    dataverse: respx.MockRouter,
) -> None:
    run = flow_routes(dataverse)
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="Vendor lookup")) as client:
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
    assert error["code"] == "flow_not_allowed"
    assert not run.called
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="invoice entry")) as client:
        ok(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
    assert run.call_count == 1


async def test_a_draft_flow_cannot_run(dataverse: respx.MockRouter) -> None:
    run = flow_routes(dataverse, statecode=0)
    async with connect() as client:
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
    assert error["code"] == "invalid_argument"
    assert "draft" in error["message"]
    assert not run.called


async def test_no_connection_anywhere_is_a_clear_error(dataverse: respx.MockRouter) -> None:
    settings = make_settings(DESKTOP_FLOWS_CONNECTION="")
    async with connect(settings) as client:
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
    assert error["code"] == "invalid_argument"
    assert "list_connection_references" in error["hint"]
    assert not dataverse.calls


async def test_the_same_idempotency_key_returns_the_first_run_without_a_second_request(
    dataverse: respx.MockRouter,
) -> None:
    run = flow_routes(dataverse)
    args = {"flow": FLOW_ID, "inputs": {"Amount": 3}, "idempotency_key": "order-42"}
    async with connect() as client:
        first = ok(await client.call_tool("run_desktop_flow", args))
        again = ok(await client.call_tool("run_desktop_flow", args))
        changed = error_of(await client.call_tool("run_desktop_flow", {**args, "inputs": {"Amount": 4}}))
    assert run.call_count == 1
    assert again["run_id"] == first["run_id"] == RUN_ID
    assert again["reused"] is True
    assert changed["code"] == "conflict"


async def test_run_with_wait_returns_the_finished_run_and_its_outputs(dataverse: respx.MockRouter) -> None:
    flow_routes(dataverse)
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[
            httpx.Response(200, json=run_row(statuscode=3, startedon=None)),
            httpx.Response(200, json=run_row(statuscode=4, completedon="2026-11-28T09:01:00Z")),
        ]
    )
    dataverse.get(f"flowsessions({RUN_ID})/outputs/$value").respond(content=b'{"DocumentNumber": "5100000042"}')
    clock = FakeClock()
    async with connect(clock=clock) as client:
        result = ok(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID, "wait_seconds": 30}))
    assert result["status"] == "Succeeded"
    assert result["is_terminal"] is True
    assert result["outputs"] == {"DocumentNumber": "5100000042"}
    assert result["flow_name"] == "Invoice entry"
    assert clock.sleeps == [2.0, 2.0]  # a run started moments ago is first read one poll interval later


async def test_a_run_only_identity_gets_its_run_id_even_when_it_cannot_read_status(
    dataverse: respx.MockRouter,
) -> None:
    flow_routes(dataverse)
    dataverse.get(f"flowsessions({RUN_ID})").respond(
        403, json={"error": {"code": "0x80040220", "message": "missing prvReadflowsession privilege"}}
    )
    async with connect() as client:
        result = ok(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID, "wait_seconds": 5}))
    assert result["run_id"] == RUN_ID
    assert "Owner" in result["hint"]


async def test_get_run_reports_status_by_statuscode_and_a_hint_for_known_failures(dataverse: respx.MockRouter) -> None:
    route = dataverse.get(f"flowsessions({RUN_ID})").respond(
        json=run_row(
            statuscode=8,
            statecode=0,
            completedon="2026-11-28T15:00:00Z",
            errorcode="NoCandidateMachine",
            errormessage="No machine was available to run the desktop flow.",
        )
    )
    async with connect() as client:
        result = ok(await client.call_tool("get_desktop_flow_run", {"run_id": RUN_ID}))
    assert route.calls.last.request.url.params["$select"].startswith("flowsessionid,statuscode,statecode")
    assert result["status"] == "Failed"
    assert result["status_code"] == 8
    assert result["is_terminal"] is True  # statecode 0 says nothing about completion
    assert result["run_mode"] == "attended"
    assert result["error"]["code"] == "NoCandidateMachine"
    assert result["error"]["retryable"] is True
    assert "machine" in result["error"]["hint"]


async def test_reading_a_run_without_owner_privileges_explains_why(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(
        403, json={"error": {"code": "0x80040220", "message": "Principal user is missing prvReadflowsession"}}
    )
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_run", {"run_id": RUN_ID}))
    assert error["code"] == "permission_denied"
    assert "Owner" in error["hint"] and "User" in error["hint"]


@pytest.mark.parametrize("run_id", ["42", "d9687093-d0c0-ec11-983e-0022480b428a)/x", "../workflows", "' or 1 eq 1"])
async def test_run_ids_that_are_not_guids_send_nothing(dataverse: respx.MockRouter, run_id: str) -> None:
    async with connect() as client:
        for tool in ("get_desktop_flow_run", "get_desktop_flow_run_outputs", "wait_for_desktop_flow_run"):
            assert error_of(await client.call_tool(tool, {"run_id": run_id}))["code"] == "invalid_argument"
    assert not dataverse.calls


async def test_outputs_are_parsed_as_json_or_returned_as_text(dataverse: respx.MockRouter) -> None:
    route = dataverse.get(f"flowsessions({RUN_ID})/outputs/$value")
    route.respond(content=b'{"Output1": "My output value"}')
    other = dataverse.get(f"flowsessions({OTHER_RUN_ID})/outputs/$value").respond(content=b"plain text result")
    async with connect() as client:
        parsed = ok(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": RUN_ID}))
        text = ok(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": OTHER_RUN_ID}))
        again = ok(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": RUN_ID}))
    assert again == parsed and route.call_count == 1 and other.call_count == 1  # a finished run's outputs are kept
    assert parsed == {"run_id": RUN_ID, "outputs": {"Output1": "My output value"}}
    assert text["outputs"] == "plain text result"
    assert "not JSON" in text["note"]
    assert "OData-Version" not in route.calls.last.request.headers


async def test_no_outputs_yet_is_an_empty_object_and_a_note_once_the_run_exists(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})/outputs/$value").respond(
        404, json={"error": {"code": "0x80040217", "message": "No file"}}
    )
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row(statuscode=2))
    async with connect() as client:
        result = ok(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": RUN_ID}))
    assert result["outputs"] == {}
    assert "Running" in result["note"]


async def test_outputs_of_a_run_that_does_not_exist_are_not_found(dataverse: respx.MockRouter) -> None:
    missing = {"error": {"code": "0x80040217", "message": f"Entity 'flowsession' With Id = {RUN_ID} Does Not Exist"}}
    dataverse.get(f"flowsessions({RUN_ID})/outputs/$value").respond(404, json=missing)
    dataverse.get(f"flowsessions({RUN_ID})").respond(404, json=missing)
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": RUN_ID}))
    assert error["code"] == "not_found"
    assert "list_desktop_flow_runs" in error["hint"]


async def test_cancel_posts_the_action_and_reports_the_new_status(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[httpx.Response(200, json=run_row(statuscode=2)), httpx.Response(200, json=run_row(statuscode=7))]
    )
    cancel = dataverse.post(f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun").respond(204)
    async with connect() as client:
        result = ok(await client.call_tool("cancel_desktop_flow_run", {"run_id": RUN_ID}))
    assert cancel.call_count == 1
    assert result == {"run_id": RUN_ID, "cancelled": True, "status": "Cancelled"}


async def test_cancelling_a_finished_run_is_a_conflict_and_sends_no_cancel(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row(statuscode=4))
    cancel = dataverse.post(f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun").respond(204)
    async with connect() as client:
        error = error_of(await client.call_tool("cancel_desktop_flow_run", {"run_id": RUN_ID}))
    assert error["code"] == "conflict"
    assert "Succeeded" in error["message"]
    assert not cancel.called


async def test_wait_polls_with_backoff_and_reports_progress_until_success(dataverse: respx.MockRouter) -> None:
    statuses = [3, 3, 2, 2, 4]
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[httpx.Response(200, json=run_row(statuscode=s)) for s in statuses]
    )
    dataverse.get(f"flowsessions({RUN_ID})/outputs/$value").respond(content=b'{"Total": 3}')
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    clock = FakeClock()
    async with connect(clock=clock) as client:
        result = ok(
            await client.call_tool(
                "wait_for_desktop_flow_run", {"run_id": RUN_ID, "timeout_seconds": 60}, progress_callback=on_progress
            )
        )
    assert result["status"] == "Succeeded"
    assert result["outputs"] == {"Total": 3}
    assert clock.sleeps == [2.0, 3.0, 4.5, 6.75]
    assert [m for _, _, m in seen] == [
        f"Run {RUN_ID} is {s}" for s in ["Waiting", "Waiting", "Running", "Running", "Succeeded"]
    ]
    assert [d for d, _, _ in seen] == [0.0, 2.0, 5.0, 9.5, 16.25]
    assert {t for _, t, _ in seen} == {60}


async def test_wait_returns_the_current_state_at_the_deadline_without_an_error(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row(statuscode=2))
    clock = FakeClock()
    async with connect(clock=clock) as client:
        result = ok(await client.call_tool("wait_for_desktop_flow_run", {"run_id": RUN_ID, "timeout_seconds": 10}))
    assert result["is_terminal"] is False
    assert result["status"] == "Running"
    assert "wait_for_desktop_flow_run again" in result["hint"]
    assert sum(clock.sleeps) == pytest.approx(10)


async def test_list_runs_by_flow_name_and_status_newest_first(dataverse: respx.MockRouter) -> None:
    dataverse.get("workflows").respond(json={"value": [flow_row()]})
    runs = dataverse.get("flowsessions").respond(json={"value": [run_row(statuscode=8), run_row(OTHER_FLOW_ID, 8)]})
    async with connect() as client:
        result = ok(
            await client.call_tool("list_desktop_flow_runs", {"flow": "Invoice entry", "status": "Failed", "limit": 2})
        )
    params = runs.calls.last.request.url.params
    assert params["$filter"] == f"_regardingobjectid_value eq {FLOW_ID} and statuscode eq 8"
    assert params["$orderby"] == "createdon desc"
    assert [r["run_id"] for r in result["runs"]] == [RUN_ID, OTHER_FLOW_ID]
    assert "next_cursor" not in result


async def test_read_only_mode_does_not_register_run_or_cancel() -> None:
    async with connect(make_settings(DESKTOP_FLOWS_READ_ONLY="true")) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("run_desktop_flow", {"flow": FLOW_ID})
    assert "run_desktop_flow" not in names and "cancel_desktop_flow_run" not in names
    assert "list_desktop_flows" in names
    assert result.is_error


async def test_cancelling_a_wait_stops_the_waiting_but_never_cancels_the_run(dataverse: respx.MockRouter) -> None:
    status = dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row(statuscode=2))
    cancel = dataverse.post(f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun").respond(204)
    polled = anyio.Event()
    server_cancelled = anyio.Event()

    async def sleep(seconds: float) -> None:
        polled.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            server_cancelled.set()
            raise

    server = build_server(App(make_settings(), clock=Clock(monotonic=FakeClock(), sleep=sleep)))
    async with Client(server) as client:
        with anyio.CancelScope() as scope:

            async def give_up_after_first_poll() -> None:
                await polled.wait()
                scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(give_up_after_first_poll)
                await client.call_tool("wait_for_desktop_flow_run", {"run_id": RUN_ID})
        with anyio.fail_after(5):
            await server_cancelled.wait()
    assert status.call_count == 1
    assert not cancel.called


async def test_starting_and_cancelling_write_one_audit_line_each_without_input_values(
    dataverse: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    flow_routes(dataverse)
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[
            httpx.Response(200, json=run_row(statuscode=3, connectionid="conn-1")),
            httpx.Response(200, json=run_row(statuscode=7)),
        ]
    )
    dataverse.post(f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun").respond(204)
    caplog.set_level("INFO", logger="desktop_flows_mcp.audit")
    async with connect() as client:
        ok(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID, "inputs": {"InvoiceNumber": "SECRET-42"}}))
        ok(await client.call_tool("cancel_desktop_flow_run", {"run_id": RUN_ID}))
    lines = [r.getMessage() for r in caplog.records if r.name == "desktop_flows_mcp.audit"]
    assert lines == [
        f"run started flow_id={FLOW_ID} flow='Invoice entry' run_id={RUN_ID} connection='conn-1' run_mode=attended "
        "inputs_bytes=29",
        f"run cancelled flow_id={FLOW_ID} run_id={RUN_ID} connection='conn-1' run_mode=attended "
        "previous_status=Waiting",
    ]
    assert "SECRET-42" not in caplog.text


async def test_a_run_start_decides_the_allow_list_on_the_flow_as_it_is_now_not_as_cached(
    dataverse: respx.MockRouter,
) -> None:
    """A flow renamed off the allow-list or unpublished moments ago is refused at once; one row read per start."""
    run = flow_routes(dataverse)
    row = dataverse.get(f"workflows({FLOW_ID})").respond(json=flow_row())
    by_name = dataverse.get(path__regex=r"/workflows$").respond(json={"value": [flow_row()]})
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="invoice entry")) as client:
        ok(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
        ok(await client.call_tool("run_desktop_flow", {"flow": "Invoice entry"}))
        reads = row.call_count + by_name.call_count
        row.respond(json=flow_row(name="Invoice entry (retired)"))
        by_name.respond(json={"value": []})
        renamed = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
        renamed_by_name = error_of(await client.call_tool("run_desktop_flow", {"flow": "Invoice entry"}))
        row.respond(json=flow_row(statecode=0))
        by_name.respond(json={"value": [flow_row(statecode=0)]})
        unpublished = error_of(await client.call_tool("run_desktop_flow", {"flow": FLOW_ID}))
        unpublished_by_name = error_of(await client.call_tool("run_desktop_flow", {"flow": "Invoice entry"}))
    assert reads == 2  # each start read the flow's row once (the schema came from the cache the second time)
    assert run.call_count == 2
    assert renamed["code"] == "flow_not_allowed"
    assert renamed_by_name["code"] == "not_found"
    assert "draft" in unpublished["message"] and "draft" in unpublished_by_name["message"]
