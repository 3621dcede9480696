"""Desktop flow input/output schemas: Dataverse's loose shape in, proper JSON Schema out, inputs checked.

Dataverse stores ``{"schema": {"properties": {name: {"type", "default", "value", "format", "title",
"description"}}, "type": "object"}}`` where ``default``/``value`` are strings even for numbers, ``format`` is
null, descriptions are empty and there is no ``required``. PAD variable kinds we do not know pass through
without a ``type`` constraint (kept as ``x-pad-type``) so a new kind never blocks a run.

A flow's author writes the schema: one over ``bounds.MAX_SCHEMA_BYTES`` or nested deeper than
``bounds.MAX_SCHEMA_DEPTH`` is not parsed (``schema_problem``); it reads as an open object whose description says
why, and Dataverse alone checks the inputs.
"""

from __future__ import annotations

import json
from typing import Any, cast

from .bounds import MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, json_too_deep
from .errors import invalid_argument

_JSON_TYPES = {
    "string": "string",
    "text": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "array": "array",
    "list": "array",
    "object": "object",
    "customobject": "object",
}


def empty_object_schema(*, closed: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    if closed:
        schema["additionalProperties"] = False
    return schema


def schema_problem(text: str | None) -> str | None:
    """Why a flow's schema text is not read at all (too large, too deep), or None. Checked without recursing."""
    if text is None:
        return None
    if len(text) > MAX_SCHEMA_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SCHEMA_BYTES:
        return f"is over {MAX_SCHEMA_BYTES} bytes"
    if json_too_deep(text, MAX_SCHEMA_DEPTH):
        return f"is nested deeper than {MAX_SCHEMA_DEPTH} levels"
    return None


def normalise(text: str | None, *, closed: bool) -> dict[str, Any]:
    """JSON Schema for an inputs (``closed=True``: unknown names refused) or outputs ``$value`` body."""
    if text is None or not text.strip():
        return empty_object_schema(closed=closed)
    problem = schema_problem(text)
    if problem is not None:
        schema = empty_object_schema(closed=False)
        schema["description"] = f"This flow's schema {problem}, past what this server reads; values are not checked."
        return schema
    try:
        raw: Any = json.loads(text)
    except ValueError:
        schema = empty_object_schema(closed=False)
        schema["description"] = "Dataverse returned a schema that is not JSON; values are not checked."
        return schema
    document = _as_dict(raw)
    inner = _as_dict(document.get("schema")) or document
    schema = _property(inner)
    schema["type"] = "object"
    schema.setdefault("properties", {})
    if closed:
        schema["additionalProperties"] = False
    return schema


def _property(raw: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    raw_type = raw.get("type")
    json_type = _JSON_TYPES.get(raw_type.lower()) if isinstance(raw_type, str) else None
    if json_type:
        schema["type"] = json_type
    elif isinstance(raw_type, str) and raw_type:
        schema["x-pad-type"] = raw_type
    for key in ("title", "description", "format"):
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            schema[key] = value
    default = _default(raw, json_type)
    if default is not None:
        schema["default"] = default
    properties = _as_dict(raw.get("properties"))
    if properties or json_type == "object":
        schema["properties"] = {name: _property(_as_dict(value)) for name, value in properties.items()}
    items = _as_dict(raw.get("items"))
    if items:
        schema["items"] = _property(items)
    enum = raw.get("enum")
    if isinstance(enum, list) and enum:
        schema["enum"] = cast(list[Any], enum)
    return schema


def _default(raw: dict[str, Any], json_type: str | None) -> Any:
    """PAD keeps the variable's default in ``value`` (falling back to ``default``), typed as a string."""
    for key in ("value", "default"):
        coerced = _coerce(raw.get(key), json_type)
        if coerced is not None:
            return coerced
    return None


def _coerce(value: Any, json_type: str | None) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    try:
        if json_type == "number" or json_type == "integer":
            number = float(value)
            return int(number) if number.is_integer() else number
        if json_type == "boolean":
            return {"true": True, "false": False}.get(value.strip().lower())
        if json_type in ("array", "object"):  # JSON text inside the schema: its own depth is checked here
            return None if json_too_deep(value, MAX_SCHEMA_DEPTH) else json.loads(value)
    except ValueError:
        return None
    return value


def _as_dict(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def validate_inputs(schema: dict[str, Any], inputs: dict[str, Any], *, flow_name: str) -> None:
    """Raise invalid_argument naming each wrong input and the expected type; nothing is sent on failure."""
    from jsonschema import Draft202012Validator  # imported on the run path only: it costs start-up time

    properties = _as_dict(schema.get("properties"))
    problems: list[str] = []
    unknown = [name for name in inputs if name not in properties]
    if unknown and schema.get("additionalProperties") is False:
        accepted = ", ".join(f"{name} ({_describe(_as_dict(p))})" for name, p in properties.items()) or "none"
        problems.append(f"unknown input(s) {', '.join(repr(n) for n in unknown)}; the flow accepts: {accepted}")
    validator = Draft202012Validator({**schema, "additionalProperties": True})
    errors: list[Any] = list(validator.iter_errors(inputs))  # pyright: ignore[reportUnknownMemberType]  # overloads
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(part) for part in error.absolute_path) or "inputs"
        if error.validator == "type":
            expected = error.validator_value
            problems.append(f"input {where!r} must be {_article(expected)} (got {_json_kind(error.instance)})")
        else:
            problems.append(f"input {where!r}: {error.message}")
    if problems:
        shown = problems[:6] + ([f"and {len(problems) - 6} more"] if len(problems) > 6 else [])
        raise invalid_argument(
            f"Inputs for desktop flow {flow_name!r} do not match its schema: " + "; ".join(shown) + ".",
            hint="Call get_desktop_flow_schema to see each input's name and type, then call run_desktop_flow again.",
        )


def _describe(prop: dict[str, Any]) -> str:
    return str(prop.get("type") or prop.get("x-pad-type") or "any")


def _article(expected: Any) -> str:
    names: list[Any] = cast(list[Any], expected) if isinstance(expected, list) else [expected]
    words = [("an " if str(n)[0] in "aeiou" else "a ") + str(n) for n in names]
    return " or ".join(words)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"
