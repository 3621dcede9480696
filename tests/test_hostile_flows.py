"""A hostile flow author: schemas nested or sized past any sense, and titles, descriptions, defaults and choices
full of control and bidi-override characters. tools/list still answers for everyone, bounded and clean."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import pytest

from desktop_flows_mcp.bounds import MAX_FLOW_TOOL_BYTES, MAX_NAME, MAX_SCHEMA_BYTES
from desktop_flows_mcp.server import TOOL_NAMES
from tests.helpers import compact_size, error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_ID, INVOICE_INPUTS, INVOICE_TOOL, FlowStack, flow_stack, full_stack

pytestmark = pytest.mark.anyio
HOSTILE_ID = "0e0e0e0e-1111-4222-8333-4444444444{:02d}"
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NASTY = "\x1b[31m\u202egnp.exe\u202c\x07\r\n"


def nested_schema(depth: int) -> str:
    """PAD's schema shape with one object input nested ``depth`` levels, written as text (no encoder recurses)."""
    level = '{"A":{"type":"object","properties":'
    return '{"schema":{"type":"object","properties":' + level * depth + "{}" + "}}" * depth + "}}"


def hostile_inputs(size: int) -> str:
    """Flow-authored prose, defaults and choices on inputs with valid names; the JSON is about 3.5 × ``size``."""
    prose = (NASTY + "x") * (size // 40 // 11 + 1)
    properties: dict[str, Any] = {
        f"In{n}": {"type": "string", "title": prose[:5000], "description": prose, "value": prose} for n in range(10)
    }
    properties["Choice"] = {"type": "string", "enum": [f"v{n}{NASTY}" for n in range(1_000)]}
    properties["Count"] = {"type": "number", "value": "7", "description": "How many\u202e\x1b"}
    return json.dumps({"schema": {"type": "object", "properties": properties}})


def seed(stack: FlowStack, number: int, **columns: Any) -> str:
    flow_id = HOSTILE_ID.format(number)
    row = dict(stack.emulator.store.workflows[INVOICE_ID], workflowid=flow_id, name=f"Hostile {number}")
    stack.emulator.store.workflows[flow_id] = {**row, **columns}
    return flow_id


def allowed(*numbers: int) -> str:
    return ",".join([INVOICE_ID, *(HOSTILE_ID.format(n) for n in numbers)])


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("depth", [200, 3000])
async def test_a_flow_schema_nested_too_deep_gets_no_tool_and_a_typeless_schema_and_tools_list_still_answers(
    mode: str, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1, 2)) as stack:
        deep = seed(stack, 1, inputs=nested_schema(depth))
        seed(stack, 2, outputs=nested_schema(depth))
        with caplog.at_level(logging.WARNING, logger="desktop_flows_mcp"):
            tools = await stack.tools()
        schema = ok(await stack.call("get_desktop_flow_schema", {"flow": deep}))
        listed = ok(await stack.call("list_desktop_flows", {"search": "Hostile"}))
    assert INVOICE_TOOL in tools and "run_hostile_1" not in tools and "run_hostile_2" not in tools
    assert "no tool for 'Hostile 1'" in caplog.text and "nested deeper than 32 levels" in caplog.text
    assert schema["inputs"]["type"] == "object" and schema["inputs"]["properties"] == {}
    assert "additionalProperties" not in schema["inputs"]
    assert "nested deeper than 32 levels" in schema["inputs"]["description"]
    assert [flow["runnable"] for flow in listed["flows"]] == [True, True]  # run_desktop_flow still runs them


@pytest.mark.parametrize("mode", ERAS)
async def test_a_flow_schema_too_large_gets_no_tool_and_a_typeless_schema(mode: str) -> None:
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1)) as stack:
        big = seed(stack, 1, inputs=hostile_inputs(5_000_000))
        tools = await stack.tools()
        schema = ok(await stack.call("get_desktop_flow_schema", {"flow": big}))
    assert "run_hostile_1" not in tools
    assert "over 262144 bytes" in schema["inputs"]["description"]


@pytest.mark.parametrize("mode", ERAS)
async def test_flow_authored_text_in_a_per_flow_tool_is_clean_and_capped(mode: str) -> None:
    inputs = {
        "Count": {"type": "number", "value": "7", "description": "How many\u202e\x1b"},
        "Label": {"type": "text", "title": NASTY + "Label" * 100, "value": NASTY},
        "Choice": {"type": "string", "enum": [f"v{n}" for n in range(1_000)]},
        "Mode": {"type": "string", "enum": ["fast", "slow\u202e"]},
    }
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1)) as stack:
        seed(stack, 1, description=NASTY * 500, inputs=json.dumps({"schema": {"properties": inputs}}))
        tools = await stack.tools()
    entry = tools["run_hostile_1"]
    assert not UNSAFE.search(json.dumps(entry, ensure_ascii=False))
    assert compact_size(entry) <= MAX_FLOW_TOOL_BYTES
    assert entry["description"].startswith("[31mgnp.exe [31mgnp.exe") and len(entry["description"]) < 300
    properties = entry["inputSchema"]["properties"]
    assert properties["Count"] == {"type": "number", "default": 7, "description": "How many"}
    label = properties["Label"]
    assert label.keys() == {"type", "description"}  # the default is not clean text: left out
    assert label["description"].startswith("[31mgnp.exe LabelLabel") and len(label["description"]) <= 120
    assert properties["Choice"] == properties["Mode"] == {"type": "string"}  # long or unclean choices: left out


@pytest.mark.parametrize("mode", ERAS)
async def test_a_per_flow_tool_entry_over_2_kb_sheds_its_prose_but_keeps_its_types(mode: str) -> None:
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1)) as stack:
        seed(stack, 1, inputs=hostile_inputs(60_000))
        tools = await stack.tools()
    entry = tools["run_hostile_1"]
    assert compact_size(entry) <= MAX_FLOW_TOOL_BYTES
    assert entry["description"].startswith("Starts this flow on a machine")
    properties = entry["inputSchema"]["properties"]
    assert properties["In0"] == properties["Choice"] == {"type": "string"}
    assert properties["Count"] == {"type": "number"}


@pytest.mark.parametrize("mode", ERAS)
async def test_a_flow_title_of_10_000_characters_is_capped_and_clean(mode: str) -> None:
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1)) as stack:
        flow_id = seed(stack, 1)
        stack.emulator.store.workflows[flow_id]["name"] = "Zq\x1b[2J\u202e" + "y" * 10_000
        tools = (await stack.client.list_tools()).tools
        listed = ok(await stack.call("list_desktop_flows", {"search": "Zq"}))
    titles = [tool.title or "" for tool in tools if tool.name.startswith("run_zq")]
    assert len(titles) == 1 and len(titles[0]) <= MAX_NAME and titles[0].startswith("Zq[2Jyyy")
    shown = listed["flows"][0]
    assert shown["id"] == flow_id and len(shown["name"]) <= MAX_NAME and not UNSAFE.search(shown["name"])


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("schema_bytes", [5_000_000, 60_000])  # no tool; a tool that sheds its prose
async def test_ten_flows_with_huge_schemas_keep_tools_list_small(mode: str, schema_bytes: int) -> None:
    numbers = range(10)
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed()) as stack:
        baseline = compact_size((await stack.client.list_tools()).model_dump(mode="json", by_alias=True))
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(*numbers)) as stack:
        huge = hostile_inputs(schema_bytes)
        for number in numbers:
            seed(stack, number, description=NASTY * 10_000, inputs=huge, outputs=huge)
        listed = (await stack.client.list_tools()).model_dump(mode="json", by_alias=True)
    size = compact_size(listed)
    print(f"tools/list with 10 flows with {len(huge)} B schemas: {size} B (without them {baseline} B)")
    # the contract's tools and the one per-flow tool of allowed(), plus the ten flows' tools when they fit
    assert len(listed["tools"]) == len(TOOL_NAMES) + 1 + (10 if schema_bytes < MAX_SCHEMA_BYTES else 0)
    assert size - baseline <= 10 * MAX_FLOW_TOOL_BYTES


DEEP_TEXT = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("mode", ERAS)
async def test_json_text_nested_too_deep_inside_a_default_or_an_argument_is_refused_without_recursing(
    mode: str,
) -> None:
    inputs = {"schema": {"properties": {"Rows": {"type": "list", "value": DEEP_TEXT}, "Name": {"type": "text"}}}}
    async with flow_stack(mode, DESKTOP_FLOWS_ALLOWED=allowed(1)) as stack:
        flow_id = seed(stack, 1, inputs=json.dumps(inputs))
        tools = await stack.tools()
        schema = ok(await stack.call("get_desktop_flow_schema", {"flow": flow_id}))
        refused = error_of(await stack.call("run_desktop_flow", {"flow": flow_id, "inputs": DEEP_TEXT}))
    assert tools["run_hostile_1"]["inputSchema"]["properties"]["Rows"] == {"type": "array"}
    assert schema["inputs"]["properties"]["Rows"] == {"type": "array"}  # the default is left out
    assert refused["code"] == "invalid_argument"


class DeepOutputs(httpx.AsyncBaseTransport):
    """Dataverse's outputs file of every run, as a hostile flow could write it: nested 100,000 levels."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/outputs/$value") and "flowsessions" in request.url.path:
            return httpx.Response(200, content=b'{"a":' + DEEP_TEXT.encode() + b"}")
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("mode", ERAS)
async def test_run_outputs_nested_too_deep_come_back_as_text_with_a_note(mode: str) -> None:
    async with full_stack(mode, wrap=DeepOutputs) as stack:
        started = ok(await stack.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
        outputs = ok(await stack.call("get_desktop_flow_run_outputs", {"run_id": started["run_id"]}))
    assert isinstance(outputs["outputs"], str) and "nested deeper than 64 levels" in outputs["note"]
