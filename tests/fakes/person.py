"""The person at an MCP client that shows sign-in URLs: sees the elicitation, opens the URL and enters the code
(approves it at the fake Entra), or declines."""

from __future__ import annotations

import re
from typing import Any, Literal

from mcp import types

from tests.fakes.entra import FakeEntra


class Person:
    def __init__(self, entra: FakeEntra, answer: Literal["accept", "decline"] = "accept") -> None:
        self._entra = entra
        self._answer: Literal["accept", "decline"] = answer
        self.shown: list[types.ElicitRequestURLParams] = []
        self.completed: list[str] = []

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        self.shown.append(params)
        if self._answer == "accept":
            self._entra.approve(code_in(params.message))
        return types.ElicitResult(action=self._answer)

    async def notice(self, message: Any) -> None:
        if isinstance(message, types.ElicitCompleteNotification):
            self.completed.append(message.params.elicitation_id)


def code_in(text: str) -> str:
    """The device code a sign-in prompt shows (the fake Entra's codes read FAKE-0001, FAKE-0002, …)."""
    found = re.search(r"\bFAKE-\d{4}\b", text)
    assert found is not None, text
    return found.group(0)
