"""Limits on what a client, a flow's author or a machine sends us, checked before anything recurses; and the
cleaning of the text they wrote before an agent or a log sees it.

=========================  ========  ============================================================================
cap                        value     what it bounds
=========================  ========  ============================================================================
``MAX_MESSAGE_DEPTH``      64        nesting of one JSON-RPC message (a stdio line) and of a call's arguments;
                                     the interpreter's own limit is about 1000, pydantic's about 200-255
``MAX_MESSAGE_BYTES``      4 MiB     one stdio line (HTTP bodies: the SDK's limit, also 4 MiB, answered 413)
``MAX_SCHEMA_DEPTH``       32        nesting of a flow's input or output schema document
``MAX_SCHEMA_BYTES``       256 KiB   a flow's input or output schema document
``MAX_NAME``               100       names shown: flows, machines, groups, actions (Dataverse's own is 100)
``MAX_DESCRIPTION``        200       a flow's description in its per-flow tool
``MAX_LISTED_TEXT``        500       a flow's description in a listing; other short texts from a machine
``MAX_INPUT_PROSE``        120       an input's description in a per-flow tool's schema
``MAX_DEFAULT_BYTES``      100       an input's default (as JSON) in a per-flow tool; longer ones are left out
``MAX_ENUM_BYTES``         300       an input's choices (as JSON) in a per-flow tool; more are left out
``MAX_FLOW_TOOL_BYTES``    2048      one per-flow tool's entry in tools/list (else it sheds its prose, or is not
                                     offered: run_desktop_flow runs the flow)
``MAX_PREVIEW_VALUE``      200       one input's value in an approval preview (approval/preview.py)
``MAX_PREVIEW_INPUTS``     30        inputs listed in an approval preview; the rest are counted
=========================  ========  ============================================================================

What a per-flow tool leaves out is still checked when the run starts: the run path reads the flow's full schema.
Cleaning drops control characters (C0, C1; runs of white space become one space), bidirectional overrides and
isolates, and lone surrogates; then caps. Secrets-looking text is redacted by ``errors.scrub`` where it applies.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from .errors import cap, scrub

MAX_MESSAGE_DEPTH = 64
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_BYTES = 256 * 1024
MAX_NAME = 100
MAX_DESCRIPTION = 200
MAX_LISTED_TEXT = 500
MAX_INPUT_PROSE = 120
MAX_DEFAULT_BYTES = 100
MAX_ENUM_BYTES = 300
MAX_FLOW_TOOL_BYTES = 2048
MAX_PREVIEW_VALUE = 200
MAX_PREVIEW_INPUTS = 30

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SPACES = re.compile("[\t\n\r]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")
_LEADING_ID = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")\s*[,}]')


def leading_id(raw: bytes) -> str | int | None:
    """A JSON-RPC message's id when the message starts with it (as clients write them), found without parsing:
    so that the answer to a message too deep or too large to parse still reaches the request that waits."""
    found = _LEADING_ID.match(raw)
    return cast(str | int, json.loads(found.group(1))) if found else None


def clean(text: str, limit: int) -> str:
    """Text someone else wrote, fit to show: no control or bidi-override characters, at most ``limit`` long."""
    return cap(" ".join(_UNSAFE.sub("", _SPACES.sub(" ", text)).split()), limit)


def clean_secret_free(text: str, limit: int) -> str:
    """``clean``, and anything that looks like a credential redacted (as action errors are)."""
    return clean(scrub(text), limit)


def is_clean(text: str, limit: int) -> bool:
    """Whether ``clean`` would leave the text as it is."""
    return clean(text, limit) == text


def json_too_deep(data: bytes | str, limit: int) -> bool:
    """Whether a JSON document nests deeper than ``limit``, found without parsing or recursing (brackets inside
    strings are skipped). Cheap for the usual message: with fewer brackets than the limit there is nothing to scan."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(raw):
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif first != ord('"'):
            depth -= 1
    return False


def value_problem(value: Any, *, limit: int = MAX_MESSAGE_DEPTH) -> str | None:
    """What makes a parsed value unfit to handle, or None: nesting deeper than ``limit``, or a lone surrogate
    (not Unicode text: it could not be sent on). Iterative, so any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return "holds a lone surrogate (U+D800 to U+DFFF), which is not Unicode text"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= limit:
            return f"nests deeper than {limit} levels"
        if isinstance(item, dict):
            for key, sub in cast(dict[Any, Any], item).items():
                stack.append((key, depth + 1))
                stack.append((sub, depth + 1))
        else:
            stack.extend((sub, depth + 1) for sub in cast(list[Any], item))
    return None
