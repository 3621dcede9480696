"""Issue-9 guard rails: cursors bound to their arguments, the allow-list decided on ids (cancel included), read-only
means not runnable, an allow-list that lists nothing stops start-up, and 429s pause only their scope."""

from __future__ import annotations

import httpx
import pytest
import respx

from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.dataverse.client import DataverseClient, RunDesktopFlowRequest
from desktop_flows_mcp.dataverse.resilience import MAX_RETRY_AFTER, parse_retry_after
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import API, FLOW_ID, RUN_ID, FakeClock, connect, error_of, flow_row, make_settings, ok, run_row
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, full_stack

pytestmark = pytest.mark.anyio


async def test_a_cursor_given_with_other_arguments_is_refused() -> None:
    async with full_stack() as stack:
        page = ok(await stack.call("list_desktop_flows", {"search": "e", "limit": 2}))
        refused = error_of(await stack.call("list_desktop_flows", {"search": "a", "cursor": page["next_cursor"]}))
        same = ok(await stack.call("list_desktop_flows", {"search": "e", "cursor": page["next_cursor"]}))
        bare = ok(await stack.call("list_desktop_flows", {"cursor": page["next_cursor"]}))
        runs = ok(await stack.call("list_desktop_flow_runs", {"status": "Failed", "limit": 1}))
        other = error_of(
            await stack.call("list_desktop_flow_runs", {"status": "Succeeded", "cursor": runs["next_cursor"]})
        )
    assert refused["code"] == "invalid_argument" and "search='e'" in refused["message"]
    assert same["flows"] == bare["flows"]
    assert other["code"] == "invalid_argument"


async def test_cancel_refuses_a_run_of_a_flow_outside_the_allow_list_and_sends_no_cancel() -> None:
    async with full_stack(env={"DESKTOP_FLOWS_ALLOWED": "SAP vendor lookup"}) as stack:
        history = ok(await stack.call("list_desktop_flow_runs", {"flow": INVOICE_FLOW, "limit": 1}))
    async with full_stack(env={"DESKTOP_FLOWS_ALLOWED": "sap VENDOR lookup"}) as stack:
        started_elsewhere = history["runs"][0]["run_id"]
        refused = error_of(await stack.call("cancel_desktop_flow_run", {"run_id": started_elsewhere}))
    assert refused["code"] == "flow_not_allowed"
    assert not any(r.url.path.endswith("CancelDesktopFlowRun") for r in stack.wire.requests)


async def test_allow_list_names_match_in_any_case_but_never_fold_one_character_into_others(
    dataverse: respx.MockRouter,
) -> None:
    dataverse.get("workflows").respond(json={"value": [flow_row(name="Straße")]})
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="STRASSE")) as client:
        folded = ok(await client.call_tool("list_desktop_flows", {}))
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="STRAßE")) as client:
        cased = ok(await client.call_tool("list_desktop_flows", {}))
    assert folded["flows"][0]["runnable"] is False
    assert cased["flows"][0]["runnable"] is True


async def test_read_only_mode_reports_no_flow_as_runnable() -> None:
    async with full_stack(env={"DESKTOP_FLOWS_READ_ONLY": "true"}) as stack:
        flows = ok(await stack.call("list_desktop_flows", {}))["flows"]
    assert flows and not any(flow["runnable"] for flow in flows)


@pytest.mark.parametrize("value", [",", " , ,", ";"[:0] + ", "])
def test_an_allow_list_that_lists_nothing_stops_start_up(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DESKTOP_FLOWS_ALLOWED": value})
    assert "DESKTOP_FLOWS_ALLOWED" in str(caught.value)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("12", 12.0), ("86400", MAX_RETRY_AFTER), ("soon", 5.0), (None, 5.0), ("nan", 5.0), ("-3", 0.0)],
)
def test_retry_after_is_capped_and_an_unreadable_value_falls_back_to_a_default(
    header: str | None, seconds: float
) -> None:
    assert parse_retry_after(header) == seconds


async def test_a_run_429_pauses_runs_on_that_connection_only_and_reads_go_on() -> None:
    clock = FakeClock()
    run_path = f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow"
    with respx.mock(base_url=API, assert_all_called=False) as dataverse:
        throttled = dataverse.post(run_path).respond(
            429,
            headers={"Retry-After": "120"},
            json={"error": {"code": "0x80040216", "message": "DesktopFlowsActionThrottled"}},
        )
        reads = dataverse.get(f"flowsessions({RUN_ID})").respond(json=run_row())
        async with httpx.AsyncClient() as http:
            client = DataverseClient(http, "https://contoso.crm.dynamics.com", clock=clock)
            for connection in ("busy", "busy"):
                with pytest.raises(DesktopFlowsError) as caught:
                    await client.run_desktop_flow(
                        FLOW_ID,
                        RunDesktopFlowRequest(connection, "connection", "attended", INVOICE_INPUTS),
                    )
                assert caught.value.code is ErrorCode.THROTTLED
                assert caught.value.retry_after_seconds is not None and caught.value.retry_after_seconds > 100
            await client.get_flow_session(RUN_ID)  # reads are not paused by a run's 429
            throttled.respond(json={"flowsessionId": RUN_ID})
            other = await client.run_desktop_flow(
                FLOW_ID, RunDesktopFlowRequest("idle", "connection", "attended", INVOICE_INPUTS)
            )
    assert throttled.call_count == 2  # the second "busy" start waited on the gate and was refused unsent
    assert reads.call_count == 1 and other.run_id == RUN_ID
    assert not clock.sleeps
