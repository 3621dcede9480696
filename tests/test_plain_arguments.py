"""The quick argument check (tools/plain_arguments.py) passes only what jsonschema passes, and is used for the
tools' own schemas: the answer, and every refusal's wording, stay jsonschema's."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from desktop_flows_mcp.tools.plain_arguments import plain_check
from tests.helpers import RUN_ID, connect, make_settings

pytestmark = pytest.mark.anyio

Schema = dict[str, Any]
ODD_VALUES: list[Any] = [None, True, False, 0, 1, -1, 1.0, 2.5, 2**70, "", "1", "true", "{}", [], {}, {"a": 1}]


def candidates(prop: Schema) -> list[Any]:
    """Values at and just past each bound of a property, of its type and of every other."""
    values = list(ODD_VALUES)
    low, high = prop.get("minimum"), prop.get("maximum")
    for bound in (low, high):
        if isinstance(bound, int | float):
            values += [bound, bound - 1, bound + 1, float(bound), int(bound)]
    for length in (prop.get("minLength"), prop.get("maxLength")):
        if isinstance(length, int):
            for n in {max(length - 1, 0), length, length + 1}:
                values += ["x" * n, "é" * n, "😀" * n]  # one character each, whatever its UTF-8 or UTF-16 size
    for member in prop.get("enum", []):
        values += [member, str(member).lower(), str(member) + " "]
    return values


def argument_sets(schema: Schema) -> list[dict[str, Any]]:
    """Every property set to each candidate (the others valid or left out), a missing required one, an unknown."""
    properties: Schema = schema.get("properties", {})
    valid = {name: next(iter(good_values(prop)), None) for name, prop in properties.items()}
    required = {name: valid[name] for name in schema.get("required", [])}
    sets = [required, {**required, "unknown": 1}, {k: v for k, v in required.items() if k != next(iter(required), "")}]
    sets.append({k: v for k, v in valid.items() if v is not None})
    for name, prop in properties.items():
        sets += [{**required, name: value} for value in candidates(prop)]
    return sets


def good_values(prop: Schema) -> list[Any]:
    return [v for v in candidates(prop) if not errors_of({"properties": {"p": prop}}, {"p": v})]


def errors_of(schema: Schema, instance: Any) -> list[Any]:
    return list(Draft202012Validator(schema).iter_errors(instance))  # pyright: ignore[reportUnknownMemberType]


def agrees_with_jsonschema(schema: Schema) -> tuple[int, int]:
    """Asserts the check passes nothing jsonschema refuses; returns (sets it passed, sets jsonschema passed)."""
    check = plain_check(schema)
    assert check is not None
    passed = valid = 0
    for arguments in argument_sets(schema):
        fits = check(arguments)
        errors = errors_of(schema, arguments)
        assert not (fits and errors), (arguments, errors[0].message)
        passed, valid = passed + fits, valid + (not errors)
    return passed, valid


@pytest.mark.parametrize("env", [{}, {"DESKTOP_FLOWS_APPROVAL": "runs"}], ids=["default", "approval"])
async def test_every_tools_schema_has_a_quick_check_that_passes_only_what_jsonschema_passes(
    env: dict[str, str],
) -> None:
    async with connect(make_settings(**env)) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        passed, valid = agrees_with_jsonschema(tool.input_schema)
        assert passed > 0 and passed >= valid // 2, tool.name  # it answers the usual calls itself


def test_a_run_read_is_passed_by_the_quick_check_and_odd_values_go_to_jsonschema() -> None:
    schema: Schema = {
        "type": "object",
        "properties": {"run_id": {"type": "string", "minLength": 1, "maxLength": 64}},
        "required": ["run_id"],
        "additionalProperties": False,
    }
    check = plain_check(schema)
    assert check is not None
    assert check({"run_id": RUN_ID})
    assert not any(
        check(a) for a in ({}, {"run_id": ""}, {"run_id": 1}, {"run_id": RUN_ID, "x": 1}, {"run_id": "x" * 65})
    )


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "integer", "minimum": 1.5, "maximum": 10},
        {"type": "integer", "minimum": -3},
        {"type": "string", "minLength": 0, "maxLength": 0},
        {"type": "string", "enum": ["A", "B"], "maxLength": 1},
        {"type": "boolean", "default": False},
        {"type": "object", "description": "anything"},
    ],
)
def test_edge_bounds_agree_with_jsonschema(prop: Schema) -> None:
    for required in ([], ["p"]):
        agrees_with_jsonschema(
            {
                "type": "object",
                "properties": {"p": prop, "q": {"type": "string"}},
                "required": required,
                "additionalProperties": False,
            }
        )


def closed(prop: Schema, **top: Any) -> Schema:
    return {"type": "object", "properties": {"p": prop}, "additionalProperties": False, **top}


@pytest.mark.parametrize(
    "schema",
    [
        closed({"type": "string"}, additionalProperties=True),
        {"type": "object", "properties": {"p": {"type": "string"}}},
        closed({"type": "string"}, **{"$defs": {}}),
        closed({"type": "string"}, minProperties=1),
        closed({"type": "string"}, required="p"),
        closed({"type": "string"}, required=["q"]),
        closed({"type": "string", "pattern": "^a"}),
        closed({"type": "number"}),
        closed({"type": ["string", "null"]}),
        closed({"anyOf": [{"type": "string"}]}),
        closed({"type": "array", "items": {"type": "string"}}),
        closed({"type": "object", "properties": {"a": {"type": "string"}}}),
        closed({"type": "integer", "multipleOf": 2}),
        closed({"type": "integer", "maxLength": 2}),
        closed({"type": "string", "minimum": 1}),
        closed({"type": "string", "enum": ["a", 1]}),
        closed({"type": "string", "maxLength": 1.5}),
        closed({"type": "integer", "maximum": "9"}),
        closed("string"),  # pyright: ignore[reportArgumentType]  # not a schema at all
    ],
)
def test_a_schema_with_anything_else_is_left_to_jsonschema(schema: Schema) -> None:
    assert plain_check(schema) is None
