"""What one per-flow tool publishes: its input schema, output schema and description, from the flow's schemas.

============  ===============================================================================================
input         the flow's inputs (``schema.normalise``) as top-level arguments, plus an optional ``run_options``
              object: run_desktop_flow's own options, with ``wait_seconds`` defaulting to 60
output        run_desktop_flow's run record, ``outputs`` typed by the flow's output schema; nothing is required,
              so the error envelope conforms too (outputs that do not are left out: ``typed_outputs``)
============  ===============================================================================================

A flow gets no tool when its inputs cannot become arguments (``unfit`` says why): an input named
``run_options``, a name clients refuse as a property key, or an input schema that is not JSON.
"""

from __future__ import annotations

import re
from typing import Any, cast

from ..errors import cap, invalid_argument
from ..flows import PublishedFlow
from ..models import StartedRun
from ..schema import normalise

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
)
WAIT_SECONDS = 60
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # what the strictest clients accept as a property key
_FORMATS = {"date", "date-time", "time", "email", "uri", "uuid"}  # PAD's others mean nothing to a client
MAX_DESCRIPTION = 200
ANY_JSON = ("array", "boolean", "number", "object", "string")  # one type a branch: the portable spelling
_PROSE = ("description", "default", "title")
_LIMITS = ("minimum", "maximum", "minLength", "maxLength")


def unfit(flow: PublishedFlow) -> str | None:
    """Why this flow cannot be a typed tool, or None."""
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


def input_schema(flow: PublishedFlow, run_options: Schema) -> Schema:
    inputs = normalise(flow.inputs, closed=True)
    properties = {name: portable(_titled(name, sub)) for name, sub in cast(Schema, inputs["properties"]).items()}
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


def outputs_schema(flow: PublishedFlow) -> Schema:
    """The flow's outputs as JSON Schema (open: a flow may write more than it declares)."""
    outputs = normalise(flow.outputs, closed=False)
    return {"type": "object", "properties": {n: portable(s) for n, s in cast(Schema, outputs["properties"]).items()}}


def output_schema(flow: PublishedFlow) -> Schema:
    """run_desktop_flow's run record (its other fields are there too), naming what an agent acts on, with
    ``outputs`` typed. Nothing is required, so the error envelope ``{"error": {...}}`` conforms as well."""
    return {
        "type": "object",
        "properties": {
            "run_id": {"type": "string"},
            "is_terminal": {"type": "boolean"},
            "outputs": outputs_schema(flow),
        },
    }


def description(flow: PublishedFlow) -> str:
    own = cap(" ".join(flow.description.split()), MAX_DESCRIPTION)
    return (own + "\n" if own else "") + "Starts this flow on a machine: real automation. Works as run_desktop_flow."


def portable(schema: Schema) -> Schema:
    """A flow variable's schema in keywords every client knows: PAD's own type names go into the description,
    and formats a client could not check are dropped."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "x-pad-type":  # a kind JSON Schema has no type for: any JSON value, said so in a keyword
            note = f"PAD {value} value."
            out["description"] = f"{out['description']} ({note})" if "description" in out else note
            out["anyOf"] = [{"type": kind} for kind in ANY_JSON]
        elif key == "format" and value not in _FORMATS:
            continue
        elif key == "properties":
            out[key] = {name: portable(cast(Schema, sub)) for name, sub in cast(Schema, value).items()}
        elif key == "items":
            out[key] = portable(cast(Schema, value))
        elif key == "description" and "description" in out:
            out[key] = f"{value} ({out[key]})"
        else:
            out[key] = value
    return out


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
