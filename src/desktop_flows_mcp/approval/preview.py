"""What the person sees before approving: the facts of the start or cancel, as a dict (the confirm_token path) and
as the elicitation's message. Flow names and inputs come from a flow's author or a caller: every text is cleaned
and capped (``bounds``), credential-looking text redacted (``errors.scrub``), and inputs that look secret (by name,
or marked so in the flow's schema) shown as ``[masked]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from ..bounds import MAX_NAME, MAX_PREVIEW_INPUTS, MAX_PREVIEW_VALUE, clean, clean_secret_free

MASKED = "[masked]"
_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "pin", "secret", "token", "key", "apikey", "credential", "credentials"}
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SENSITIVE_MARKS = ("sensitive", "issensitive", "x-ms-sensitive", "secret", "issecret")


@dataclass(frozen=True)
class Preview:
    action: str  # "run" or "cancel"
    flow: str | None
    flow_id: str | None
    run_mode: str | None
    connection: str | None = None
    connection_type: str | None = None
    run_priority: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict[str, Any])
    run_id: str | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        shown = {k: v for k, v in asdict(self).items() if v is not None}
        if self.action == "cancel":
            shown.pop("inputs", None)
        return shown

    def message(self) -> str:
        """The question as the person reads it."""
        flow = f"desktop flow {self.flow!r}" if self.flow else f"desktop flow {self.flow_id or '(unknown)'}"
        if self.action == "cancel":
            return (
                f"Cancel run {self.run_id} of {flow} (now {self.status}, {self.run_mode or 'unknown'} mode)?\n"
                "The automation stops on the machine, possibly part-way through its work.\nCancel it?"
            )
        lines = [
            f"Run {flow}?",
            f"Connection: {self.connection} ({self.connection_type})",
            f"Run mode: {self.run_mode}"
            + (" (takes over the signed-in user's desktop)" if self.run_mode == "attended" else ""),
            f"Priority: {self.run_priority}",
            "Inputs:" if self.inputs else "Inputs: none",
            *(f"  {name}: {json.dumps(value, ensure_ascii=False)}" for name, value in self.inputs.items()),
            "Run it?",
        ]
        return "\n".join(lines)


def start_preview(
    *,
    flow: str,
    flow_id: str,
    connection: str,
    connection_type: str,
    run_mode: str,
    run_priority: str,
    inputs: Mapping[str, Any],
    schema_text: str | None,
) -> Preview:
    return Preview(
        action="run",
        flow=clean(flow, MAX_NAME),
        flow_id=flow_id,
        run_mode=run_mode,
        connection=clean(connection, MAX_NAME * 2),
        connection_type=connection_type,
        run_priority=run_priority,
        inputs=shown_inputs(inputs, secret_inputs(schema_text)),
    )


def cancel_preview(*, run_id: str, flow: str | None, flow_id: str | None, status: str, run_mode: str | None) -> Preview:
    return Preview(
        action="cancel",
        flow=clean(flow, MAX_NAME) if flow else None,
        flow_id=flow_id,
        run_mode=run_mode,
        run_id=run_id,
        status=status,
    )


def shown_inputs(inputs: Mapping[str, Any], secret: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Each input as the person sees it: secret ones masked, texts cleaned and cut, at most MAX_PREVIEW_INPUTS."""
    shown: dict[str, Any] = {}
    names = list(inputs)
    for name in names[:MAX_PREVIEW_INPUTS]:
        label = clean(name, MAX_NAME) or "(unnamed)"
        shown[label] = MASKED if name in secret or looks_secret(name) else _shown_value(inputs[name])
    if len(names) > MAX_PREVIEW_INPUTS:
        shown["..."] = f"and {len(names) - MAX_PREVIEW_INPUTS} more inputs"
    return shown


def looks_secret(name: str) -> bool:
    """Whether an input's name says it holds a secret: a word of it is password, pwd, secret, token, key, ..."""
    return any(word.lower() in _SECRET_WORDS for word in _WORDS.findall(name))


def secret_inputs(schema_text: str | None) -> frozenset[str]:
    """The inputs the flow's schema marks secret: ``format: password``, a secure-string type, a sensitive flag."""
    try:
        document: Any = json.loads(schema_text or "{}")
    except ValueError:
        return frozenset()
    if not isinstance(document, dict):
        return frozenset()
    root = cast(dict[str, Any], document)
    inner: Any = root.get("schema") if isinstance(root.get("schema"), dict) else root
    properties: Any = cast(dict[str, Any], inner).get("properties")
    if not isinstance(properties, dict):
        return frozenset()
    return frozenset(
        name
        for name, prop in cast(dict[str, Any], properties).items()
        if isinstance(prop, dict) and _marked(cast(dict[Any, Any], prop))
    )


def _marked(prop: dict[Any, Any]) -> bool:
    lowered = {str(k).lower(): v for k, v in prop.items()}
    kind = " ".join(str(lowered.get(k) or "") for k in ("format", "type")).lower()
    if "password" in kind or "secure" in kind or "sensitive" in kind:
        return True
    return any(lowered.get(mark) in (True, "true", "True") for mark in _SENSITIVE_MARKS)


def _shown_value(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return clean_secret_free(value, MAX_PREVIEW_VALUE)
    text = json.dumps(_masked(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return clean_secret_free(text, MAX_PREVIEW_VALUE)


def _masked(value: Any) -> Any:
    """Nested objects: members whose names look secret are masked too."""
    if isinstance(value, dict):
        return {k: MASKED if looks_secret(str(k)) else _masked(v) for k, v in cast(dict[Any, Any], value).items()}
    if isinstance(value, list):
        return [_masked(item) for item in cast(list[Any], value)]
    return value
