from __future__ import annotations

import json
from typing import Any

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.schema import normalise, validate_inputs
from tests.helpers import INPUT_SCHEMA

# The documented outputs example, verbatim in shape.
OUTPUT_SCHEMA = {
    "schema": {
        "properties": {
            "outputText": {
                "default": "",
                "description": "",
                "format": None,
                "title": "outputText",
                "type": "string",
                "value": None,
            },
            "outputInteger": {
                "default": "",
                "description": "",
                "format": None,
                "title": "outputInteger",
                "type": "number",
                "value": None,
            },
        },
        "type": "object",
    }
}


def test_loose_dataverse_inputs_become_a_closed_json_schema_with_typed_defaults() -> None:
    assert normalise(json.dumps(INPUT_SCHEMA), closed=True) == {
        "type": "object",
        "properties": {
            "InvoiceNumber": {"type": "string", "title": "InvoiceNumber"},
            "Amount": {"type": "number", "title": "Amount", "default": 0},
        },
        "additionalProperties": False,
    }


def test_outputs_stay_open_and_drop_null_values() -> None:
    assert normalise(json.dumps(OUTPUT_SCHEMA), closed=False) == {
        "type": "object",
        "properties": {
            "outputText": {"type": "string", "title": "outputText"},
            "outputInteger": {"type": "number", "title": "outputInteger"},
        },
    }


def test_pad_kinds_and_nested_shapes_are_translated() -> None:
    raw = {
        "schema": {
            "type": "object",
            "properties": {
                "Approved": {"type": "boolean", "value": "True", "description": "Pre-approved?"},
                "Lines": {"type": "array", "value": '["a","b"]', "items": {"type": "string"}},
                "Vendor": {"type": "object", "value": "", "properties": {"Id": {"type": "integer", "value": "7"}}},
                "Sheet": {"type": "datatable", "value": ""},
                "Ratio": {"type": "number", "value": "0.25", "format": "float"},
            },
        }
    }
    props = normalise(json.dumps(raw), closed=True)["properties"]
    assert props["Approved"] == {"type": "boolean", "description": "Pre-approved?", "default": True}
    assert props["Lines"] == {"type": "array", "default": ["a", "b"], "items": {"type": "string"}}
    assert props["Vendor"] == {"type": "object", "properties": {"Id": {"type": "integer", "default": 7}}}
    assert props["Sheet"] == {"x-pad-type": "datatable"}
    assert props["Ratio"] == {"type": "number", "format": "float", "default": 0.25}


@pytest.mark.parametrize("body", [None, "", "   "])
def test_a_flow_without_inputs_gets_an_empty_object_schema(body: str | None) -> None:
    assert normalise(body, closed=True) == {"type": "object", "properties": {}, "additionalProperties": False}


def test_unreadable_schema_text_does_not_block_runs() -> None:
    schema = normalise("{not json", closed=True)
    assert schema["type"] == "object"
    assert "additionalProperties" not in schema


def schema_for(**props: Any) -> dict[str, Any]:
    return normalise(json.dumps({"schema": {"type": "object", "properties": props}}), closed=True)


def test_matching_inputs_pass() -> None:
    validate_inputs(
        normalise(json.dumps(INPUT_SCHEMA), closed=True), {"InvoiceNumber": "INV-1", "Amount": 12.5}, flow_name="f"
    )


def test_unknown_inputs_are_named_with_what_the_flow_accepts() -> None:
    with pytest.raises(DesktopFlowsError) as caught:
        validate_inputs(normalise(json.dumps(INPUT_SCHEMA), closed=True), {"Invoice": "x"}, flow_name="Invoice entry")
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert "unknown input(s) 'Invoice'" in caught.value.message
    assert "InvoiceNumber (string), Amount (number)" in caught.value.message
    assert caught.value.hint is not None and "get_desktop_flow_schema" in caught.value.hint


def test_wrong_types_name_the_input_and_the_expected_type() -> None:
    with pytest.raises(DesktopFlowsError) as caught:
        validate_inputs(
            normalise(json.dumps(INPUT_SCHEMA), closed=True), {"InvoiceNumber": 42, "Amount": "12"}, flow_name="f"
        )
    assert "input 'Amount' must be a number (got string '12')" in caught.value.message
    assert "input 'InvoiceNumber' must be a string (got number 42)" in caught.value.message


def test_booleans_are_not_numbers_and_unknown_pad_types_accept_anything() -> None:
    schema = schema_for(Count={"type": "number"}, Sheet={"type": "datatable"})
    validate_inputs(schema, {"Count": 3, "Sheet": [[1, 2]]}, flow_name="f")
    with pytest.raises(DesktopFlowsError, match="must be a number"):
        validate_inputs(schema, {"Count": True}, flow_name="f")
