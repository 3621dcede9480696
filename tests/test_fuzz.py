"""Fuzzed tool arguments: every tool, both protocol eras, over the emulator in one process.

Arguments come from each tool's published inputSchema (tools/list) and from junk: wrong types, unknown keys,
nulls, the string "null", huge strings, lone surrogates, values nested past the limits; real flow names, run ids
and cursors are mixed in so that calls also get past validation. Whatever comes in, the answer is a success or the
error envelope with a known code that is not ``internal``, and the server goes on serving.

The same junk also goes over stdio as JSON-RPC lines, nested up to 20,000 levels (deeper than the SDK's client can
send): each line is answered (the envelope, or -32600 for a line past ``MAX_MESSAGE_DEPTH``) and the server lives.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.types import CallToolResult

from desktop_flows_mcp.app import App
from desktop_flows_mcp.bounds import MAX_MESSAGE_DEPTH, json_too_deep
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.errors import ErrorCode
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.stdio import serve_stdio
from desktop_flows_mcp.tools.surface import TOOL_ORDER
from tests.helpers import ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS, Stack, full_stack

Schema = dict[str, Any]
Strategy = st.SearchStrategy[Any]
KNOWN_CODES = {code.value for code in ErrorCode} - {ErrorCode.INTERNAL.value}
HUGE = "x" * 300_000

SCALARS: Strategy = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs"]) | st.characters(), min_size=1, max_size=8),  # lone surrogates too
    st.sampled_from(["null", "None", "", " ", "true", "1", "-1", "1e999", "{}", "[]", "%", "'", HUGE]),
)


def _nested(depth: int, leaf: Any) -> Any:
    """A value ``depth`` levels deep: past the server's limit (the SDK client sends no deeper; stdio tests do)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _containers(inner: Strategy) -> Strategy:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


JUNK: Strategy = st.recursive(SCALARS, _containers, max_leaves=10) | st.builds(
    _nested, st.sampled_from([65, 150]), SCALARS
)


def from_schema(schema: Schema) -> Strategy:
    """Values a JSON Schema (the subset tools publish) accepts."""
    if "enum" in schema:
        return st.sampled_from(cast(list[Any], schema["enum"]))
    if "const" in schema:
        return st.just(schema["const"])
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return st.one_of([from_schema(branch) for branch in cast(list[Schema], branches)])
    kind = schema.get("type")
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 300), 300))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_schema(cast(Schema, schema.get("items") or {})), max_size=4)
    if kind == "object":
        properties = cast(dict[str, Schema], schema.get("properties") or {})
        if not properties:
            return st.dictionaries(st.text(max_size=20), JUNK, max_size=5)
        required = set(cast(list[str], schema.get("required") or []))
        return st.fixed_dictionaries(
            {name: from_schema(sub) for name, sub in properties.items() if name in required},
            optional={name: from_schema(sub) for name, sub in properties.items() if name not in required},
        )
    return JUNK


@dataclass
class Known:
    """Real values from the emulator, so that fuzzed calls also reach Dataverse."""

    flows: list[str]
    run_ids: list[str]
    cursors: list[str]


def realistic(name: str, known: Known) -> Strategy | None:
    if name == "flow":
        return st.sampled_from(known.flows)
    if name == "run_id":
        return st.sampled_from(known.run_ids) | st.uuids().map(str)
    if name == "inputs":
        return st.just(INVOICE_INPUTS) | st.fixed_dictionaries({}, optional=dict.fromkeys(INVOICE_INPUTS, JUNK))
    if name == "cursor":
        return st.sampled_from(known.cursors)
    return None


def arguments(schema: Schema, known: Known) -> Strategy:
    properties = cast(dict[str, Schema], schema.get("properties") or {})
    sensible: dict[str, Strategy] = {}
    for name, sub in properties.items():
        real = realistic(name, known)
        sensible[name] = from_schema(sub) if real is None else from_schema(sub) | real
    required = set(cast(list[str], schema.get("required") or []))
    valid = st.fixed_dictionaries(
        {name: value for name, value in sensible.items() if name in required},
        optional={name: value for name, value in sensible.items() if name not in required},
    )
    names = st.sampled_from(sorted(properties)) if properties else st.nothing()
    key = names | st.text(max_size=20) | st.sampled_from(["idempotencyKey", "runId", "Flow", "", "__proto__"])
    return st.one_of(
        valid,
        st.builds(_merged, valid, st.dictionaries(key, JUNK, min_size=1, max_size=3)),  # unknown keys
        st.builds(_with, valid, names, JUNK),  # a known key, any value
        st.dictionaries(key, JUNK, max_size=5),
    )


def _merged(args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**args, **extra}


def _with(args: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return {**args, name: value}


@dataclass
class Served:
    portal: BlockingPortal
    stack: Stack
    schemas: dict[str, Schema]
    known: Known

    def call(self, tool: str, args: dict[str, Any]) -> CallToolResult:
        return self.portal.call(self.stack.call, tool, args)


@pytest.fixture(scope="module", params=ERAS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(full_stack(cast(str, request.param))) as stack,
    ):
        tools = portal.call(stack.client.list_tools).tools
        schemas = {tool.name: tool.input_schema for tool in tools}
        served = Served(portal, stack, schemas, Known([], [], []))
        page = ok(served.call("list_desktop_flows", {"limit": 2}))
        started = ok(served.call("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
        runs = ok(served.call("list_desktop_flow_runs", {"limit": 1}))
        served.known = Known(
            flows=[INVOICE_FLOW, page["flows"][0]["id"], page["flows"][1]["name"], str(uuid.uuid4())],
            run_ids=[started["run_id"]],
            cursors=[page["next_cursor"], runs["next_cursor"]],
        )
        yield served


@pytest.mark.parametrize("tool", TOOL_ORDER)
def test_any_arguments_get_a_result_or_a_known_error_and_the_server_keeps_serving(served: Served, tool: str) -> None:
    assert tool in served.schemas, f"{tool} is not offered by the server"
    codes: list[str] = []

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(args=arguments(served.schemas[tool], served.known))
    def answers_every_call(args: dict[str, Any]) -> None:
        result = served.call(tool, args)
        payload = cast(Schema, result.structured_content)
        if result.is_error:
            assert set(payload) == {"error"}
            assert payload["error"]["code"] in KNOWN_CODES, payload["error"]
            codes.append(payload["error"]["code"])
        else:
            assert "error" not in payload
            codes.append("ok")

    answers_every_call()
    assert ok(served.call("list_desktop_flows", {}))["flows"]
    assert codes


DEEP_MARK = re.compile(r'"__deep_(\d+)__"')
WIRE_JUNK: Strategy = JUNK | st.sampled_from([1_000, 3_000, 20_000]).map(lambda depth: f"__deep_{depth}__")
HANDSHAKE = [
    {"jsonrpc": "2.0", "id": "init", "method": "initialize",
     "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]  # fmt: skip


def wire_line(request_id: int, tool: str, arguments: dict[str, Any]) -> bytes:
    """A tools/call line; lone surrogates as \\u escapes, and the deep marks written out as brackets."""
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    text = json.dumps(message)  # ensure_ascii: a lone surrogate becomes an escape, as a client would send it
    return DEEP_MARK.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text).encode() + b"\n"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    calls=st.lists(
        st.tuples(st.sampled_from(TOOL_ORDER), st.dictionaries(st.text(max_size=12), WIRE_JUNK, max_size=3)),
        min_size=10,
        max_size=10,
    )
)
def test_junk_over_stdio_gets_an_answer_for_every_line_and_the_server_keeps_serving(
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    import anyio

    lines = [json.dumps(m).encode() + b"\n" for m in HANDSHAKE]
    lines += [wire_line(i, tool, arguments) for i, (tool, arguments) in enumerate(calls)]
    lines.append(wire_line(len(calls), "list_desktop_flows", {}))
    out = io.BytesIO()
    server = build_server(App(Settings.from_env({}), dataverse_transport=Emulator().transport()))
    anyio.run(lambda: serve_stdio(server, streams=(io.BytesIO(b"".join(lines)), out), handle_signals=False))
    answers = {answer["id"]: answer for answer in map(json.loads, out.getvalue().splitlines())}
    for i, line in enumerate(lines[2:]):
        answer = answers[i]
        if json_too_deep(line, MAX_MESSAGE_DEPTH):
            assert answer["error"]["code"] == -32600, answer
            continue
        assert "error" not in answer, answer  # a tools/call the server could read: always a tool result
        payload = answer["result"]["structuredContent"]
        if answer["result"].get("isError"):
            assert set(payload) == {"error"} and payload["error"]["code"] in KNOWN_CODES, payload
    assert answers[len(calls)]["result"]["structuredContent"]["flows"]
