"""What clients see of the tools, and the gate every call passes first.

``ToolSurface`` is a server middleware with two jobs:

- ``tools/list``: the SDK's list, with each schema made lean (no titles, no ``default: null``, no null
  branches: null means "not given" and results leave None out; an output schema's part used once is written in
  place, not in ``$defs``) and input schemas closed (``additionalProperties: false``), in the fixed order of
  ``TOOL_ORDER``.
- ``tools/call``: the arguments are checked against that same published schema, strictly (a boolean is no
  number, an unknown name is refused with the closest valid one), before the SDK or any Dataverse request
  sees them (jsonschema; arguments that plainly fit a plain schema are passed by ``plain_arguments`` without it). A
  refusal is the ``invalid_argument`` envelope naming the argument and the rule. First, before
  anything recurses: no argument nests deeper than ``bounds.MAX_MESSAGE_DEPTH`` or holds a lone surrogate. JSON null
  means "not given" and is dropped; an object or array sent as a JSON string (some clients do) is parsed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, cast

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult

from ..bounds import MAX_MESSAGE_DEPTH, MAX_NAME, clean, json_too_deep, value_problem
from ..errors import invalid_argument
from . import error_result
from .plain_arguments import plain_check

Schema = dict[str, Any]
Validate = Callable[[dict[str, Any]], "str | None"]

TOOL_ORDER = (
    "list_desktop_flows",
    "get_desktop_flow_schema",
    "run_desktop_flow",
    "wait_for_desktop_flow_run",
    "get_desktop_flow_run",
    "get_desktop_flow_run_outputs",
    "list_desktop_flow_runs",
    "cancel_desktop_flow_run",
    "diagnose_desktop_flow_run",
    "summarize_desktop_flow_runs",
    "list_machines",
    "list_connection_references",
    "check_access",
    "list_environments",
)


def lean(schema: Any, *, closed: bool = False, output: bool = False) -> Any:
    """A JSON Schema without what costs bytes and says nothing here: titles, null branches, ``default: null``,
    ``additionalProperties: true``; in output schemas also defaults and the models' docstrings. ``closed`` adds
    ``additionalProperties: false`` at the top."""
    if isinstance(schema, list):
        return [lean(item, output=output) for item in cast(list[Any], schema)]
    if not isinstance(schema, dict):
        return schema
    source = cast(Schema, schema)
    branches = source.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in cast(list[Any], branches) if b != {"type": "null"}]
        if len(kept) == 1:
            merged = {**{k: v for k, v in source.items() if k != "anyOf"}, **cast(Schema, kept[0])}
            return lean(merged, closed=closed, output=output)
        source = {**source, "anyOf": kept}
    out: Schema = {}
    for key, value in source.items():
        if key == "title" or (key == "default" and (value is None or output)):
            continue
        if key == "additionalProperties" and value is True:
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: lean(sub, output=output) for name, sub in cast(Schema, value).items()}
            if key == "$defs" and output:  # a model's docstring is for maintainers
                out[key] = {
                    name: {k: v for k, v in sub.items() if k != "description"} for name, sub in out[key].items()
                }
        else:
            out[key] = lean(value, output=output)
    if closed and out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def inline_single_use(schema: Schema) -> Schema:
    """Each ``$defs`` entry referenced once is written where it is used: the same schema, without the
    ``$defs``/``$ref`` wrapping that only pays off for a part used twice."""
    defs = cast(Schema, schema.get("$defs") or {})
    text = json.dumps(schema)
    once = {name for name in defs if text.count(json.dumps(f"#/$defs/{name}")) == 1}
    if not once:
        return schema

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in cast(list[Any], node)]
        if not isinstance(node, dict):
            return node
        item = cast(Schema, node)
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/$defs/") in once:
            rest = {k: v for k, v in item.items() if k != "$ref"}
            return walk({**cast(Schema, defs[ref.removeprefix("#/$defs/")]), **rest})
        return {k: walk(v) for k, v in item.items() if not (k == "$defs" and item is schema)}

    out = cast(Schema, walk(schema))
    kept = {name: walk(sub) for name, sub in defs.items() if name not in once}
    return {"$defs": kept, **out} if kept else out


def _rank(tool: Schema) -> tuple[int, str]:
    name = str(tool.get("name", ""))
    return (TOOL_ORDER.index(name) if name in TOOL_ORDER else len(TOOL_ORDER), name)


def lean_tool(tool: Schema) -> Schema:
    out = dict(tool)
    if "inputSchema" in out:
        out["inputSchema"] = lean(out["inputSchema"], closed=True)
    if "outputSchema" in out:
        out["outputSchema"] = inline_single_use(lean(out["outputSchema"], output=True))
    return out


class ToolSurface:
    """The middleware; ``invalidate()`` after tools are added or removed."""

    def __init__(self, mcp: MCPServer[Any]) -> None:
        self._mcp = mcp
        self._validators: dict[str, Validate] | None = None

    def invalidate(self) -> None:
        self._validators = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list":
            result = await call_next(ctx)
            if isinstance(result, dict) and isinstance(result.get("tools"), list):
                tools = [lean_tool(t) for t in cast(list[Schema], result["tools"])]
                return {**result, "tools": sorted(tools, key=_rank)}
            return result
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            params: Schema = ctx.params
            raw: Any = params.get("arguments")
            if raw is not None and not isinstance(raw, dict):
                return _refusal("arguments must be a JSON object.")
            problem = _unfit_value(cast(Schema, raw or {}))
            if problem is not None:
                return _refusal(problem)
            arguments = cast(Schema, raw or {})
            validate = (await self._validator_map()).get(str(params.get("name")))
            if validate is not None:
                cleaned = {k: v for k, v in arguments.items() if v is not None}
                problem = validate(cleaned)
                if problem is not None:
                    return _refusal(problem)
                return await call_next(replace(ctx, params={**params, "arguments": cleaned}))
        return await call_next(ctx)

    async def _validator_map(self) -> dict[str, Validate]:
        if self._validators is None:
            tools = await self._mcp.list_tools()
            self._validators = {
                tool.name: _validator(tool.name, lean(tool.input_schema, closed=True)) for tool in tools
            }
        return self._validators


def _unfit_value(arguments: Schema) -> str | None:
    """Bounds before any check that recurses: each argument's nesting, and text that is not Unicode."""
    for name, value in arguments.items():
        problem = value_problem(name) or value_problem(value, limit=MAX_MESSAGE_DEPTH - 1)
        if problem is not None:
            shown = clean(name, MAX_NAME) or "(unnamed)"
            return f"Argument {shown!r} {problem}; send plain JSON text and values."
    return None


def _refusal(problem: str) -> CallToolResult:
    return error_result(
        invalid_argument(
            problem, hint="Fix that argument and call again; the tool's inputSchema lists what it accepts."
        )
    )


def _validator(tool: str, schema: Schema) -> Validate:
    from jsonschema import Draft202012Validator  # on the first call, not at start-up

    checker = Draft202012Validator(schema)
    properties = cast(Schema, schema.get("properties") or {})
    plainly_fits = plain_check(schema)

    def validate(arguments: dict[str, Any]) -> str | None:
        _parse_json_strings(arguments, properties)
        if plainly_fits is not None and plainly_fits(arguments):  # what jsonschema passes, told in a tenth of its time
            return None
        found: list[Any] = list(checker.iter_errors(arguments))  # pyright: ignore[reportUnknownMemberType]
        errors = sorted(found, key=lambda e: (len(e.path), str(e.path)))
        return _describe(tool, errors[0], properties) if errors else None

    return validate


def _parse_json_strings(arguments: dict[str, Any], properties: Schema) -> None:
    for name, value in list(arguments.items()):
        kind = cast(Schema, properties.get(name) or {}).get("type")
        if isinstance(value, str) and kind in ("object", "array") and not json_too_deep(value, MAX_MESSAGE_DEPTH):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict if kind == "object" else list):
                arguments[name] = parsed


def _describe(tool: str, error: Any, properties: Schema) -> str:
    """One sentence naming the argument and the rule it broke."""
    path = [str(part) for part in error.path]
    name = ".".join(path) if path else None
    rule, limit = error.validator, error.validator_value
    if rule == "additionalProperties" and not path:
        unknown = sorted(set(error.instance) - set(properties))
        return "; ".join(_unknown(tool, u, properties) for u in unknown)
    if rule == "required":
        missing = [m for m in limit if m not in error.instance]
        return f"{tool} needs the argument {missing[0]!r}."
    phrases = {
        "maxLength": f"is at most {limit} characters",
        "minLength": f"is at least {limit} character{'s' if limit != 1 else ''}",
        "maximum": f"is at most {limit}",
        "minimum": f"is at least {limit}",
        "enum": f"is one of {', '.join(json.dumps(v) for v in _listed(limit))}",
        "const": f"must be {json.dumps(limit)}",
        "type": f"must be of type {' or '.join(str(v) for v in _listed(limit))}",
        "pattern": "does not have the expected format",
        "additionalProperties": "does not accept that key",
    }
    phrase = phrases.get(rule, f"breaks the rule {rule}")
    return f"Argument {name!r} {phrase} (got {_shown(error.instance)})."


def _unknown(tool: str, name: str, properties: Schema) -> str:
    close = difflib.get_close_matches(name.lower(), [p.lower() for p in properties], n=1, cutoff=0.5)
    by_lower = {p.lower(): p for p in properties}
    if close:
        return f"{tool} has no argument {name!r}; did you mean {by_lower[close[0]]!r}?"
    return f"{tool} has no argument {name!r}; it takes {', '.join(properties) or 'no arguments'}."


def _listed(values: Any) -> Iterable[Any]:
    return cast(list[Any], values) if isinstance(values, list) else [values]


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"
