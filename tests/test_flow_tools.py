"""Per-flow tools (DESKTOP_FLOWS_FLOW_TOOLS) end to end over the emulator, in both protocol eras."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.subscriptions import ToolsListChanged
from mcp.types import ToolListChangedNotification

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import HttpSettings, Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from tests.helpers import FakeClock, compact_size, error_of, ok
from tests.loopback import serving_on_loopback
from tests.stacks import (
    ERAS,
    INVOICE_ARGS,
    INVOICE_ID,
    INVOICE_TOOL,
    PUBLISHED_NAMES,
    flow_stack,
)

pytestmark = pytest.mark.anyio
RUN_POST = "POST Microsoft.Dynamics.CRM.RunDesktopFlow"


@pytest.mark.parametrize("mode", ERAS)
async def test_each_allowed_published_flow_is_a_typed_tool_built_from_one_read(mode: str) -> None:
    async with flow_stack(mode) as stack:
        tools = await stack.tools()
    assert stack.wire.paths() == ["GET workflows"]
    per_flow = {name: tool for name, tool in tools.items() if name.startswith("run_") and name != "run_desktop_flow"}
    assert len(per_flow) == len(PUBLISHED_NAMES) == 16
    assert {"run_zahlerstande_ubertragen", "run_reconciliation_bancaire", "run_post_obrien_sons_invoices"} <= set(
        per_flow
    )
    tool = per_flow[INVOICE_TOOL]
    assert tool["title"] == "Enter invoices into legacy ERP"
    assert tool["description"].startswith("Keys supplier invoices into the AS/400")
    assert "on a machine: real automation" in tool["description"]
    properties = tool["inputSchema"]["properties"]
    assert properties["Amount"] == {"type": "number", "default": 0}
    assert properties["InvoiceNumber"]["description"] == "Supplier invoice number, e.g. INV-2026-0412"
    assert properties["run_options"]["properties"]["wait_seconds"]["default"] == 60
    assert set(properties["run_options"]["properties"]) == {
        "wait_seconds",
        "idempotency_key",
        "connection_name",
        "connection_type",
        "run_mode",
        "run_priority",
        "timeout_seconds",
        "callback_url",
    }
    assert tool["inputSchema"]["additionalProperties"] is False
    outputs = tool["outputSchema"]["properties"]["outputs"]
    assert outputs == {
        "type": "object",
        "properties": {
            "DocumentNumber": {"type": "string"},
            "PostedTotal": {"type": "number"},
            "Status": {"type": "string"},
        },
    }
    assert tool["annotations"] == {"readOnlyHint": False, "destructiveHint": False}
    assert per_flow["run_check_vpn_connectivity"]["inputSchema"]["properties"].keys() == {"run_options"}


@pytest.mark.parametrize("mode", ERAS)
async def test_a_typed_call_runs_the_flow_waits_and_returns_typed_outputs(mode: str) -> None:
    async with flow_stack(mode) as stack:
        await stack.tools()
        result = ok(await stack.call(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"idempotency_key": "k-1"}}))
        again = ok(await stack.call(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"idempotency_key": "k-1"}}))
    assert result["status"] == "Succeeded" and result["is_terminal"] is True
    assert result["flow_name"] == "Enter invoices into legacy ERP"
    assert set(result["outputs"]) == {"DocumentNumber", "PostedTotal", "Status"}
    assert result["outputs"]["PostedTotal"] == 12.5
    assert again["reused"] is True and again["run_id"] == result["run_id"]
    posts = [r for r in stack.wire.requests if r.method == "POST"]
    assert len(posts) == 1
    assert json.loads(json.loads(posts[0].content)["inputs"]) == INVOICE_ARGS
    flow_reads = [r for r in stack.wire.requests if "/workflows" in r.url.path and r.method == "GET"]
    # the schemas came from the build's one read; each start re-read only the flow's row (the allow-list decides
    # on its name and state as they are now)
    assert [r.url.path.rsplit("/", 1)[-1] for r in flow_reads[1:]] == [f"workflows({result['flow_id']})"] * 2


@pytest.mark.parametrize("mode", ERAS)
async def test_wrong_arguments_are_refused_before_any_request(mode: str) -> None:
    async with flow_stack(mode) as stack:
        await stack.tools()
        before = len(stack.wire.requests)
        wrong_type = error_of(await stack.call(INVOICE_TOOL, {"Amount": "twelve"}))
        unknown = error_of(await stack.call(INVOICE_TOOL, {"Amout": 12}))
        bad_option = error_of(await stack.call(INVOICE_TOOL, {"run_options": {"timeout_seconds": 100_000}}))
        bad_wait = error_of(await stack.call(INVOICE_TOOL, {"run_options": {"wait_seconds": 500}}))
        unknown_option = error_of(await stack.call(INVOICE_TOOL, {"run_options": {"wait": 5}}))
    assert wrong_type["code"] == unknown["code"] == bad_option["code"] == bad_wait["code"] == "invalid_argument"
    assert "'Amount'" in wrong_type["message"] and "number" in wrong_type["message"]
    assert "did you mean 'Amount'" in unknown["message"]
    assert "run_options.timeout_seconds" in bad_option["message"] and "86400" in bad_option["message"]
    assert "120" in bad_wait["message"]
    assert unknown_option["code"] == "invalid_argument" and "'wait' was unexpected" in unknown_option["message"]
    assert len(stack.wire.requests) == before


async def test_read_only_mode_offers_no_per_flow_tools() -> None:
    async with flow_stack(DESKTOP_FLOWS_READ_ONLY="true") as stack:
        tools = await stack.tools()
    assert not [name for name in tools if name.startswith("run_")]
    assert stack.wire.requests == []


@pytest.mark.parametrize("mode", ERAS)
async def test_the_server_says_its_tool_list_can_change(mode: str) -> None:
    async with flow_stack(mode) as stack:
        capabilities = stack.client.session.server_capabilities
        instructions = stack.client.instructions
    assert capabilities is not None and capabilities.tools is not None
    assert capabilities.tools.list_changed is True
    assert instructions and "run_options.idempotency_key" in instructions


async def test_without_flow_tools_a_legacy_session_is_told_the_list_is_fixed() -> None:
    server = build_server(App(Settings.from_env({})))
    async with Client(server, mode="legacy") as client:
        capabilities = client.session.server_capabilities
        instructions = client.instructions
    assert capabilities is not None and capabilities.tools is not None and capabilities.tools.list_changed is False
    assert instructions and "run_<flow>" not in instructions


async def test_a_renamed_flow_still_runs_and_the_list_is_rebuilt_and_announced() -> None:
    async with flow_stack(DESKTOP_FLOWS_ALLOWED=INVOICE_ID) as stack:
        assert INVOICE_TOOL in await stack.tools()
        stack.emulator.store.workflows[INVOICE_ID]["name"] = "Enter invoices into new ERP"
        stack.clock.seconds += 61  # the catalogue's memory of the flow expires
        started = ok(await stack.call(INVOICE_TOOL, INVOICE_ARGS))
        tools = await stack.tools()
    assert started["status"] == "Succeeded" and started["flow_name"] == "Enter invoices into new ERP"
    assert "run_enter_invoices_into_new_erp" in tools and INVOICE_TOOL not in tools
    assert stack.notices == ["tools/list_changed"]


async def test_every_legacy_session_hears_the_change_not_only_the_one_whose_call_found_it() -> None:
    """Two clients of one server (as over Streamable HTTP): the one that did not call still hears list_changed."""
    clock = FakeClock()
    emulator = Emulator(clock=clock)
    settings = Settings.from_env({"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": INVOICE_ID})
    server = build_server(
        App(
            settings,
            clock=clock,
            dataverse_transport=emulator.transport(),
        )
    )
    heard: dict[str, list[str]] = {"caller": [], "bystander": []}

    def listener(who: str) -> Any:
        async def notice(message: Any) -> None:
            if isinstance(message, ToolListChangedNotification):
                heard[who].append("tools/list_changed")

        return notice

    async with (
        Client(server, mode="legacy", message_handler=listener("caller")) as caller,
        Client(server, mode="legacy", message_handler=listener("bystander")) as bystander,
    ):
        await caller.list_tools()
        await bystander.list_tools()
        emulator.store.workflows[INVOICE_ID]["name"] = "Enter invoices into new ERP"
        clock.seconds += 61
        ok(await caller.call_tool(INVOICE_TOOL, INVOICE_ARGS))
        await bystander.list_tools()  # a round trip, so the notice sent before it has arrived
    assert heard == {"caller": ["tools/list_changed"], "bystander": ["tools/list_changed"]}


async def test_a_tools_list_refresh_that_finds_a_change_tells_the_other_sessions() -> None:
    async with flow_stack(DESKTOP_FLOWS_ALLOWED=INVOICE_ID) as stack:
        await stack.tools()
        stack.emulator.store.workflows[INVOICE_ID]["name"] = "Enter invoices into new ERP"
        stack.clock.seconds += 301  # tools/list reads the flows again after five minutes
        tools = await stack.tools()
        await stack.tools()
    assert "run_enter_invoices_into_new_erp" in tools
    assert stack.notices == ["tools/list_changed"]


@pytest.mark.parametrize("change", ["deleted", "unpublished", "renamed off the allow-list"])
async def test_a_call_to_a_tool_whose_flow_is_gone_is_not_found_with_a_hint(change: str) -> None:
    async with flow_stack() as stack:
        await stack.tools()
        if change == "deleted":
            del stack.emulator.store.workflows[INVOICE_ID]
        elif change == "renamed off the allow-list":
            stack.emulator.store.workflows[INVOICE_ID]["name"] = "Enter invoices (old)"
        else:
            stack.emulator.store.workflows[INVOICE_ID]["statecode"] = 0  # turned off: a draft again
        stack.clock.seconds += 61
        first = error_of(await stack.call(INVOICE_TOOL, INVOICE_ARGS))
        later = error_of(await stack.call(INVOICE_TOOL, INVOICE_ARGS))
        tools = await stack.tools()
    assert first["code"] == later["code"] == "not_found"
    assert INVOICE_TOOL in first["message"] and "Nothing was started" in first["message"]
    assert "tool list was refreshed" in first["hint"]
    assert INVOICE_TOOL not in tools and "run_sap_vendor_lookup" in tools
    assert stack.notices == ["tools/list_changed"]
    assert RUN_POST not in stack.wire.paths()


async def test_a_flow_with_an_input_named_run_options_gets_no_tool_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    odd_id = "0e0e0e0e-1111-4222-8333-444444444444"
    inputs = {"schema": {"type": "object", "properties": {"run_options": {"type": "string"}}}}
    async with flow_stack(DESKTOP_FLOWS_ALLOWED=f"{INVOICE_ID},{odd_id}") as stack:
        row = dict(stack.emulator.store.workflows[INVOICE_ID], workflowid=odd_id, name="Odd", inputs=json.dumps(inputs))
        stack.emulator.store.workflows[odd_id] = row
        with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
            tools = await stack.tools()
    assert INVOICE_TOOL in tools and "run_odd" not in tools
    assert "no tool for 'Odd'" in caplog.text and "run_options" in caplog.text


async def test_ten_flows_add_at_most_12_kb_to_tools_list() -> None:
    baseline_server = build_server(App(Settings.from_env({"DESKTOP_FLOWS_ALLOWED": ",".join(PUBLISHED_NAMES[:10])})))
    async with Client(baseline_server, mode="legacy") as client:
        baseline = (await client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
    async with flow_stack(DESKTOP_FLOWS_ALLOWED=",".join(PUBLISHED_NAMES[:10])) as stack:
        listed = (await stack.client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert len(listed["tools"]) == len(baseline["tools"]) + 10
    added = compact_size(listed) - compact_size(baseline)
    print(f"tools/list: +{added} B for 10 flows")
    assert added <= 12 * 1024, added


async def test_a_2026_client_that_listens_hears_that_the_list_changed() -> None:
    async with flow_stack("auto") as stack:
        await stack.tools()
        async with stack.client.listen(tools_list_changed=True) as subscription:
            del stack.emulator.store.workflows[INVOICE_ID]
            stack.clock.seconds += 61
            error_of(await stack.call(INVOICE_TOOL, INVOICE_ARGS))
            with anyio.fail_after(5):
                event = await anext(aiter(subscription))
    assert isinstance(event, ToolsListChanged)


async def test_a_flow_with_new_inputs_keeps_its_tool_which_now_takes_them() -> None:
    async with flow_stack() as stack:
        await stack.tools()
        row = stack.emulator.store.workflows[INVOICE_ID]
        schema = json.loads(str(row["inputs"]))
        schema["schema"]["properties"]["CostCentre"] = {"type": "string", "title": "CostCentre", "value": ""}
        row["inputs"] = json.dumps(schema)
        stack.clock.seconds += 61
        started = ok(await stack.call(INVOICE_TOOL, INVOICE_ARGS))
        tools = await stack.tools()
    assert started["status"] == "Succeeded"
    assert "CostCentre" in tools[INVOICE_TOOL]["inputSchema"]["properties"]
    assert stack.notices == ["tools/list_changed"]


@pytest.mark.parametrize("mode", ERAS)
async def test_per_flow_tools_work_over_streamable_http(mode: Any) -> None:
    settings = Settings.from_env(
        {"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": INVOICE_ID}  # the embedded emulator
    )
    app = App(settings)
    async with serving_on_loopback(build_http_app(build_server(app), app, HttpSettings())) as url:
        async with Client(f"{url}/mcp", mode=mode) as client:
            capabilities = client.session.server_capabilities
            names = [tool.name for tool in (await client.list_tools()).tools]
            started = await client.call_tool(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"wait_seconds": 0}})
        assert capabilities is not None and capabilities.tools is not None
        assert capabilities.tools.list_changed is True
        assert names[-1] == INVOICE_TOOL
        assert ok(started)["status"] == "Waiting" and ok(started)["flow_name"] == "Enter invoices into legacy ERP"
