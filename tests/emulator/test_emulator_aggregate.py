"""The emulator answers OData $apply and aggregate FetchXML as Dataverse documents them, over its seeded history;
runs carry their wait, execution and total durations."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio

INVOICE = "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"
SUCCEEDED_RUN = "b1f0c3a4-6d2e-4c8b-9a17-3e5f7d9b1c20"  # queued 20 s, ran 140 s
WAITING_RUN = "3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71"


async def rows(client: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    response = await client.get("flowsessions", params=params)
    assert response.status_code == 200, response.text
    return response.json()["value"]


async def test_runs_carry_their_durations_in_milliseconds_once_known(client: httpx.AsyncClient) -> None:
    select = {"$select": "runduration,runwaitduration,runexecutionduration"}
    done = (await client.get(f"flowsessions({SUCCEEDED_RUN})", params=select)).json()
    waiting = (await client.get(f"flowsessions({WAITING_RUN})", params=select)).json()
    assert (done["runwaitduration"], done["runexecutionduration"], done["runduration"]) == (20_000, 140_000, 160_000)
    assert (waiting["runwaitduration"], waiting["runexecutionduration"], waiting["runduration"]) == (None, None, None)


async def test_groupby_counts_match_the_rows_and_leave_null_group_values_out(client: httpx.AsyncClient) -> None:
    every = await rows(client, **{"$select": "statuscode,errorcode"})
    grouped = await rows(client, **{"$apply": "groupby((statuscode,errorcode),aggregate($count as n))"})
    expected = Counter((row["statuscode"], row["errorcode"]) for row in every)
    assert {(g["statuscode"], g.get("errorcode")): g["n"] for g in grouped} == dict(expected)
    assert all("errorcode" not in g for g in grouped if g["statuscode"] == 4)  # null: left out, as documented
    assert sum(int(str(g["n"])) for g in grouped) == len(every) > 350


async def test_filter_then_aggregate_with_average_max_and_countdistinct(client: httpx.AsyncClient) -> None:
    apply = (
        f"filter(_regardingobjectid_value eq {INVOICE} and statuscode eq 4)/aggregate($count as n,"
        "runexecutionduration with average as avg,runexecutionduration with max as longest,"
        "connectionid with countdistinct as connections)"
    )
    (row,) = await rows(client, **{"$apply": apply})
    runs = await rows(
        client,
        **{
            "$filter": f"_regardingobjectid_value eq {INVOICE} and statuscode eq 4",
            "$select": "runexecutionduration,connectionid",
        },
    )
    durations = [int(str(r["runexecutionduration"])) for r in runs]
    assert row["n"] == len(runs) and row["longest"] == max(durations)
    assert row["avg"] == pytest.approx(sum(durations) / len(durations))
    assert row["connections"] == len({r["connectionid"] for r in runs}) == 2


@pytest.mark.parametrize(
    ("apply", "message"),
    [
        ("groupby((createdon),aggregate($count as n))", "date-time"),
        ("groupby((nosuchcolumn))", "Could not find a property named 'nosuchcolumn'"),
        ("aggregate(statuscode with median as m)", "median"),
        ("groupby((statuscode))/filter(statuscode eq 4)", "not supported here"),
        ("groupby((statuscode),aggregate($count as n)", "nbalanced"),
    ],
)
async def test_what_apply_cannot_do_is_a_400(client: httpx.AsyncClient, apply: str, message: str) -> None:
    response = await client.get("flowsessions", params={"$apply": apply})
    assert response.status_code == 400 and message in response.json()["error"]["message"]


async def test_apply_takes_no_other_query_option(client: httpx.AsyncClient) -> None:
    response = await client.get("flowsessions", params={"$apply": "aggregate($count as n)", "$top": "1"})
    assert response.status_code == 400 and "$top is not supported with $apply" in response.text


async def test_an_aggregate_over_more_rows_than_the_limit_is_refused_with_0x8004e023(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.store.aggregate_limit = 10
    response = await client.get("flowsessions", params={"$apply": "aggregate($count as n)"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "0x8004E023",
        "message": "AggregateQueryRecordLimit exceeded. Cannot perform this operation.",
    }
    narrow = f"filter(flowsessionid eq {SUCCEEDED_RUN})/aggregate($count as n)"
    assert (await rows(client, **{"$apply": narrow})) == [{"n": 1}]  # the limit counts the filtered rows


FETCH = (
    '<fetch aggregate="true"{limit}><entity name="flowsession">'
    '<attribute name="flowsessionid" alias="runs" aggregate="count"/>'
    '<attribute name="createdon" alias="year" groupby="true" dategrouping="year" usertimezone="false"/>'
    '<attribute name="createdon" alias="month" groupby="true" dategrouping="month" usertimezone="false"/>'
    '<attribute name="createdon" alias="day" groupby="true" dategrouping="day" usertimezone="false"/>'
    '<filter><condition attribute="regardingobjectid" operator="in"><value>{flow}</value></condition>'
    '<condition attribute="createdon" operator="ge" value="2026-05-20T00:00:00Z"/></filter>'
    "</entity></fetch>"
)


async def test_fetchxml_groups_by_utc_day_parts_over_the_filtered_runs(client: httpx.AsyncClient) -> None:
    grouped = await rows(client, fetchXml=FETCH.format(limit="", flow=INVOICE))
    runs = await rows(
        client,
        **{"$filter": f"_regardingobjectid_value eq {INVOICE} and createdon ge 2026-05-20T00:00:00Z",
           "$select": "createdon"},
    )  # fmt: skip
    expected = Counter(str(r["createdon"])[:10] for r in runs)
    assert {f"{g['year']}-{g['month']:02d}-{g['day']:02d}": g["runs"] for g in grouped} == dict(expected)


async def test_fetchxml_honours_its_own_lower_aggregate_limit_and_refuses_plain_queries(
    client: httpx.AsyncClient,
) -> None:
    limited = await client.get(
        "flowsessions", params={"fetchXml": FETCH.format(limit=' aggregatelimit="2"', flow=INVOICE)}
    )
    plain = await client.get("flowsessions", params={"fetchXml": '<fetch><entity name="flowsession"/></fetch>'})
    assert limited.status_code == 400 and limited.json()["error"]["code"] == "0x8004E023"
    assert plain.status_code == 400 and "Only aggregate FetchXML" in plain.json()["error"]["message"]
