"""The read tools about flows, end to end through the in-memory MCP client, Dataverse faked by respx."""

from __future__ import annotations

import json
from typing import cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tests.helpers import (
    API,
    FLOW_ID,
    INPUT_SCHEMA,
    OTHER_FLOW_ID,
    TOKEN,
    connect,
    error_of,
    flow_row,
    make_settings,
    ok,
)

pytestmark = pytest.mark.anyio


def filter_of(route: respx.Route) -> str:
    return parse_qs(urlsplit(str(route.calls.last.request.url)).query)["$filter"][0]


async def test_list_returns_trimmed_flows_without_odata_annotations(dataverse: respx.MockRouter) -> None:
    dataverse.get("workflows").respond(
        json={
            "@odata.context": API + "$metadata#workflows(name,workflowid)",
            "value": [flow_row(description="Posts invoices"), flow_row(OTHER_FLOW_ID, "Draft one", statecode=0)],
        }
    )
    async with connect() as client:
        result = ok(await client.call_tool("list_desktop_flows", {"include_drafts": True}))
    assert result == {
        "flows": [
            {
                "id": FLOW_ID,
                "name": "Invoice entry",
                "description": "Posts invoices",
                "state": "published",
                "modified_on": "2026-11-01T10:00:00Z",
                "runnable": True,
            },
            {
                "id": OTHER_FLOW_ID,
                "name": "Draft one",
                "state": "draft",
                "modified_on": "2026-11-01T10:00:00Z",
                "runnable": False,
            },
        ],
    }


async def test_list_marks_flows_outside_the_allow_list_as_not_runnable(dataverse: respx.MockRouter) -> None:
    dataverse.get("workflows").respond(json={"value": [flow_row(), flow_row(OTHER_FLOW_ID, "Other")]})
    async with connect(make_settings(DESKTOP_FLOWS_ALLOWED="invoice ENTRY")) as client:
        flows = ok(await client.call_tool("list_desktop_flows", {}))["flows"]
    assert [f["runnable"] for f in flows] == [True, False]


async def test_paging_hands_out_an_opaque_cursor_that_fetches_the_next_link(dataverse: respx.MockRouter) -> None:
    next_link = API + "workflows?$select=workflowid&$skiptoken=%3Ccookie%20page=%222%22/%3E"
    route = dataverse.get("workflows").mock(
        side_effect=[
            httpx.Response(200, json={"value": [flow_row()], "@odata.nextLink": next_link}),
            httpx.Response(200, json={"value": [flow_row(OTHER_FLOW_ID, "Second")]}),
        ]
    )
    async with connect() as client:
        first = ok(await client.call_tool("list_desktop_flows", {"limit": 1, "include_drafts": True}))
        assert first["next_cursor"] and "skiptoken" not in first["next_cursor"]
        second = ok(await client.call_tool("list_desktop_flows", {"cursor": first["next_cursor"]}))
    assert [f["name"] for f in second["flows"]] == ["Second"]
    assert "next_cursor" not in second
    page_two = cast(httpx.Request, route.calls[1].request)  # pyright: ignore[reportUnknownMemberType]
    assert str(page_two.url) == next_link
    assert page_two.headers["Prefer"] == "odata.maxpagesize=1"  # the page size travels with the cursor
    assert page_two.headers["MSCRM.IncludeUnpublished"] == "true"


async def test_a_forged_cursor_sends_nothing(dataverse: respx.MockRouter) -> None:
    async with connect() as client:
        error = error_of(await client.call_tool("list_desktop_flows", {"cursor": "aHR0cHM6Ly9ldmlsLmV4YW1wbGU"}))
    assert error["code"] == "invalid_argument"
    assert not dataverse.calls


async def test_schema_by_name_resolves_with_an_escaped_exact_match(dataverse: respx.MockRouter) -> None:
    lookup = dataverse.get("workflows").respond(json={"value": [flow_row(name="Post O'Brien invoices")]})
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(text=json.dumps(INPUT_SCHEMA))
    dataverse.get(f"workflows({FLOW_ID})/outputs/$value").respond(204)
    async with connect() as client:
        result = ok(await client.call_tool("get_desktop_flow_schema", {"flow": "post o'brien INVOICES"}))
    assert filter_of(lookup) == "category eq 6 and name eq 'post o''brien INVOICES'"
    assert lookup.calls.last.request.headers["MSCRM.IncludeUnpublished"] == "true"
    assert result["flow_id"] == FLOW_ID
    assert result["name"] == "Post O'Brien invoices"
    assert result["inputs"]["properties"]["Amount"] == {"type": "number", "title": "Amount", "default": 0}
    assert result["inputs"]["additionalProperties"] is False
    assert result["outputs"] == {"type": "object", "properties": {}}


async def test_schema_by_id_reads_the_flow_and_both_schemas(dataverse: respx.MockRouter) -> None:
    flow = dataverse.get(f"workflows({FLOW_ID})").respond(json=flow_row())
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(text=json.dumps(INPUT_SCHEMA))
    dataverse.get(f"workflows({FLOW_ID})/outputs/$value").respond(text=json.dumps(INPUT_SCHEMA))
    async with connect() as client:
        result = ok(await client.call_tool("get_desktop_flow_schema", {"flow": FLOW_ID.upper()}))
    assert result["name"] == "Invoice entry"
    assert flow.calls.last.request.url.params["$select"] == "workflowid,name,description,statecode,modifiedon,category"


async def test_an_ambiguous_name_lists_the_candidate_ids(dataverse: respx.MockRouter) -> None:
    dataverse.get("workflows").respond(json={"value": [flow_row(), flow_row(OTHER_FLOW_ID)]})
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_schema", {"flow": "Invoice entry"}))
    assert error["code"] == "invalid_argument"
    assert FLOW_ID in error["message"] and OTHER_FLOW_ID in error["message"]
    assert "id" in error["hint"]


async def test_an_unknown_name_is_not_found_with_a_search_hint(dataverse: respx.MockRouter) -> None:
    dataverse.get("workflows").respond(json={"value": []})
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_schema", {"flow": "Nope"}))
    assert error["code"] == "not_found"
    assert "list_desktop_flows" in error["hint"]


async def test_an_unknown_id_is_not_found(dataverse: respx.MockRouter) -> None:
    body = {"error": {"code": "0x80040217", "message": f"Entity 'workflow' With Id = {FLOW_ID} Does Not Exist"}}
    dataverse.get(f"workflows({FLOW_ID})").respond(404, json=body)
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(404, json=body)
    dataverse.get(f"workflows({FLOW_ID})/outputs/$value").respond(404, json=body)
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_schema", {"flow": FLOW_ID}))
    assert error["code"] == "not_found"
    assert error["http_status"] == 404
    assert error["dataverse_code"] == "0x80040217"


async def test_a_workflow_that_is_not_a_desktop_flow_is_not_found(dataverse: respx.MockRouter) -> None:
    dataverse.get(f"workflows({FLOW_ID})").respond(json=flow_row(category=5))
    dataverse.get(f"workflows({FLOW_ID})/inputs/$value").respond(204)
    dataverse.get(f"workflows({FLOW_ID})/outputs/$value").respond(204)
    async with connect() as client:
        error = error_of(await client.call_tool("get_desktop_flow_schema", {"flow": FLOW_ID}))
    assert error["code"] == "not_found"
    assert "not a desktop flow" in error["message"]


async def test_connection_references_are_trimmed(dataverse: respx.MockRouter) -> None:
    dataverse.get("connectionreferences").respond(
        json={
            "value": [
                {
                    "@odata.etag": 'W/"1"',
                    "connectionreferenceid": "0c1e0b8e-0000-0000-0000-000000000001",
                    "connectionreferencelogicalname": "cr_finance_desktop",
                    "connectionreferencedisplayname": "Finance desktop",
                    "connectorid": "/providers/Microsoft.PowerApps/apis/shared_uiflow",
                    "connectionid": None,
                }
            ]
        }
    )
    async with connect() as client:
        result = ok(await client.call_tool("list_connection_references", {"search": "fin"}))
    assert result == {
        "connection_references": [
            {
                "logical_name": "cr_finance_desktop",
                "display_name": "Finance desktop",
                "connector_id": "/providers/Microsoft.PowerApps/apis/shared_uiflow",
            }
        ],
        "truncated": False,
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_errors_reach_both_protocol_eras_and_never_carry_the_token(
    dataverse: respx.MockRouter, mode: str
) -> None:
    dataverse.get("workflows").respond(401, json={"error": {"code": "0x8005F101", "message": "Token expired"}})
    async with connect(mode=mode) as client:
        result = await client.call_tool("list_desktop_flows", {})
    error = error_of(result)
    assert error["code"] == "unauthenticated"
    assert error["dataverse_code"] == "0x8005F101"
    assert TOKEN not in json.dumps(result.model_dump(mode="json"))
