"""summarize_desktop_flow_runs over the real emulator, in both protocol eras: each grouping, what it costs in
requests, the 4 KB result, the 50,000-row limit (lowered here), the allow-list, a 403 and bad arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mcp.types import TextContent

from desktop_flows_mcp.knowledge.facts import run_error
from tests.helpers import error_of, ok
from tests.stacks import ERAS, Stack, full_stack, run_only_stack

pytestmark = pytest.mark.anyio

TOOL = "summarize_desktop_flow_runs"
PDF_FLOW = "Extract data from PDF invoices"
INVOICE_FLOW = "Enter invoices into legacy ERP"

# group_by, the Dataverse requests it costs (path tails), in order
COSTS = [
    ("flow", ["flowsessions", "flowsessions", "workflows"]),
    ("machine_group", ["flowsessions", "flowsessions", "flowmachinegroups", "flowmachines"]),
    ("connection", ["flowsessions", "flowsessions", "connectionreferences"]),
    ("error_code", ["flowsessions", "flowsessions"]),
    ("day", ["flowsessions", "flowsessions"]),
]


async def summarize(stack: Stack, **arguments: Any) -> dict[str, Any]:
    return ok(await stack.call(TOOL, {"since": "28d", **arguments}))


def query(request: httpx.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(str(request.url)).query).items()}


def aggregate_requests(stack: Stack) -> list[httpx.Request]:
    return [r for r in stack.wire.requests if "$apply" in query(r) or "fetchXml" in query(r)]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(("group_by", "paths"), COSTS, ids=[c[0] for c in COSTS])
async def test_each_grouping_is_counted_by_dataverse_at_a_bounded_request_cost(
    mode: str, group_by: str, paths: list[str]
) -> None:
    async with full_stack(mode) as stack:
        result = await summarize(stack, group_by=group_by)
    assert [r.url.path.rsplit("/", 1)[-1] for r in stack.wire.requests] == paths
    assert all(r.method == "GET" for r in stack.wire.requests)  # it changes nothing
    (aggregate,) = aggregate_requests(stack)
    asked = query(aggregate)
    if group_by == "day":
        assert 'dategrouping="day"' in asked["fetchXml"] and 'aggregate="count"' in asked["fetchXml"]
    else:
        assert asked["$apply"].startswith("filter(createdon ge ") and "aggregate($count as runs)" in asked["$apply"]
    totals = result["totals"]
    assert totals["runs"] == sum(totals["statuses"].values()) == 380
    if group_by != "day":  # the day view shows 20 of the 29 days
        assert sum(group["runs"] for group in result["groups"]) == totals["runs"]
    assert result["group_by"] == group_by and "unreadable" not in result


async def test_flows_are_ranked_by_failures_with_names_rates_and_percentiles() -> None:
    async with full_stack() as stack:
        result = await summarize(stack)
    groups = {group["name"]: group for group in result["groups"]}
    assert result["groups"][0]["name"] == PDF_FLOW and "key" not in result["groups"][0]
    pdf, invoices, claims = groups[PDF_FLOW], groups[INVOICE_FLOW], groups["Process insurance claim"]
    assert (pdf["failed"], pdf["top_error"], pdf.get("ok")) == (15, "ActionFailed", None)
    assert invoices["success"] == round(invoices["ok"] / (invoices["ok"] + invoices["failed"]), 2)
    assert claims["waiting"] == 3 and claims["running"] == 2
    assert claims["wait_s"][0] > invoices["wait_s"][0]  # the busy claims machines make runs queue
    p50, p95 = claims["run_s"]
    assert 8 * 60 <= p50 <= p95 <= 20 * 60
    assert any("sample" in note for note in result["notes"])


async def test_failures_come_with_the_diagnosis_knowledge_and_the_licence_they_need() -> None:
    async with full_stack() as stack:
        result = await summarize(stack)
    failures = {failure["code"]: failure for failure in result["failures"]}
    codes = [failure["code"] for failure in result["failures"]]
    assert codes[:3] == ["NoCandidateMachine", "ActionFailed", "SessionExistsForTheUserWhenUnattended"]
    entry = run_error("SessionExistsForTheUserWhenUnattended")
    assert entry is not None
    session = failures["SessionExistsForTheUserWhenUnattended"]
    assert (session["meaning"], session["fix"]) == (entry.meaning, entry.admin_fix)
    assert "Power Automate Process" in failures["NoCandidateMachine"]["licence"]
    assert failures["ActionFailed"]["meaning"].startswith("Not a documented service code")
    assert "meaning" not in failures[codes[3]]  # past the third, code and count only
    assert [f["runs"] for f in result["failures"]] == sorted((f["runs"] for f in result["failures"]), reverse=True)


async def test_machine_groups_show_capacity_health_and_what_is_wrong() -> None:
    async with full_stack() as stack:
        result = await summarize(stack, group_by="machine_group")
    groups = {group["name"]: group for group in result["groups"]}
    finance = groups["Finance bots"]
    assert (finance["kind"], finance["machines"], finance["online"], finance["capacity"]) == ("standard", 3, 2, 2)
    citizen = groups["Citizen portal bots"]
    assert (citizen["kind"], citizen["machines"], citizen["issue"]) == ("hosted", 0, "hosted group provisioning failed")
    warehouse = groups["WH-PC-07"]
    assert warehouse["kind"] == "machine" and warehouse["online"] == 0
    assert warehouse["issue"] == "no machine online (WH-PC-07 offline: last heartbeat 3 d ago)"
    assert groups["Claims processing bots"]["waiting"] == 3


async def test_connections_are_named_by_their_reference_and_error_codes_carry_no_top_error() -> None:
    async with full_stack() as stack:
        by_connection = await summarize(stack, group_by="connection")
        by_code = await summarize(stack, group_by="error_code")
    named = {group["key"]: group.get("name") for group in by_connection["groups"]}
    assert named["shared-uiflow-7f3c1a"] == "Desktop flows - Finance bots"
    codes = {group.get("key"): group for group in by_code["groups"]}
    assert codes["ActionFailed"]["failed"] == 15 and "top_error" not in codes["ActionFailed"]
    assert by_code["groups"][-1]["name"] == "(none)" and by_code["groups"][-1]["ok"] == 304


async def test_twenty_groups_fit_in_four_kilobytes() -> None:
    async with full_stack() as stack:
        by_day = await stack.call(TOOL, {"since": "19d", "group_by": "day"})
        by_flow = await stack.call(TOOL, {"since": "28d"})
    for result, shown in ((by_day, 20), (by_flow, 19)):
        body = ok(result)
        assert len(body["groups"]) == shown
        content = result.content[0]
        assert isinstance(content, TextContent)  # the text channel is the compact JSON
        assert len(content.text.encode()) <= 4096, len(content.text.encode())


async def test_a_flow_narrows_the_counts_to_its_runs() -> None:
    async with full_stack() as stack:
        everything = await summarize(stack)
        before = len(stack.wire.requests)
        one = await summarize(stack, flow=INVOICE_FLOW)
        asked = query(aggregate_requests(stack)[-1])["$apply"]
    invoices = next(group for group in everything["groups"] if group["name"] == INVOICE_FLOW)
    assert one["totals"]["runs"] == invoices["runs"] and [g["name"] for g in one["groups"]] == [INVOICE_FLOW]
    assert "_regardingobjectid_value eq 3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14" in asked
    paths = [r.url.path.rsplit("/", 1)[-1] for r in stack.wire.requests[before:]]
    assert paths == ["workflows", "flowsessions", "flowsessions"]  # the name, the aggregate, the sample


@pytest.mark.parametrize("mode", ERAS)
async def test_only_allowed_flows_are_counted(mode: str) -> None:
    env = {"DESKTOP_FLOWS_ALLOWED": f"{INVOICE_FLOW},f4a7c2d9-8b1e-4f3a-9d65-7c2e4a8b1f90"}
    async with full_stack(mode, env=env) as stack:
        result = await summarize(stack)
        refused = error_of(await stack.call(TOOL, {"since": "7d", "flow": "SAP vendor lookup"}))
    assert {group["name"] for group in result["groups"]} == {INVOICE_FLOW, PDF_FLOW}
    assert result["totals"]["runs"] == sum(group["runs"] for group in result["groups"])
    paths = [r.url.path.rsplit("/", 1)[-1] for r in stack.wire.requests]
    # the allow-list's flows, the aggregate, the sample; then the refused flow's lookup (its name could be allowed)
    assert paths == ["workflows", "flowsessions", "flowsessions", "workflows"]
    assert refused["code"] == "flow_not_allowed"


async def test_past_the_aggregate_limit_the_window_is_narrowed_and_the_summary_says_so() -> None:
    async with full_stack() as stack:
        stack.emulator.store.aggregate_limit = 150  # stands in for Dataverse's 50,000
        result = await summarize(stack)
    aggregates = aggregate_requests(stack)
    assert len(aggregates) >= 2 and result["totals"]["runs"] <= 150
    until = datetime.fromisoformat(result["until"].replace("Z", "+00:00"))
    since = datetime.fromisoformat(result["since"].replace("Z", "+00:00"))
    assert (until - since).days < 28
    assert any("More than 50,000 runs" in note and result["since"] in note for note in result["notes"])


async def test_a_window_no_aggregate_can_cover_is_an_error_after_five_tries() -> None:
    async with full_stack() as stack:
        stack.emulator.store.aggregate_limit = 0
        error = error_of(await stack.call(TOOL, {"since": "28d"}))
    assert error["code"] == "invalid_argument" and "More than 50,000 runs" in error["message"]
    assert len(aggregate_requests(stack)) == 5 and len(stack.wire.requests) == 5


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"since": "last week"}, "since must be an ISO time"),
        ({"since": "91d"}, "The window is at most 90 days"),
        ({"since": "2d", "until": "3d"}, "must be before until"),
        ({"since": "7d", "group_by": "machine"}, "Argument 'group_by' is one of"),
        ({"since": "7d", "groupBy": "day"}, "did you mean 'group_by'?"),
        ({}, "needs the argument 'since'"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(arguments: dict[str, Any], expected: str) -> None:
    async with full_stack() as stack:
        error = error_of(await stack.call(TOOL, arguments))
    assert error["code"] == "invalid_argument" and expected in error["message"], error
    assert stack.wire.requests == []


@pytest.mark.parametrize("mode", ERAS)
async def test_an_identity_that_may_not_read_machines_gets_the_counts_and_what_it_could_not_read(mode: str) -> None:
    async with run_only_stack(mode) as stack:
        started = await stack.call(
            "run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": {"InvoiceNumber": "INV-9"}, "wait_seconds": 30}
        )
        assert not started.is_error, started
        body = ok(await stack.call(TOOL, {"since": "1h", "group_by": "machine_group"}))
    assert body["totals"]["runs"] == 1  # only the runs it may read: its own
    assert body["unreadable"][0].startswith("machines and groups: needs Read on the Flow Machine")
    assert "name" not in body["groups"][0] and body["groups"][0]["key"]
