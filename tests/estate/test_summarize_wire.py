"""summarize_desktop_flow_runs pinned at the wire (respx): the exact aggregate queries, the sample, the narrowing
on Dataverse's AggregateQueryRecordLimit answer, and a refused aggregate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.server import build_server
from tests.helpers import FLOW_ID, error_of, make_settings, ok

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = "createdon ge 2026-11-23T12:00:00Z and createdon lt 2026-11-30T12:00:00Z"
LIMIT = {
    "error": {"code": "0x8004E023", "message": "AggregateQueryRecordLimit exceeded. Cannot perform this operation."}
}


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def counts(*rows: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"value": list(rows)})


async def call(arguments: dict[str, Any]) -> Any:
    server = build_server(App(make_settings(), clock=Clock(now=lambda: NOW)))
    async with Client(server) as client:
        return await client.call_tool("summarize_desktop_flow_runs", arguments)


class Flowsessions:
    """Aggregates answered in turn; the sample (no $apply) answered with three finished runs. Keeps the requests."""

    def __init__(self, aggregates: list[httpx.Response]) -> None:
        self.answers = iter(aggregates)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if "$apply" in query(request) or "fetchXml" in query(request):
            return next(self.answers)
        row = {"_regardingobjectid_value": FLOW_ID, "runwaitduration": 4000, "runexecutionduration": 61000}
        return httpx.Response(200, json={"value": [row] * 3})


async def test_the_aggregate_and_the_sample_are_the_documented_queries(dataverse: respx.MockRouter) -> None:
    failed = {"_regardingobjectid_value": FLOW_ID, "statuscode": 8, "errorcode": "UIFlowAlreadyRunning", "runmode": 2}
    succeeded = {"_regardingobjectid_value": FLOW_ID, "statuscode": 4, "runmode": 2, "runs": 40}
    runs = Flowsessions([counts(succeeded, {**failed, "runs": 10})])
    dataverse.get("flowsessions").mock(side_effect=runs)
    names = dataverse.get("workflows").respond(json={"value": [{"workflowid": FLOW_ID, "name": "Invoice entry"}]})
    result = ok(await call({"since": "7d"}))

    aggregate, sample = (query(request) for request in runs.requests)
    assert aggregate == {
        "$apply": f"filter({WINDOW})/groupby((_regardingobjectid_value,statuscode,errorcode,runmode),"
        "aggregate($count as runs))"
    }
    assert sample == {
        "$select": "_regardingobjectid_value,runwaitduration,runexecutionduration",
        "$filter": f"{WINDOW} and completedon ne null",
        "$orderby": "createdon desc",
    }
    assert runs.requests[1].headers["Prefer"] == "odata.maxpagesize=1000"
    assert query(names.calls.last.request)["$filter"] == f"category eq 6 and (workflowid eq {FLOW_ID})"
    assert result["groups"] == [
        {"name": "Invoice entry", "runs": 50, "ok": 40, "failed": 10, "success": 0.8,
         "top_error": "UIFlowAlreadyRunning", "wait_s": [4, 4], "run_s": [61, 61]}
    ]  # fmt: skip
    assert result["totals"]["statuses"] == {"Succeeded": 40, "Failed": 10}


async def test_by_day_the_aggregate_is_fetchxml_grouped_by_utc_date_parts(dataverse: respx.MockRouter) -> None:
    rows = counts({"year": 2026, "month": 11, "day": 29, "statuscode": 4, "runmode": 1, "runs": 7})
    runs = Flowsessions([rows])
    dataverse.get("flowsessions").mock(side_effect=runs)
    result = ok(await call({"since": "7d", "group_by": "day"}))
    fetch = query(runs.requests[0])["fetchXml"]
    assert fetch == (
        '<fetch aggregate="true"><entity name="flowsession">'
        '<attribute name="flowsessionid" alias="runs" aggregate="count"/>'
        '<attribute name="createdon" alias="year" groupby="true" dategrouping="year" usertimezone="false"/>'
        '<attribute name="createdon" alias="month" groupby="true" dategrouping="month" usertimezone="false"/>'
        '<attribute name="createdon" alias="day" groupby="true" dategrouping="day" usertimezone="false"/>'
        '<attribute name="statuscode" alias="statuscode" groupby="true"/>'
        '<attribute name="errorcode" alias="errorcode" groupby="true"/>'
        '<attribute name="runmode" alias="runmode" groupby="true"/>'
        '<filter type="and"><condition attribute="createdon" operator="ge" value="2026-11-23T12:00:00Z"/>'
        '<condition attribute="createdon" operator="lt" value="2026-11-30T12:00:00Z"/></filter></entity></fetch>'
    )
    assert result["groups"] == [{"key": "2026-11-29", "runs": 7, "ok": 7}]


async def test_the_aggregate_limit_halves_the_window_keeping_its_latest_part(dataverse: respx.MockRouter) -> None:
    refused = httpx.Response(400, json=LIMIT)
    answered = counts({"_regardingobjectid_value": FLOW_ID, "statuscode": 4, "runmode": 2, "runs": 49_000})
    runs = Flowsessions([refused, refused, answered])
    dataverse.get("flowsessions").mock(side_effect=runs)
    dataverse.get("workflows").respond(json={"value": []})
    result = ok(await call({"since": "8d"}))

    aggregates = [query(request)["$apply"] for request in runs.requests if "$apply" in query(request)]
    assert [a.split(" and ")[0] for a in aggregates] == [
        "filter(createdon ge 2026-11-22T12:00:00Z",
        "filter(createdon ge 2026-11-26T12:00:00Z",
        "filter(createdon ge 2026-11-28T12:00:00Z",
    ]
    assert result["since"] == "2026-11-28T12:00:00Z" and result["totals"]["runs"] == 49_000
    assert result["notes"][0].startswith("More than 50,000 runs since 2026-11-22T12:00:00Z")
    assert len(runs.requests) == 4  # three aggregates, one sample


async def test_a_refused_aggregate_is_the_permission_error_with_its_hint(dataverse: respx.MockRouter) -> None:
    denied = {"error": {"code": "0x80040220", "message": "Principal user is missing prvReadflowsession privilege"}}
    dataverse.get("flowsessions").respond(403, json=denied)
    error = error_of(await call({"since": "24h", "group_by": "error_code"}))
    assert error["code"] == "permission_denied" and "Flow Sessions" in error["hint"]
