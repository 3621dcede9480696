"""End to end in one process: the MCP server over the real emulator, on fake time, in both protocol eras.

Every Dataverse request crosses a counting transport, so the tests see what a user pays for: requests per job,
result bytes, and what comes back when arguments are wrong.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.server import build_server
from tests.helpers import error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS, full_stack

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ERAS)
async def test_a_short_job_costs_at_most_eight_dataverse_requests(mode: str) -> None:
    async with full_stack(mode) as stack:
        listed = ok(await stack.call("list_desktop_flows", {"search": "invoices into"}))
        flow = listed["flows"][0]["name"]
        schema = ok(await stack.call("get_desktop_flow_schema", {"flow": flow}))
        started = ok(await stack.call("run_desktop_flow", {"flow": flow, "inputs": INVOICE_INPUTS}))
        finished = ok(await stack.call("wait_for_desktop_flow_run", {"run_id": started["run_id"]}))
        outputs = ok(await stack.call("get_desktop_flow_run_outputs", {"run_id": started["run_id"]}))
    assert flow == INVOICE_FLOW and "InvoiceNumber" in schema["inputs"]["properties"]
    assert finished["status"] == "Succeeded" and outputs["outputs"] == finished["outputs"]
    assert len(stack.wire.requests) <= 8, stack.wire.paths()
    assert stack.wire.paths().count("POST Microsoft.Dynamics.CRM.RunDesktopFlow") == 1
    # the start re-read the flow's row (the allow-list decides on its name and state as they are now): one GET
    assert stack.wire.paths()[3:5] == ["GET workflows", "POST Microsoft.Dynamics.CRM.RunDesktopFlow"]


async def test_a_run_that_is_not_finished_is_read_fresh_every_time_and_a_finished_one_once() -> None:
    async with full_stack() as stack:
        started = ok(await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
        reads = lambda: sum(1 for r in stack.wire.requests if r.url.path.endswith(f"({started['run_id']})"))  # noqa: E731
        for _ in range(3):
            assert not ok(await stack.call("get_desktop_flow_run", {"run_id": started["run_id"]}))["is_terminal"]
        assert reads() == 3
        await stack.clock.sleep(30)
        first = ok(await stack.call("get_desktop_flow_run", {"run_id": started["run_id"]}))
        again = ok(await stack.call("get_desktop_flow_run", {"run_id": started["run_id"]}))
    assert first["status"] == "Succeeded" and again == first
    assert reads() == 4


@pytest.mark.parametrize("mode", ERAS)
async def test_the_emulator_without_settings_runs_flows_on_its_demo_connection(mode: str) -> None:
    async with full_stack(mode, env={}) as stack:
        started = ok(await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
    assert started["connection_name"] == "shared-uiflow-7f3c1a"
    assert started["run_id"]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("get_desktop_flow_run", {"run_id": "x" * 300}, "Argument 'run_id' is at most 64 characters"),
        ("list_desktop_flows", {"limit": "many"}, "Argument 'limit' must be of type integer"),
        ("list_desktop_flows", {"limit": 0}, "Argument 'limit' is at least 1"),
        ("list_desktop_flow_runs", {"status": "Done"}, "Argument 'status' is one of"),
        ("wait_for_desktop_flow_run", {"run_id": "r", "timeout_seconds": True}, "must be of type integer"),
        ("get_desktop_flow_schema", {}, "get_desktop_flow_schema needs the argument 'flow'"),
        ("run_desktop_flow", {"flow": "f", "idempotencyKey": "k"}, "did you mean 'idempotency_key'?"),
        ("run_desktop_flow", {"flow": "f", "inputs": [1]}, "Argument 'inputs' must be of type object"),
    ],
)
async def test_arguments_the_schema_refuses_get_the_invalid_argument_envelope(
    mode: str, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with full_stack(mode) as stack:
        error = error_of(await stack.call(tool, arguments))
    assert error["code"] == "invalid_argument"
    assert expected in error["message"], error["message"]
    assert not stack.wire.requests  # refused before anything was sent


async def test_null_means_not_given_and_an_object_sent_as_a_json_string_is_read() -> None:
    async with full_stack() as stack:
        listed = ok(await stack.call("list_desktop_flows", {"search": None, "cursor": None, "limit": 2}))
        started = ok(await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": json.dumps(INVOICE_INPUTS)}))
    assert len(listed["flows"]) == 2
    assert started["run_id"]


async def test_a_nearly_right_flow_name_is_not_found_with_the_closest_names() -> None:
    async with full_stack() as stack:
        error = error_of(await stack.call("get_desktop_flow_schema", {"flow": "Enter invoice into legacy ERP"}))
    assert error["code"] == "not_found"
    assert "'Enter invoices into legacy ERP'" in error["hint"]
    assert len(stack.wire.requests) == 2  # the exact-name lookup and one names-only query


async def test_a_crash_is_internal_without_details_and_logged_at_warning_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise RuntimeError("secret detail")

    server = build_server(App(Settings.from_env({}), dataverse_transport=Broken()))
    with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
        async with Client(server) as client:
            error = error_of(await client.call_tool("list_desktop_flows", {}))
    assert error["code"] == "internal" and "secret detail" not in error["message"]
    crash = next(r for r in caplog.records if "crashed" in r.getMessage())
    assert crash.levelno == logging.WARNING and crash.exc_info is not None


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_are_listed_in_a_fixed_order_within_the_byte_budget_with_cache_hints(mode: str) -> None:
    async with full_stack(mode) as stack:
        listed = await stack.client.list_tools()
    names = [tool.name for tool in listed.tools]
    assert names[:4] == [
        "list_desktop_flows",
        "get_desktop_flow_schema",
        "run_desktop_flow",
        "wait_for_desktop_flow_run",
    ]
    payload = listed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert len(json.dumps({"tools": payload["tools"]}, separators=(",", ":")).encode()) <= 24 * 1024
    if mode == "auto":
        assert listed.ttl_ms == 300_000 and listed.cache_scope == "public"
