"""The OData $filter/$select/$orderby subset, with Dataverse's escaping, wildcards and errors."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import INVOICE_FLOW, error_of

from desktop_flows_mcp.emulator.like import like_pattern

pytestmark = pytest.mark.anyio

DISPLAY, LOGICAL = "connectionreferencedisplayname", "connectionreferencelogicalname"


async def names(client: httpx.AsyncClient, filter: str) -> set[str]:
    response = await client.get("workflows", params={"$filter": f"category eq 6 and ({filter})", "$select": "name"})
    assert response.status_code == 200, response.text
    return {row["name"] for row in response.json()["value"]}


async def test_a_doubled_quote_escapes_an_apostrophe(client: httpx.AsyncClient) -> None:
    assert await names(client, "name eq 'Post O''Brien & Sons invoices'") == {"Post O'Brien & Sons invoices"}
    assert await names(client, "contains(name,'o''brien')") == {"Post O'Brien & Sons invoices"}


async def test_an_ampersand_must_be_url_encoded_or_it_splits_the_query(client: httpx.AsyncClient) -> None:
    raw = await client.get("workflows?$filter=name eq 'Post O''Brien & Sons invoices'")
    encoded = await client.get("workflows", params={"$filter": "name eq 'Post O''Brien & Sons invoices'"})

    assert error_of(raw)[:2] == (400, "0x0")
    assert [row["name"] for row in encoded.json()["value"]] == ["Post O'Brien & Sons invoices"]


async def test_an_unescaped_apostrophe_is_an_unterminated_literal(client: httpx.AsyncClient) -> None:
    response = await client.get("workflows", params={"$filter": "name eq 'O'Brien'"})

    assert error_of(response) == (
        400,
        "0x0",
        "There is an unterminated literal at position 16 in 'name eq 'O'Brien''.",
    )


async def test_string_comparisons_ignore_case_including_non_ascii_letters(client: httpx.AsyncClient) -> None:
    assert await names(client, "name eq 'SAP VENDOR LOOKUP'") == {"SAP vendor lookup"}
    assert await names(client, "contains(name,'ZÄHLER')") == {"Zählerstände übertragen"}
    assert await names(client, "startswith(name,'réconciliation')") == {"Réconciliation bancaire"}


async def test_percent_and_underscore_are_live_wildcards_inside_string_functions(
    client: httpx.AsyncClient,
) -> None:
    everything = await names(client, "category eq 6")

    assert await names(client, "contains(name,'%')") == everything
    assert await names(client, "contains(name,'_')") == everything
    assert await names(client, "contains(name,'10%')") == {"Apply 10% discount"}  # '10' then anything
    assert await names(client, "startswith(name,'s_p')") == {"SAP vendor lookup"}


async def test_bracket_escaping_matches_wildcard_characters_literally(client: httpx.AsyncClient) -> None:
    assert await names(client, "contains(name,'[%]')") == {"Apply 10% discount"}
    assert await names(client, "contains(name,'[_]')") == {"Export_GL_balances"}
    assert await names(client, "contains(name,'[[]')") == set()
    assert await names(client, "endswith(name,'[_]balances')") == {"Export_GL_balances"}


def test_like_patterns_follow_t_sql_bracket_classes() -> None:
    assert like_pattern("[a-c]at").fullmatch("bat")
    assert not like_pattern("[^a-c]at").fullmatch("bat")
    assert like_pattern("[[]x]").fullmatch("[x]")
    assert like_pattern("a[b").fullmatch("a[b")  # an unclosed bracket is literal


async def test_and_or_not_and_parentheses_combine(client: httpx.AsyncClient) -> None:
    found = await names(client, "(startswith(name,'SAP') or startswith(name,'Print')) and not contains(name,'label')")

    assert found == {"SAP vendor lookup"}


async def test_guids_are_compared_unquoted_and_a_quoted_guid_is_a_type_error(
    client: httpx.AsyncClient,
) -> None:
    assert await names(client, f"workflowid eq {INVOICE_FLOW.upper()}") == {"Enter invoices into legacy ERP"}

    response = await client.get("workflows", params={"$filter": f"workflowid eq '{INVOICE_FLOW}'"})
    status, code, message = error_of(response)
    assert (status, code) == (400, "0x0")
    assert "'Edm.Guid' and 'Edm.String'" in message


async def test_numbers_compare_with_ordering_operators(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "workflows", params={"$filter": "category ge 5 and category lt 6", "$select": "category"}
    )

    assert {row["category"] for row in response.json()["value"]} == {5}


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (
            {"$filter": "nme eq 'x'"},
            "0x80060888",
            "Could not find a property named 'nme' on type 'Microsoft.Dynamics.CRM.workflow'.",
        ),
        ({"$select": "name,clientdta"}, "0x80060888", "Could not find a property named 'clientdta' on type "
         "'Microsoft.Dynamics.CRM.workflow'."),
        ({"$orderby": "title desc"}, "0x80060888", "Could not find a property named 'title' on type "
         "'Microsoft.Dynamics.CRM.workflow'."),
        ({"$filter": "tolower(name) eq 'x'"}, "0x0", None),
        ({"$filter": "category eq '6'"}, "0x0", None),
        ({"$filter": "name eq"}, "0x0", None),
        ({"$filter": "contains(category,'6')"}, "0x0", None),
        ({"$skip": "5"}, "0x0", "The query parameter $skip is not supported."),
        ({"$top": "-1"}, "0x0", "Invalid value '-1' for $top query option found."),
        ({"$orderby": "name sideways"}, "0x0", None),
    ],
)  # fmt: skip
async def test_malformed_queries_are_400_with_a_dataverse_error(
    client: httpx.AsyncClient, params: dict[str, str], code: str, message: str | None
) -> None:
    status, actual_code, actual_message = error_of(await client.get("workflows", params=params))

    assert (status, actual_code) == (400, code)
    assert message is None or actual_message == message


async def test_orderby_sorts_descending_dates_and_breaks_ties_stably(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "workflows",
        params={"$filter": "category eq 6", "$select": "modifiedon,name", "$orderby": "modifiedon desc,name"},
    )

    rows = [(row["modifiedon"], row["name"]) for row in response.json()["value"]]
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
    assert rows == sorted(rows, key=lambda r: (-int(r[0].replace("-", "")[:8]), r[1].casefold()))


async def test_count_reports_the_total_of_matching_rows(client: httpx.AsyncClient) -> None:
    response = await client.get("workflows", params={"$filter": "category eq 6", "$count": "true", "$top": "1"})

    assert response.json()["@odata.count"] == 21


async def test_connection_references_filter_on_the_desktop_flows_connector(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "connectionreferences",
        params={
            "$filter": "connectorid eq '/providers/Microsoft.PowerApps/apis/shared_uiflow'",
            "$select": "connectionreferencelogicalname,connectionid",
        },
    )

    rows = {row["connectionreferencelogicalname"]: row["connectionid"] for row in response.json()["value"]}
    assert rows == {
        "contoso_DesktopFlowsFinanceBots": "shared-uiflow-7f3c1a",
        "contoso_DesktopFlowsOpsWorkstation": "shared-uiflow-2b9e44",
        "contoso_DesktopFlowsUnbound": None,
    }


async def test_connection_references_support_contains_on_names_combined_with_or(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "connectionreferences",
        params={"$filter": f"contains({DISPLAY},'outlook') or contains({LOGICAL},'unbound')"},
    )

    assert {row["connectionreferencelogicalname"] for row in response.json()["value"]} == {
        "contoso_Office365Outlook",
        "contoso_DesktopFlowsUnbound",
    }
    assert set(response.json()["value"][0]) >= {
        "connectionreferenceid",
        "connectorid",
        "statecode",
        "description",
    }


@pytest.mark.parametrize(
    "nested",
    [
        "(" * 500 + "category eq 6" + ")" * 500,
        "not " * 500 + "category eq 6",
        "(not " * 300 + "category eq 6" + ")" * 300,
    ],
)
async def test_a_filter_nested_too_deep_is_a_400_not_a_wedged_emulator(client: httpx.AsyncClient, nested: str) -> None:
    status, code, message = error_of(await client.get("workflows", params={"$filter": nested}))
    assert (status, code) == (400, "0x0")  # as the emulator answers every other query syntax error
    assert message == "The recursion limit has been exceeded."
    assert await names(client, "(" * 40 + "name eq 'Post O''Brien & Sons invoices'" + ")" * 40)  # deep enough serves


async def test_a_long_flat_filter_is_answered_without_recursion(client: httpx.AsyncClient) -> None:
    terms = " or ".join(["name eq 'nobody'"] * 1500 + ["name eq 'Post O''Brien & Sons invoices'"])
    both = " and ".join(["category eq 6"] * 1500)
    assert await names(client, terms) == {"Post O'Brien & Sons invoices"}
    assert await names(client, both)
