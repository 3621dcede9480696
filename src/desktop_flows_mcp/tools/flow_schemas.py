"""What one per-flow tool publishes: its input schema, output schema and description, from the flow's schemas.

============  ===============================================================================================
input         the flow's inputs (``schema.normalise``) as top-level arguments, plus an optional ``run_options``
              object: run_desktop_flow's own options, with ``wait_seconds`` defaulting to 60
output        run_desktop_flow's run record, ``outputs`` typed by the flow's output schema; nothing is required,
              so the error envelope conforms too (outputs that do not are left out: ``typed_outputs``)
============  ===============================================================================================

A flow gets no tool when its inputs cannot become arguments (``unfit`` says why): an input named
``run_options``, a name clients refuse as a property key, an input schema that is not JSON, or a schema too large or
too deep to read (``schema.schema_problem``).

The flow's author wrote every title, description, default and choice: ``publish`` cleans and caps them
(``bounds``); defaults and choices that are long or not clean text are left out (the run still checks the inputs
against the full schema). An entry over ``MAX_FLOW_TOOL_BYTES`` sheds the inputs' prose, then its outputs' types;
still over, the flow gets no tool.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, cast

from mcp.types import ToolAnnotations

from ..bounds import (
    MAX_DEFAULT_BYTES,
    MAX_DESCRIPTION,
    MAX_ENUM_BYTES,
    MAX_FLOW_TOOL_BYTES,
    MAX_INPUT_PROSE,
    MAX_NAME,
    clean,
    is_clean,
)
from ..errors import invalid_argument
from ..flows import PublishedFlow
from ..models import StartedRun
from ..schema import normalise, schema_problem
from .surface import lean_tool

Schema = dict[str, Any]

RUN_OPTIONS_ARGUMENT = "run_options"
RUN_OPTION_NAMES = (
    "wait_seconds",
    "idempotency_key",
    "connection_name",
    "connection_type",
    "run_mode",
    "run_priority",
    "timeout_seconds",
    "callback_url",
    "confirm_token",  # only when approval is on: run_desktop_flow publishes it only then
)
WAIT_SECONDS = 60
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # what the strictest clients accept as a property key
_FORMATS = {"date", "date-time", "time", "email", "uri", "uuid"}  # PAD's others mean nothing to a client
ANY_JSON = ("array", "boolean", "number", "object", "string")  # one type a branch: the portable spelling
_PROSE = ("description", "default", "title")
_LIMITS = ("minimum", "maximum", "minLength", "maxLength")


# idempotentHint false and openWorldHint true are the protocol's defaults: not repeated in every per-flow tool.
ANNOTATIONS = ToolAnnotations(read_only_hint=False, destructive_hint=False)


@dataclass(frozen=True)
class Published:
    """What one per-flow tool shows in tools/list; ``outputs`` is the schema its result's outputs must meet."""

    title: str
    description: str
    input_schema: Schema
    output_schema: Schema
    outputs: Schema


def unfit(flow: PublishedFlow) -> str | None:
    """Why this flow cannot be a typed tool, or None."""
    for which, text in (("input", flow.inputs), ("output", flow.outputs)):
        problem = schema_problem(text)
        if problem is not None:
            return f"its {which} schema {problem}"
    inputs = normalise(flow.inputs, closed=True)
    if inputs.get("additionalProperties") is not False:
        return "its input schema is not JSON"
    names = list(cast(Schema, inputs["properties"]))
    if RUN_OPTIONS_ARGUMENT in names:
        return f"it has an input named {RUN_OPTIONS_ARGUMENT!r}, the name of the tool's own options"
    odd = [name for name in names if not _PROPERTY_NAME.match(name)]
    if odd:
        return f"its input {odd[0]!r} is not a valid argument name"
    return None


def run_options_schemas(run_tool_input: Schema) -> tuple[Schema, Schema]:
    """``run_options`` as published, and as checked: run_desktop_flow's options with their limits as that tool
    publishes them. The published form drops the prose and limits (run_desktop_flow shows them; every per-flow
    tool would pay for them again) but keeps types, choices and wait_seconds' maximum, defaulting to 60. Unknown
    options and the limits are refused by ``check_options`` (flow_tools), before any request."""
    given = cast(Schema, run_tool_input.get("properties") or {})
    checked = {name: _without(cast(Schema, given[name]), _PROSE) for name in RUN_OPTION_NAMES if name in given}
    published = {name: _terse(name, schema) for name, schema in checked.items()}
    published["wait_seconds"]["default"] = WAIT_SECONDS
    return {"type": "object", "properties": published}, {
        "type": "object",
        "properties": checked,
        "additionalProperties": False,
    }


def _without(schema: Schema, keys: tuple[str, ...]) -> Schema:
    return {k: v for k, v in schema.items() if k not in keys}


def _terse(name: str, schema: Schema) -> Schema:
    """No limits (but wait_seconds' maximum), and no ``type`` beside an ``enum``: neither tells a caller more."""
    terse = _without(schema, ("minimum",)) if name == "wait_seconds" else _without(schema, _LIMITS)
    return _without(terse, ("type",)) if "enum" in terse else terse


def publish(name: str, flow: PublishedFlow, run_options: Schema) -> Published | str:
    """The tool's entry, at most ``MAX_FLOW_TOOL_BYTES`` (shedding prose, then output types), or why there is none."""
    size = 0
    for prose, typed in ((True, True), (False, True), (False, False)):
        outputs = outputs_schema(flow, prose=prose) if typed else {"type": "object"}
        entry = Published(
            title=clean(flow.ref.name, MAX_NAME),
            description=description(flow, prose=prose),
            input_schema=input_schema(flow, run_options, prose=prose),
            output_schema=output_schema(outputs),
            outputs=outputs,
        )
        size = entry_size(name, entry)
        if size <= MAX_FLOW_TOOL_BYTES:
            return entry
    return f"its tool would take {size} bytes of tools/list even without descriptions, over {MAX_FLOW_TOOL_BYTES}"


def entry_size(name: str, entry: Published) -> int:
    """Bytes of the entry as tools/list shows it (compact JSON, after ``surface.lean_tool``)."""
    shown = lean_tool(
        {
            "name": name,
            "title": entry.title,
            "description": entry.description,
            "inputSchema": entry.input_schema,
            "outputSchema": entry.output_schema,
            "annotations": ANNOTATIONS.model_dump(by_alias=True, exclude_none=True),
        }
    )
    return len(json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode())


def input_schema(flow: PublishedFlow, run_options: Schema, *, prose: bool = True) -> Schema:
    inputs = normalise(flow.inputs, closed=True)
    properties = {
        name: portable(_titled(name, sub), prose=prose) for name, sub in cast(Schema, inputs["properties"]).items()
    }
    return {
        "type": "object",
        "properties": {**properties, RUN_OPTIONS_ARGUMENT: run_options},
        "additionalProperties": False,  # normalise never requires an input: PAD gives each a default
    }


def _titled(name: str, schema: Schema) -> Schema:
    """PAD often leaves the description empty but names the variable for people in ``title``: keep that."""
    title = schema.get("title")
    if "description" in schema or not isinstance(title, str) or title.strip().lower() == name.lower():
        return schema
    return {**schema, "description": title}


def outputs_schema(flow: PublishedFlow, *, prose: bool = True) -> Schema:
    """The flow's outputs as JSON Schema (open: a flow may write more than it declares)."""
    outputs = cast(Schema, normalise(flow.outputs, closed=False)["properties"])
    return {"type": "object", "properties": {n: portable(s, prose=prose) for n, s in outputs.items()}}


def output_schema(outputs: Schema) -> Schema:
    """run_desktop_flow's run record (its other fields are there too), naming what an agent acts on, with
    ``outputs`` typed. Nothing is required, so the error envelope ``{"error": {...}}`` conforms as well."""
    return {
        "type": "object",
        "properties": {
            "run_id": {"type": "string"},
            "is_terminal": {"type": "boolean"},
            "outputs": outputs,
        },
    }


def description(flow: PublishedFlow, *, prose: bool = True) -> str:
    own = clean(flow.description, MAX_DESCRIPTION) if prose else ""
    return (own + "\n" if own else "") + "Starts this flow on a machine: real automation. Works as run_desktop_flow."


def portable(schema: Schema, *, prose: bool = True) -> Schema:
    """A flow variable's schema in keywords every client knows: PAD's own type names go into the description,
    and formats a client could not check are dropped. Flow-authored text is cleaned and capped; defaults and
    choices that are long or not clean are left out, and so is all of it without ``prose``."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "x-pad-type":  # a kind JSON Schema has no type for: any JSON value, said so in a keyword
            if prose:
                note = f"PAD {clean(str(value), 40)} value."
                out["description"] = f"{out['description']} ({note})" if "description" in out else note
            out["anyOf"] = [{"type": kind} for kind in ANY_JSON]
        elif key == "format" and value not in _FORMATS:
            continue
        elif key == "properties":
            names = cast(Schema, value)
            if all(_PROPERTY_NAME.match(name) for name in names):  # else an open object: the run checks the rest
                out[key] = {name: portable(cast(Schema, sub), prose=prose) for name, sub in names.items()}
        elif key == "items":
            out[key] = portable(cast(Schema, value), prose=prose)
        elif key in ("description", "title"):
            text = clean(str(value), MAX_INPUT_PROSE) if prose else ""
            if text:
                out[key] = f"{text} ({out[key]})" if key == "description" and key in out else text
        elif key == "default":
            if prose and _shown_as_is(value, MAX_DEFAULT_BYTES):
                out[key] = value
        elif key == "enum":
            if prose and _shown_as_is(value, MAX_ENUM_BYTES):
                out[key] = value
        else:
            out[key] = value
    return out


def _shown_as_is(value: Any, limit: int) -> bool:
    """A default or choices fit to publish unchanged: short, and every text in it clean (changing a choice would
    refuse the real value)."""
    if len(json.dumps(value, ensure_ascii=False)) > limit:
        return False
    texts = cast(list[Any], value) if isinstance(value, list) else [value]
    return all(is_clean(text, limit) for text in texts if isinstance(text, str))


def check_options(options: dict[str, Any], schema: dict[str, Any]) -> None:
    """run_options against run_desktop_flow's limits, which the published schema leaves out; before any request."""
    from jsonschema import Draft202012Validator

    errors: list[Any] = list(Draft202012Validator(schema).iter_errors(options))  # pyright: ignore[reportUnknownMemberType]
    if errors:
        where = ".".join(["run_options", *(str(part) for part in errors[0].absolute_path)])
        raise invalid_argument(
            f"{where}: {errors[0].message}.",
            hint="run_desktop_flow's inputSchema shows each option's limits; fix it and call again.",
        )


def typed_outputs(started: StartedRun, schema: dict[str, Any]) -> StartedRun:
    """The run record, its outputs kept only when they meet the published schema: clients check results against
    ``outputSchema``, and a run that started must never come back as an error (it would invite a retry)."""
    if started.outputs is None:
        return started
    from jsonschema import Draft202012Validator

    if isinstance(started.outputs, dict) and Draft202012Validator(schema).is_valid(started.outputs):  # pyright: ignore[reportUnknownMemberType]
        return started
    return started.model_copy(
        update={
            "outputs": None,
            "warning": "The run's outputs do not match the flow's published output schema (it may have changed); "
            "read them with get_desktop_flow_run_outputs.",
        }
    )
