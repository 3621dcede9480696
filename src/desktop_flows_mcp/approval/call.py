"""The tool call the gate judges: set by the tool boundary for each call of a tool that acts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol


class Asker(Protocol):
    """How this call's client asks its person (form elicitation). ``recorded``: the answer this round carries (on a
    2026-07-28 retry) and the single-use ticket it answered, else None. ``ask``: put the question; True only for a
    yes. May raise ``ApprovalPending`` (the question, carrying a ``ticket()``, goes back as the call's answer; the
    client retries with the person's)."""

    def recorded(self) -> tuple[bool, str] | None: ...

    async def ask(self, message: str, ticket: Callable[[], Awaitable[str]]) -> bool: ...


class ApprovalPending(Exception):  # not an error: the call's answer is a question for the person
    """The question, as the protocol's answer to this call (the tool boundary returns ``answer`` as it is)."""

    def __init__(self, answer: object) -> None:
        super().__init__("approval asked through the client")
        self.answer = answer


@dataclass(frozen=True)
class ApprovalCall:
    caller: str
    tool: str
    arguments: Mapping[str, Any] = field(repr=False)  # without confirm_token
    confirm_token: str | None = field(default=None, repr=False)
    asker: Asker | None = None

    @cached_property
    def arguments_hash(self) -> str:
        """SHA-256 of the arguments as canonical JSON (sorted keys, no spaces): what a token is bound to."""
        text = json.dumps(self.arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


approval_call: ContextVar[ApprovalCall | None] = ContextVar("approval_call", default=None)
