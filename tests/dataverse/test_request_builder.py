"""The requests the client builds itself (dataverse/request_builder.py) are those httpx's own ``request`` sends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from desktop_flows_mcp.auth import BearerAuth, StaticTokenProvider
from desktop_flows_mcp.dataverse.client import DataverseClient, RunDesktopFlowRequest, default_timeout
from desktop_flows_mcp.dataverse.core import INCLUDE_DRAFTS, ODATA_HEADERS, RAW_HEADERS
from desktop_flows_mcp.dataverse.flow_operations import FLOW_COLUMNS, RUN_COLUMNS
from desktop_flows_mcp.dataverse.odata import like_literal
from desktop_flows_mcp.dataverse.request_builder import RequestBuilder, parsed_url
from tests.helpers import API, ENV_URL, FLOW_ID, RUN_ID, TOKEN, run_row

pytestmark = pytest.mark.anyio

SEARCH = 'O\'Brien 100% [draft] é_ü & #?+/ "x"'
NEXT_LINK = (
    "workflows?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page"
    "%253d%25221%2522%253e%22%20/%3E"
)
JSON_HEADERS = {**ODATA_HEADERS, "Content-Type": "application/json; charset=utf-8"}
START = RunDesktopFlowRequest(
    connection_name="c", connection_type="connection", run_mode="attended", inputs={"Name": "Zoë 'x' \"y\""}
)
# Each call, and what the old code handed httpx for it: method, path below the API root, params, headers, json.
Call = Callable[[DataverseClient], Awaitable[Any]]
CALLS: list[tuple[Call, str, str, dict[str, str] | None, dict[str, str], dict[str, Any] | None]] = [
    (
        lambda c: c.get_flow_session(RUN_ID),
        "GET",
        f"flowsessions({RUN_ID})",
        {"$select": RUN_COLUMNS},
        ODATA_HEADERS,
        None,
    ),
    (
        lambda c: c.list_desktop_flows(search=SEARCH, include_drafts=True, page_size=7, next_link=None),
        "GET",
        "workflows",
        {
            "$select": FLOW_COLUMNS,
            "$filter": f"category eq 6 and contains(name,{like_literal(SEARCH)})",
            "$orderby": "name asc,workflowid asc",
        },
        {**ODATA_HEADERS, "Prefer": "odata.maxpagesize=7", **INCLUDE_DRAFTS},
        None,
    ),
    (
        lambda c: c.list_desktop_flows(search=None, include_drafts=False, page_size=50, next_link=NEXT_LINK),
        "GET",
        NEXT_LINK,
        None,
        {**ODATA_HEADERS, "Prefer": "odata.maxpagesize=50"},
        None,
    ),
    (lambda c: c.who_am_i(), "GET", "WhoAmI", {}, ODATA_HEADERS, None),
    (
        lambda c: c.get_flow_session_outputs(RUN_ID),
        "GET",
        f"flowsessions({RUN_ID})/outputs/$value",
        None,
        RAW_HEADERS,
        None,
    ),
    (
        lambda c: c.run_desktop_flow(FLOW_ID, START),
        "POST",
        f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow",
        None,
        JSON_HEADERS,
        START.body(),
    ),
    (
        lambda c: c.cancel_flow_session(RUN_ID),
        "POST",
        f"flowsessions({RUN_ID})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun",
        None,
        ODATA_HEADERS,
        None,
    ),
]


def recording(sent: list[httpx.Request]) -> httpx.MockTransport:
    """Answers every request with one body that suits every call, and the affinity cookies Dataverse sets."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        cookies = [
            ("Set-Cookie", "ARRAffinity=0f1e2d; Path=/; Secure; HttpOnly"),
            ("Set-Cookie", "ReqClientId=5a6b-7c8d; Path=/; Secure; HttpOnly"),
        ]
        return httpx.Response(200, json={"value": [], "flowsessionId": RUN_ID, **run_row()}, headers=cookies)

    return httpx.MockTransport(answer)


def http_client(transport: httpx.AsyncBaseTransport, **options: Any) -> httpx.AsyncClient:
    """Configured as app.py configures the server's client."""
    return httpx.AsyncClient(
        transport=transport,
        auth=BearerAuth(StaticTokenProvider(TOKEN)),
        timeout=default_timeout(),
        headers={"User-Agent": "desktop-flows-mcp/test"},
        follow_redirects=False,
        **options,
    )


def on_the_wire(request: httpx.Request) -> tuple[Any, ...]:
    return (
        request.method,
        str(request.url),
        request.url.raw_path,
        request.headers.raw,
        request.content,
        request.extensions.get("timeout"),
    )


async def test_every_call_sends_the_bytes_httpx_request_would_send_cookies_and_auth_included() -> None:
    ours: list[httpx.Request] = []
    theirs: list[httpx.Request] = []
    async with http_client(recording(ours)) as http, http_client(recording(theirs)) as twin:
        client = DataverseClient(http, ENV_URL)
        for _ in range(2):  # the second round carries the cookies the first one set
            for call, method, path, params, headers, body in CALLS:
                await call(client)
                await twin.request(method, API + path, params=params, headers=headers, json=body)
    assert len(ours) == len(theirs) == 2 * len(CALLS)
    assert [on_the_wire(r) for r in ours] == [on_the_wire(r) for r in theirs]
    assert "ARRAffinity=0f1e2d" in ours[-1].headers["Cookie"]
    assert ours[0].headers["Authorization"] == f"Bearer {TOKEN}"


ODD_URLS = [
    f"{API}flowsessions({RUN_ID})?$select={RUN_COLUMNS}",
    f"{API}workflows?$filter=name eq 'O''Brien'&$top=10",
    f"{API}workflows?$filter=contains(name,'[%]ü é \"q\"')#frag",
    f"{API}systemusers(a b)/x y?q=a+b&r=%2F%zz",
    "https://CONTOSO.crm.dynamics.com:443/api/data/v9.2/WhoAmI",
    "https://xn--bcher-kva.example/ä/ö?ü=1",
]


@pytest.mark.parametrize("url", ODD_URLS)
async def test_a_request_built_from_a_url_parsed_once_is_the_one_build_request_makes(url: str) -> None:
    async with http_client(recording([])) as http:
        http.cookies.set("ARRAffinity", "0f1e2d", domain="contoso.crm.dynamics.com")
        builder = RequestBuilder(http)
        for headers, body in ((ODATA_HEADERS, None), (RAW_HEADERS, None), (JSON_HEADERS, {"a": "é'"})):
            for _ in range(2):  # built, then from the caches
                built = builder.build("POST" if body else "GET", url, headers=headers, json=body)
                expected = http.build_request("POST" if body else "GET", url, headers=headers, json=body)
                assert on_the_wire(built) == on_the_wire(expected)
    assert parsed_url(url) is parsed_url(url)


async def test_a_change_to_the_clients_own_headers_reaches_the_next_request() -> None:
    async with http_client(recording([])) as http:
        builder = RequestBuilder(http)
        before = builder.build("GET", ODD_URLS[0], headers=ODATA_HEADERS)
        http.headers["User-Agent"] = "changed"
        after = builder.build("GET", ODD_URLS[0], headers=ODATA_HEADERS)
    assert (before.headers["User-Agent"], after.headers["User-Agent"]) == ("desktop-flows-mcp/test", "changed")
    assert on_the_wire(after) == on_the_wire(http.build_request("GET", ODD_URLS[0], headers=ODATA_HEADERS))


async def test_query_params_on_a_url_that_has_a_query_are_merged_by_httpx_itself() -> None:
    async with http_client(recording([])) as http:
        built = RequestBuilder(http).build("GET", f"{API}workflows?a=1", headers=ODATA_HEADERS, params={"b": "2"})
        expected = http.build_request("GET", f"{API}workflows?a=1", headers=ODATA_HEADERS, params={"b": "2"})
    assert on_the_wire(built) == on_the_wire(expected)


async def test_requests_go_through_the_clients_mounts_as_proxies_from_the_environment_do() -> None:
    proxied: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the default transport was used, not the mount")

    async with http_client(
        httpx.MockTransport(refuse), mounts={"https://contoso.crm.dynamics.com": recording(proxied)}
    ) as http:
        await DataverseClient(http, ENV_URL).get_flow_session(RUN_ID)
    assert [str(r.url.copy_with(query=None)) for r in proxied] == [f"{API}flowsessions({RUN_ID})"]
