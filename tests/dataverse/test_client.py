"""The Dataverse client, pinned at the wire: method, URL, query, headers and body of every call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from desktop_flows_mcp.auth import BearerAuth, StaticTokenProvider
from desktop_flows_mcp.dataverse.client import DataverseClient, RunDesktopFlowRequest
from desktop_flows_mcp.dataverse.resilience import RunRateLimiter
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import API, ENV_URL, FLOW_ID, RUN_ID, TOKEN, FakeClock, flow_row, run_row

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(dataverse: respx.MockRouter, clock: FakeClock) -> AsyncIterator[DataverseClient]:
    async with httpx.AsyncClient(auth=BearerAuth(StaticTokenProvider(TOKEN))) as http:
        yield DataverseClient(
            http,
            ENV_URL,
            clock=clock,
            rng=lambda: 0.5,
            run_limiter=RunRateLimiter(clock=clock),
        )


RUN_REQUEST = RunDesktopFlowRequest(connection_name="c", connection_type="connection", run_mode="attended", inputs={})


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def dataverse_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


async def test_list_desktop_flows_sends_the_documented_query_and_odata_headers(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.get("workflows").respond(json={"value": [flow_row()]})
    page = await client.list_desktop_flows(search=None, include_drafts=False, page_size=50, next_link=None)

    request = route.calls.last.request
    assert query(request) == {
        "$select": "workflowid,name,description,statecode,modifiedon,category",
        "$filter": "category eq 6",
        "$orderby": "name asc,workflowid asc",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["OData-MaxVersion"] == "4.0"
    assert request.headers["OData-Version"] == "4.0"
    assert request.headers["Prefer"] == "odata.maxpagesize=50"
    assert "MSCRM.IncludeUnpublished" not in request.headers
    assert page.rows[0]["workflowid"] == FLOW_ID
    assert page.next_link is None


async def test_search_escapes_quotes_and_like_wildcards(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    route = dataverse.get("workflows").respond(json={"value": []})
    await client.list_desktop_flows(search="O'Brien 50%_[x]", include_drafts=True, page_size=5, next_link=None)

    request = route.calls.last.request
    assert query(request)["$filter"] == "category eq 6 and contains(name,'O''Brien 50[%][_][[]x]')"
    assert request.headers["MSCRM.IncludeUnpublished"] == "true"


async def test_next_link_is_followed_verbatim_below_the_api_root(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    next_link = API + "workflows?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22/%3E"
    dataverse.get("workflows").respond(json={"value": [flow_row()], "@odata.nextLink": next_link})
    first = await client.list_desktop_flows(search=None, include_drafts=False, page_size=1, next_link=None)
    assert first.next_link == "workflows?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22/%3E"

    dataverse.routes.clear()
    route = dataverse.get("workflows").respond(json={"value": []})
    await client.list_desktop_flows(search=None, include_drafts=False, page_size=1, next_link=first.next_link)
    assert str(route.calls.last.request.url) == next_link


async def test_a_next_link_on_another_origin_is_an_error_not_a_short_list(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    dataverse.get("workflows").respond(
        json={"value": [], "@odata.nextLink": "https://evil.example.com/api/data/v9.2/workflows?$skiptoken=1"}
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.list_desktop_flows(search=None, include_drafts=False, page_size=1, next_link=None)
    assert "next-page link" in caught.value.message


@pytest.mark.parametrize(
    "link",
    [
        "https://CONTOSO.crm.dynamics.com/api/data/v9.2/workflows?$skiptoken=1",
        "https://contoso.crm.dynamics.com:443/api/data/v9.2/workflows?$skiptoken=1",
        "https://contoso.crm.dynamics.com./api/data/v9.2/workflows?$skiptoken=1",
    ],
)
async def test_a_next_link_to_the_same_environment_spelled_differently_is_followed(
    client: DataverseClient, dataverse: respx.MockRouter, link: str
) -> None:
    dataverse.get("workflows").respond(json={"value": [], "@odata.nextLink": link})
    page = await client.list_desktop_flows(search=None, include_drafts=False, page_size=1, next_link=None)
    assert page.next_link == "workflows?$skiptoken=1"


async def test_schema_value_is_read_without_odata_headers(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    route = dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(text='{"schema": {}}')
    assert await client.get_flow_schema_text(FLOW_ID, "inputs") == '{"schema": {}}'
    assert "OData-Version" not in route.calls.last.request.headers
    assert route.calls.last.request.headers["Accept"] == "*/*"


async def test_empty_schema_column_reads_as_none(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(204)
    assert await client.get_flow_schema_text(FLOW_ID, "inputs") is None


async def test_run_desktop_flow_posts_the_documented_body(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    route = dataverse.post(f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow").respond(
        json={"flowsessionId": RUN_ID}
    )
    request = RunDesktopFlowRequest(
        connection_name="c", connection_type="connection", run_mode="attended", inputs={"a": 1}
    )
    assert (await client.run_desktop_flow(FLOW_ID, request)).run_id == RUN_ID
    body = {"runMode": "attended", "runPriority": "normal", "connectionName": "c", "timeout": 7200, "inputs": '{"a":1}'}
    request = route.calls.last.request
    assert json.loads(request.content) == body
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_runs_query_filters_by_flow_and_status_newest_first(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.get("flowsessions").respond(json={"value": [run_row()]})
    await client.list_flow_sessions(flow_id=FLOW_ID, status_code=8, page_size=20, next_link=None)
    params = query(route.calls.last.request)
    assert params["$filter"] == f"_regardingobjectid_value eq {FLOW_ID} and statuscode eq 8"
    assert params["$orderby"] == "createdon desc"
    assert route.calls.last.request.headers["Prefer"] == "odata.maxpagesize=20"


async def test_cancel_posts_the_bound_action_without_a_body(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.post(f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun").respond(204)
    await client.cancel_flow_session(RUN_ID)
    assert route.calls.last.request.content == b""


async def test_connection_references_are_filtered_to_the_desktop_flow_connector(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.get("connectionreferences").respond(json={"value": []})
    await client.list_connection_references(search="fin_", limit=200)
    assert query(route.calls.last.request)["$filter"] == (
        "connectorid eq '/providers/Microsoft.PowerApps/apis/shared_uiflow' and "
        "(contains(connectionreferencedisplayname,'fin[_]') or contains(connectionreferencelogicalname,'fin[_]'))"
    )


# ---- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "0x80040220", ErrorCode.PERMISSION_DENIED),
        (404, "0x80040217", ErrorCode.NOT_FOUND),
        (400, "0x80060888", ErrorCode.INVALID_ARGUMENT),
        (404, "0x8006088a", ErrorCode.INTERNAL),
        (401, "", ErrorCode.UNAUTHENTICATED),
        (413, "", ErrorCode.INPUT_TOO_LARGE),
        (412, "0x80060882", ErrorCode.CONFLICT),
        (501, "0x80040219", ErrorCode.INTERNAL),
    ],
)
async def test_dataverse_errors_map_to_one_category(
    client: DataverseClient, dataverse: respx.MockRouter, status: int, code: str, expected: ErrorCode
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").respond(
        status, json={"error": {"code": code, "message": "Dataverse says no"}}
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.get_flow_session(RUN_ID)
    assert caught.value.code is expected
    assert caught.value.http_status == status
    assert caught.value.dataverse_code == (code or None)
    assert caught.value.message == "Dataverse says no"


async def test_403_on_reading_a_run_explains_the_owner_versus_user_split(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        return_value=dataverse_error(403, "0x80040220", "Principal user is missing prvReadflowsession privilege")
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.get_flow_session(RUN_ID)
    assert caught.value.hint is not None
    assert "Owner" in caught.value.hint and "User" in caught.value.hint


async def test_gets_retry_5xx_with_backoff_then_succeed(
    client: DataverseClient, dataverse: respx.MockRouter, clock: FakeClock
) -> None:
    route = dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(200, json=run_row()),
        ]
    )
    assert (await client.get_flow_session(RUN_ID))["flowsessionid"] == RUN_ID
    assert route.call_count == 3
    assert clock.sleeps == [0.375, 0.75]  # full jitter at rng=0.5: 0.75 x (0.5s, 1s)


async def test_gets_give_up_after_four_attempts_with_a_retryable_error(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.get(f"flowsessions({RUN_ID})").respond(
        503, json={"error": {"code": "0x80040216", "message": "x"}}
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.get_flow_session(RUN_ID)
    assert route.call_count == 4
    assert caught.value.code is ErrorCode.DATAVERSE_UNAVAILABLE
    assert caught.value.retryable


async def test_transport_errors_on_gets_are_retried(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    route = dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(200, json=run_row())]
    )
    await client.get_flow_session(RUN_ID)
    assert route.call_count == 3


async def test_429_honours_retry_after_for_every_call_not_only_the_one_that_got_it(
    client: DataverseClient, dataverse: respx.MockRouter, clock: FakeClock
) -> None:
    throttled = dataverse_error(429, "0x80072322", "Number of requests exceeded the limit", **{"Retry-After": "7"})
    dataverse.get(f"flowsessions({RUN_ID})").mock(side_effect=[throttled, httpx.Response(200, json=run_row())])
    other = dataverse.get("WhoAmI").respond(json={"UserId": "u"})

    await client.get_flow_session(RUN_ID)
    assert clock.sleeps == [7.0]
    # The gate closed at t+7 and the clock is now there, so the next call goes straight through.
    await client.who_am_i()
    assert other.call_count == 1

    # A fresh 429 closes the gate for everyone: a different call waits before it is sent.
    clock.sleeps.clear()
    dataverse.get("workflows").mock(
        side_effect=[
            dataverse_error(429, "0x80072322", "slow down", **{"Retry-After": "3"}),
            httpx.Response(200, json={"value": []}),
        ]
    )
    await client.list_desktop_flows(search=None, include_drafts=False, page_size=5, next_link=None)
    assert clock.sleeps == [3.0]


async def test_a_retry_after_too_long_to_wait_is_returned_as_throttled(
    client: DataverseClient, dataverse: respx.MockRouter, clock: FakeClock
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        return_value=dataverse_error(429, "0x80072322", "Number of requests exceeded", **{"Retry-After": "120"})
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.get_flow_session(RUN_ID)
    assert caught.value.code is ErrorCode.THROTTLED
    assert caught.value.retry_after_seconds == 120
    assert caught.value.retryable
    assert caught.value.hint is not None and "120 seconds" in caught.value.hint
    assert clock.sleeps == []


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.Response(502), httpx.ReadTimeout("slow")])
async def test_run_is_never_retried_once_the_request_may_have_started_a_run(
    client: DataverseClient, dataverse: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = dataverse.post(f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow").mock(
        side_effect=[failure, httpx.Response(200, json={"flowsessionId": RUN_ID})]
    )
    with pytest.raises(DesktopFlowsError) as caught:
        await client.run_desktop_flow(FLOW_ID, RUN_REQUEST)
    assert route.call_count == 1
    assert caught.value.outcome_unknown
    assert not caught.value.retryable
    assert caught.value.hint is not None and "list_desktop_flow_runs" in caught.value.hint


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        dataverse_error(429, "0x80072322", "Number of requests exceeded", **{"Retry-After": "2"}),
    ],
)
async def test_run_is_retried_when_dataverse_certainly_did_not_start_it(
    client: DataverseClient, dataverse: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = dataverse.post(f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow").mock(
        side_effect=[failure, httpx.Response(200, json={"flowsessionId": RUN_ID})]
    )
    assert (await client.run_desktop_flow(FLOW_ID, RUN_REQUEST)).run_id == RUN_ID
    assert route.call_count == 2


async def test_a_401_refreshes_once_and_then_reports_unauthenticated(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    route = dataverse.get("WhoAmI").respond(401, json={"error": {"code": "", "message": "Unauthorized"}})
    with pytest.raises(DesktopFlowsError) as caught:
        await client.who_am_i()
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert route.call_count == 1  # a static token cannot refresh, so there is nothing to resend
    assert TOKEN not in caught.value.message and TOKEN not in (caught.value.hint or "")


async def test_html_error_pages_become_a_clear_message_not_the_page(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    dataverse.get("WhoAmI").respond(403, html="<html><body>Forbidden by proxy</body></html>")
    with pytest.raises(DesktopFlowsError) as caught:
        await client.who_am_i()
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    assert "HTML page" in caught.value.message
    assert "Forbidden by proxy" not in caught.value.message


async def test_a_success_that_is_not_json_is_internal(client: DataverseClient, dataverse: respx.MockRouter) -> None:
    dataverse.get("WhoAmI").respond(200, text="not json")
    with pytest.raises(DesktopFlowsError) as caught:
        await client.who_am_i()
    assert caught.value.code is ErrorCode.INTERNAL


@pytest.mark.parametrize("status", [200, 400])
async def test_an_answer_nested_past_the_interpreters_limit_is_an_unexpected_answer_not_a_crash(
    client: DataverseClient, dataverse: respx.MockRouter, status: int
) -> None:
    deep = '{"error":' * 100_000 + "1" + "}" * 100_000
    dataverse.get("WhoAmI").respond(status, text=deep)
    with pytest.raises(DesktopFlowsError) as caught:
        await client.who_am_i()
    expected = {200: "with a body that is not JSON", 400: "answered HTTP 400 with a body that is not Dataverse JSON"}
    assert expected[status] in caught.value.message


@pytest.mark.parametrize(
    "params",
    [
        {"$select": "flowsessionid,statuscode,_regardingobjectid_value"},
        {"$filter": "contains(name,'Ab c%20 é&x=1#?')", "$top": "5", "$orderby": "createdon desc"},
        {"$expand": "MachineId($select=a,b),MachineGroupId($select=c)"},
        {"odd": '+/ ;:@="<>'},
    ],
)
def test_a_query_encoded_once_is_the_url_httpx_builds_from_params_to_the_byte(params: dict[str, str]) -> None:
    from desktop_flows_mcp.dataverse.core import encoded_query

    http = httpx.Client()
    from_params = http.build_request("GET", f"{API}flowsessions", params=params).url
    encoded = http.build_request("GET", f"{API}flowsessions?{encoded_query(tuple(params.items()))}").url
    assert (encoded.raw_path, str(encoded)) == (from_params.raw_path, str(from_params))
