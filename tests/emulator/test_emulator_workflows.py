"""Listing desktop flows and reading their schemas, pinned to the shapes in the reference docs."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from emulator_helpers import API, CLOUD_FLOW, DRAFT_FLOW, INVOICE_FLOW, SALES_REPORT_FLOW, VPN_FLOW, error_of

pytestmark = pytest.mark.anyio

DESKTOP = {"$filter": "category eq 6", "$select": "name,workflowid", "$orderby": "name"}
PAGE_OF_5 = {"Prefer": "odata.maxpagesize=5"}
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


async def names(client: httpx.AsyncClient, params: dict[str, str], **headers: str) -> list[str]:
    response = await client.get("workflows", params={"$select": "name", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["value"]]


async def test_desktop_flow_list_has_the_documented_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("workflows", params=DESKTOP)

    assert response.status_code == 200
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"] == ODATA_JSON
    body = response.json()
    assert list(body) == ["@odata.context", "value"]
    assert body["@odata.context"] == f"{API}$metadata#workflows(name,workflowid)"
    first = body["value"][0]
    assert set(first) == {"@odata.etag", "name", "workflowid"}
    assert re.fullmatch(r'W/"\d+"', first["@odata.etag"])
    assert first == {
        "@odata.etag": first["@odata.etag"],
        "name": "Apply 10% discount",
        "workflowid": first["workflowid"],
    }


async def test_list_is_ordered_by_name_case_insensitively_and_holds_every_published_desktop_flow(
    client: httpx.AsyncClient,
) -> None:
    listed = await names(client, {"$filter": "category eq 6", "$orderby": "name"})

    assert listed == sorted(listed, key=str.casefold)
    assert len(listed) == 21
    assert {"Post O'Brien & Sons invoices", "Zählerstände übertragen", "Réconciliation bancaire"} <= set(listed)
    assert "Copy payroll export to FTP" in listed  # suspended flows are still listed
    assert "Scrape competitor prices" not in listed  # drafts are not


async def test_a_client_that_forgets_the_category_filter_sees_cloud_flows_and_classic_workflows(
    client: httpx.AsyncClient,
) -> None:
    everything = await names(client, {})
    desktop = await names(client, {"$filter": "category eq 6"})

    assert "Enter invoices into legacy ERP (cloud trigger)" in everything
    assert "Account follow-up workflow" in everything
    assert "Enter invoices into legacy ERP (cloud trigger)" not in desktop


async def test_drafts_appear_only_with_the_include_unpublished_header(client: httpx.AsyncClient) -> None:
    drafts = {"Scrape competitor prices", "Migrate Lotus Notes archive"}
    with_header = await names(client, {"$filter": "category eq 6"}, **{"MSCRM.IncludeUnpublished": "true"})

    assert drafts <= set(with_header)
    assert not drafts & set(await names(client, {"$filter": "category eq 6"}))


async def test_a_draft_read_by_id_without_the_header_does_not_exist(client: httpx.AsyncClient) -> None:
    hidden = await client.get(f"workflows({DRAFT_FLOW})")
    shown = await client.get(f"workflows({DRAFT_FLOW})", headers={"MSCRM.IncludeUnpublished": "true"})

    assert error_of(hidden) == (404, "0x80040217", f"Entity 'workflow' With Id = {DRAFT_FLOW} Does Not Exist")
    assert shown.json()["statecode"] == 0


async def test_paging_with_maxpagesize_walks_every_row_once_through_opaque_next_links(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("workflows", params=DESKTOP, headers=PAGE_OF_5)
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=5"
    pages = [response.json()]
    while "@odata.nextLink" in pages[-1]:
        link = pages[-1]["@odata.nextLink"]
        assert link.startswith(f"{API}workflows?") and "$skiptoken=" in link
        pages.append((await client.get(link, headers=PAGE_OF_5)).json())

    rows = [row["name"] for page in pages for row in page["value"]]
    assert [len(page["value"]) for page in pages] == [5, 5, 5, 5, 1]
    assert rows == await names(client, {"$filter": "category eq 6", "$orderby": "name"})


async def test_top_limits_rows_but_is_ignored_when_a_page_size_is_requested(
    client: httpx.AsyncClient,
) -> None:
    top = await names(client, {"$filter": "category eq 6", "$top": "3"})
    both = await client.get("workflows", params={"$filter": "category eq 6", "$top": "3"}, headers=PAGE_OF_5)

    assert len(top) == 3
    assert len(both.json()["value"]) == 5


async def test_a_tampered_skiptoken_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.get("workflows", params={"$skiptoken": "page2"})

    assert response.status_code == 400


async def test_a_single_flow_honours_select_and_says_entity_in_its_context(client: httpx.AsyncClient) -> None:
    response = await client.get(f"workflows({INVOICE_FLOW.upper()})", params={"$select": "name,category"})

    body = response.json()
    assert body["@odata.context"] == f"{API}$metadata#workflows(name,category)/$entity"
    assert {k: v for k, v in body.items() if not k.startswith("@")} == {
        "workflowid": INVOICE_FLOW,
        "name": "Enter invoices into legacy ERP",
        "category": 6,
    }


async def test_input_schema_value_is_the_loose_pad_shape_with_string_typed_values(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"workflows({INVOICE_FLOW})/inputs/$value")

    schema = json.loads(response.text)
    assert list(schema) == ["schema"] and schema["schema"]["type"] == "object"
    assert "required" not in schema["schema"]
    properties = schema["schema"]["properties"]
    assert properties["Amount"] == {
        "default": "",
        "description": "",
        "format": None,
        "title": "Amount",
        "type": "number",
        "value": "0",
    }
    assert {p["type"] for p in properties.values()} == {"string", "number", "boolean", "array"}


async def test_output_schema_values_are_null(client: httpx.AsyncClient) -> None:
    response = await client.get(f"workflows({SALES_REPORT_FLOW})/outputs/$value")

    properties = json.loads(response.text)["schema"]["properties"]
    assert properties["RowCount"]["value"] is None and properties["RowCount"]["type"] == "number"


async def test_schemas_include_object_and_unknown_pad_types(client: httpx.AsyncClient) -> None:
    types: set[str] = set()
    listing = (await client.get("workflows", params={"$filter": "category eq 6", "$select": "inputs,outputs"})).json()
    for row in listing["value"]:
        for column in ("inputs", "outputs"):
            if row[column]:
                types |= {p["type"] for p in json.loads(row[column])["schema"]["properties"].values()}

    assert types == {"string", "number", "boolean", "array", "object", "datatable"}


async def test_a_flow_without_inputs_answers_204_for_its_input_schema_value(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"workflows({VPN_FLOW})/inputs/$value")

    assert response.status_code == 204 and response.content == b""


async def test_an_unknown_flow_is_404_and_a_malformed_key_is_400(client: httpx.AsyncClient) -> None:
    unknown = "00000000-0000-0000-0000-000000000001"

    assert error_of(await client.get(f"workflows({unknown})/inputs/$value"))[:2] == (404, "0x80040217")
    assert (await client.get("workflows(not-a-guid)")).status_code == 400


async def test_the_cloud_flow_exists_as_a_workflow_but_is_not_category_6(client: httpx.AsyncClient) -> None:
    response = await client.get(f"workflows({CLOUD_FLOW})", params={"$select": "category"})

    assert response.json()["category"] == 5
