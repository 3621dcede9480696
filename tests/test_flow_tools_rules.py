"""Per-flow tools: the setting's rules, the 50-flow cap, refreshes, failed reads and outputs that break the schema."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest
from mcp.server import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from desktop_flows_mcp.app import App, Services
from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.flows import AllowListCheck, PublishedFlow, UnmatchedEntry
from desktop_flows_mcp.models import FlowRef, StartedRun
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.tools import flow_tools
from desktop_flows_mcp.tools.flow_schemas import input_schema, portable, typed_outputs, unfit
from desktop_flows_mcp.tools.flow_tools import FlowTools, flow_tools_of
from desktop_flows_mcp.tools.surface import ToolSurface
from tests.helpers import FakeClock
from tests.processes import run_cli
from tests.stacks import INVOICE_ARGS, INVOICE_ID, INVOICE_TOOL, flow_stack

pytestmark = pytest.mark.anyio
SCHEMA = json.dumps({"schema": {"type": "object", "properties": {"Amount": {"type": "number"}}}})


def published(index: int, name: str | None = None, inputs: str = SCHEMA) -> PublishedFlow:
    flow_id = f"{index:08x}-0000-4000-8000-000000000000"
    return PublishedFlow(FlowRef(flow_id, name or f"Flow {index}", "published"), "", inputs, "")


@pytest.mark.slow
def test_flow_tools_need_the_allow_list_and_say_so_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_ALLOWED: must name the flows when DESKTOP_FLOWS_FLOW_TOOLS"):
        Settings.from_env({"DESKTOP_FLOWS_FLOW_TOOLS": "true"})
    result = run_cli("--emulator", "--flow-tools")
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("desktop-flows-mcp: DESKTOP_FLOWS_ALLOWED: must name the flows")


def test_flow_tools_serve_at_most_50_flows() -> None:
    allowed = ",".join(f"Flow {n}" for n in range(51))
    with pytest.raises(ConfigError, match="lists 51 flows; DESKTOP_FLOWS_FLOW_TOOLS serves at most 50"):
        Settings.from_env({"DESKTOP_FLOWS_FLOW_TOOLS": "1", "DESKTOP_FLOWS_ALLOWED": allowed})
    on = Settings.from_env({"DESKTOP_FLOWS_FLOW_TOOLS": "1", "DESKTOP_FLOWS_ALLOWED": "Flow 1"})
    off = Settings.from_env({"DESKTOP_FLOWS_ALLOWED": "Flow 1"})
    assert (on.run.flow_tools, off.run.flow_tools) == (True, False)


class Catalogue:
    """Just what FlowTools reads from the catalogue."""

    def __init__(self, flows: list[PublishedFlow]) -> None:
        self.flows = flows
        self.reads = 0
        self.failure: DesktopFlowsError | None = None
        self.unmatched: list[UnmatchedEntry] = []

    async def check_allow_list(self) -> AllowListCheck:
        self.reads += 1
        if self.failure:
            raise self.failure
        return AllowListCheck(self.flows, self.unmatched)


def registry(flows: list[PublishedFlow]) -> tuple[FlowTools, Catalogue, Services, FakeClock]:
    clock = FakeClock()
    app = App(Settings.from_env({}), clock=clock)
    mcp = build_server(app)
    catalogue = Catalogue(flows)
    services: Any = SimpleNamespace(catalogue=catalogue)  # just what FlowTools reads
    return FlowTools(mcp, ToolSurface(mcp), app, InMemorySubscriptionBus()), catalogue, services, clock


async def test_more_than_50_flows_get_tools_for_the_first_50_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    tools, _, services, _ = registry([published(n) for n in range(55)])
    with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
        assert await tools.rebuild(services) is True
    assert len(tools.tool_names()) == 50 and "run_flow_0" in tools.tool_names()
    assert "55 flows are allowed" in caplog.text


async def test_a_flow_named_like_a_built_in_tool_never_takes_its_name() -> None:
    tools, _, services, _ = registry([published(7, "Desktop flow")])
    await tools.rebuild(services)
    assert tools.tool_names() == {"run_desktop_flow_000000"}


async def test_a_failed_read_leaves_tools_list_working_and_is_tried_again_a_minute_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools, catalogue, services, clock = registry([published(1)])
    catalogue.failure = DesktopFlowsError(ErrorCode.DATAVERSE_UNAVAILABLE, "Dataverse answered 503.")
    with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
        await tools._ensure(services, refresh=True)  # pyright: ignore[reportPrivateUsage]
        await tools._ensure(services, refresh=True)  # pyright: ignore[reportPrivateUsage]
    assert (catalogue.reads, tools.tool_names()) == (1, frozenset())
    assert "reading the allowed flows failed (dataverse_unavailable)" in caplog.text
    catalogue.failure = None
    clock.seconds += 61
    await tools._ensure(services, refresh=False)  # pyright: ignore[reportPrivateUsage]
    assert (catalogue.reads, tools.tool_names()) == (2, {"run_flow_1"})


async def test_tools_list_reads_the_flows_again_after_five_minutes_and_calls_do_not() -> None:
    tools, catalogue, services, clock = registry([published(1)])
    await tools._ensure(services, refresh=True)  # pyright: ignore[reportPrivateUsage]
    clock.seconds += 299
    await tools._ensure(services, refresh=True)  # pyright: ignore[reportPrivateUsage]
    clock.seconds += 1
    await tools._ensure(services, refresh=False)  # pyright: ignore[reportPrivateUsage]
    assert catalogue.reads == 1
    catalogue.flows = [published(1), published(2)]
    assert await tools.rebuild(services) is True
    assert await tools.rebuild(services) is False  # nothing changed: no new list, no announcement
    await tools._ensure(services, refresh=True)  # pyright: ignore[reportPrivateUsage]
    assert tools.tool_names() == {"run_flow_1", "run_flow_2"}


def test_flows_whose_inputs_cannot_be_arguments_are_named_with_the_reason() -> None:
    odd_name = json.dumps({"schema": {"type": "object", "properties": {"Net amount (€)": {"type": "number"}}}})
    assert unfit(published(1, inputs="not json")) == "its input schema is not JSON"
    assert unfit(published(1, inputs=odd_name)) == "its input 'Net amount (€)' is not a valid argument name"
    assert unfit(published(1)) is None and unfit(published(1, inputs="")) is None


def test_pad_kinds_without_a_json_type_are_any_value_and_keep_their_description() -> None:
    table = {"x-pad-type": "datatable", "description": "Rows to match"}
    assert portable(table) == {
        "description": "Rows to match (PAD datatable value.)",
        "anyOf": [{"type": t} for t in ("array", "boolean", "number", "object", "string")],
    }
    nested = {"type": "object", "properties": {"When": {"type": "string", "format": "datetime-local"}}}
    assert portable(nested) == {"type": "object", "properties": {"When": {"type": "string"}}}
    assert portable({"type": "array", "items": {"type": "string", "format": "date"}})["items"]["format"] == "date"


def test_outputs_that_break_the_published_schema_are_left_out_with_a_warning_not_an_error() -> None:
    schema = {"type": "object", "properties": {"PostedTotal": {"type": "number"}}}
    run = StartedRun(
        run_id="r", status="Succeeded", is_terminal=True, connection_name="c", connection_type="connection"
    )
    good = run.model_copy(update={"outputs": {"PostedTotal": 3}})
    assert typed_outputs(good, schema) == good
    assert typed_outputs(run, schema) == run
    for bad in ({"PostedTotal": "three"}, "not json"):
        kept = typed_outputs(run.model_copy(update={"outputs": bad}), schema)
        assert kept.outputs is None and kept.warning and "get_desktop_flow_run_outputs" in kept.warning
        assert kept.run_id == "r" and kept.status == "Succeeded"


async def test_a_failure_that_is_not_about_the_flow_is_returned_as_it_is() -> None:
    async with flow_stack() as stack:
        await stack.tools()
        result = await stack.call(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"connection_name": " "}})
    assert result.is_error and result.structured_content
    assert result.structured_content["error"]["code"] == "invalid_argument"
    assert "No connection to run on" in result.structured_content["error"]["message"]
    assert INVOICE_ID not in result.structured_content["error"]["message"]


async def test_a_list_change_a_closed_session_cannot_hear_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    tools, _, _, _ = registry([published(1)])

    class Closed:
        async def send_tool_list_changed(self) -> None:
            raise RuntimeError("no channel")

    closed = Closed()
    tools._connections.add(closed)  # pyright: ignore[reportPrivateUsage]
    with caplog.at_level(logging.DEBUG, logger="desktop_flows_mcp"):
        await tools.announce()
    assert "list_changed not delivered to a session" in caplog.text
    assert closed not in tools._connections  # pyright: ignore[reportPrivateUsage]


async def test_once_a_run_started_a_failing_recheck_never_turns_the_result_into_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(tool: object, svc: object) -> str | None:
        raise RuntimeError("bug in the recheck")

    async with flow_stack() as stack:
        await stack.tools()
        monkeypatch.setattr(flow_tools, "_change", broken)
        started = await stack.call(INVOICE_TOOL, INVOICE_ARGS)
    assert not started.is_error and started.structured_content and started.structured_content["status"] == "Succeeded"


async def test_the_server_answers_which_tools_are_per_flow_run_tools() -> None:
    assert flow_tools_of(build_server(App(Settings.from_env({})))) is None
    async with flow_stack() as stack:
        await stack.tools()
        registry = flow_tools_of(cast(MCPServer[Services], stack.client.server))
    assert registry is not None
    names = registry.tool_names()
    assert INVOICE_TOOL in names and "run_desktop_flow" not in names and len(names) == 16


def test_an_input_named_for_people_only_in_its_title_keeps_that_name_as_its_description() -> None:
    properties = {
        "Amount": {"type": "number", "title": "Invoice amount (EUR)"},
        "Vendor": {"type": "string", "title": "Vendor", "description": "Vendor id"},
        "Note": {"type": "string", "title": "note"},
    }
    schema = input_schema(published(1, inputs=json.dumps({"schema": {"properties": properties}})), {})
    described = {name: sub.get("description") for name, sub in schema["properties"].items()}
    assert described == {"Amount": "Invoice amount (EUR)", "Vendor": "Vendor id", "Note": None, "run_options": None}


async def test_building_the_tools_names_allow_list_entries_that_match_no_flow_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools, catalogue, services, clock = registry([published(1)])
    catalogue.unmatched = [UnmatchedEntry("Flow 2x", "matches no published desktop flow", ("Flow 2",))]
    with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
        await tools.rebuild(services)
        clock.seconds += 301
        await tools.rebuild(services)  # the same entry again: not said twice
    said = [r.getMessage() for r in caplog.records if "DESKTOP_FLOWS_ALLOWED" in r.getMessage()]
    assert said == [
        "per-flow tools: DESKTOP_FLOWS_ALLOWED: 'Flow 2x' matches no published desktop flow; did you mean 'Flow 2'? "
        "Such an entry allows nothing: give the flow's exact name or its id."
    ]
    assert tools.tool_names() == {"run_flow_1"}
