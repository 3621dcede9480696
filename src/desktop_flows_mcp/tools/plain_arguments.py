"""Arguments that plainly fit a tool's input schema, told without a JSON Schema validator.

Most tools take a few strings, integers, booleans and enums with bounds; checking such arguments with jsonschema
costs a call ~20 µs, as much as all of our own work on a run read. ``plain_check`` compiles a schema of only those
keywords into a check that answers True only when jsonschema would find no error; anything else (a float for an
integer, a keyword not listed here, a schema it does not know) is "not plainly", and jsonschema decides as before,
with its own words for the error. So the answer, and every refusal, is jsonschema's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

Schema = dict[str, Any]
Check = Callable[[Any], bool]

_TOP = frozenset({"type", "properties", "required", "additionalProperties", "description"})
_PROPERTY = frozenset({"type", "minLength", "maxLength", "minimum", "maximum", "enum", "default", "description"})


def plain_check(schema: Schema) -> Callable[[dict[str, Any]], bool] | None:
    """A check for a closed object schema of plain properties, or None when the schema is not one."""
    if set(schema) - _TOP or schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        return None
    properties = schema.get("properties")
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    checks: dict[str, Check] = {}
    for name, prop in cast(Schema, properties).items():
        check = _property_check(prop)
        if check is None:
            return None
        checks[name] = check
    needed = tuple(cast(list[Any], required))
    if not all(isinstance(name, str) and name in checks for name in needed):
        return None

    def fits(arguments: dict[str, Any]) -> bool:
        for name, value in arguments.items():
            check = checks.get(name)
            if check is None or not check(value):
                return False
        return all(name in arguments for name in needed)

    return fits


def _property_check(prop: Any) -> Check | None:
    if not isinstance(prop, dict):
        return None
    rules = cast(Schema, prop)
    kind = rules.get("type")
    if set(rules) - _PROPERTY or not isinstance(kind, str):
        return None
    low, high = rules.get("minimum"), rules.get("maximum")
    shortest, longest = rules.get("minLength", 0), rules.get("maxLength")
    enum = rules.get("enum")
    if kind == "string" and (low, high) == (None, None) and _counts(shortest, longest):
        if enum is None:
            return lambda v: type(v) is str and shortest <= len(v) and (longest is None or len(v) <= longest)
        if not isinstance(enum, list) or not all(isinstance(v, str) for v in cast(list[Any], enum)):
            return None
        allowed = frozenset(cast(list[str], enum))
        return lambda v: (
            type(v) is str and v in allowed and shortest <= len(v) and (longest is None or len(v) <= longest)
        )
    if enum is not None or "minLength" in rules or longest is not None:
        return None
    if kind == "integer" and _bound(low) and _bound(high):
        return lambda v: type(v) is int and (low is None or v >= low) and (high is None or v <= high)
    if kind in ("boolean", "object") and (low, high) == (None, None):
        plain = bool if kind == "boolean" else dict
        return lambda v: type(v) is plain
    return None


def _counts(shortest: Any, longest: Any) -> bool:
    """minLength and maxLength that are lengths (jsonschema counts characters, as ``len`` does)."""
    return type(shortest) is int and shortest >= 0 and (longest is None or (type(longest) is int and longest >= 0))


def _bound(value: Any) -> bool:
    return value is None or type(value) in (int, float)
