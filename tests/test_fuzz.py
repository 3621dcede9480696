"""Fuzzed tool arguments: every tool, both protocol eras, over the emulator in one process.

Arguments come from each tool's published inputSchema (tools/list) and from junk: wrong types, unknown keys,
nulls, the string "null", huge strings, nested values; real flow names, run ids and cursors are mixed in so
that calls also get past validation. Whatever comes in, the answer is a success or the error envelope with a
known code that is not ``internal``, and the server goes on serving.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.types import CallToolResult

from desktop_flows_mcp.errors import ErrorCode
from desktop_flows_mcp.tools.surface import TOOL_ORDER
from tests.conftest import ok
from tests.test_full_stack import ERAS, INVOICE_FLOW, INVOICE_INPUTS, Stack, full_stack

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


JUNK: Strategy = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
) | st.builds(_nested, st.sampled_from([65, 150]), SCALARS)


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
