"""What a person must do to sign in, and the seam through which an MCP client can show it to them directly.

A person-mode sign-in that needs the person raises ``SignInRequired``: an ``unauthenticated`` error whose message
and hint tell the agent what to show (the device-code URL and code, or "finish in the browser"). That path works
with every client.

Some clients can show a URL to the person themselves (MCP URL-mode elicitation). The token provider has no MCP
session, so the server layer lends it one for the length of a tool call:

    with presenting_sign_in_through(presenter):   # around the tool body, in server.py
        ...                                        # any token() call in here may call presenter.offer(prompt)

``offer`` returns True when the person accepted to open the URL; the provider then waits (without its lock) for
the sign-in to finish, calls ``finished`` (send ``notifications/elicitation/complete``) and the tool call goes on
with the token. False, an exception, or no presenter: the error-with-hint is raised as before. Each sign-in is
offered once; later calls get the error-with-hint. Register a presenter only for a local stdio server used by one
person, never for a shared HTTP deployment: whoever answers the elicitation signs the server in as themselves.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from ..errors import DesktopFlowsError, ErrorCode


@dataclass(frozen=True)
class SignInPrompt:
    """What the person must do. Safe to show: it never holds the device code itself or a token."""

    elicitation_id: str  # one per sign-in attempt; the same while that attempt is pending
    message: str  # one sentence for the person
    url: str | None = None  # the page to open (device code); None when there is nothing to open (browser)
    user_code: str | None = None


class SignInPresenter(Protocol):
    """Shows a sign-in prompt to the person through the MCP client (URL-mode elicitation)."""

    async def offer(self, prompt: SignInPrompt) -> bool:
        """Show ``prompt.message`` and ``prompt.url``; True when the person accepted to open it."""
        ...

    async def finished(self, prompt: SignInPrompt) -> None:
        """The sign-in ``prompt`` asked for is done; tell the client (``notifications/elicitation/complete``)."""
        ...


class SignInRequired(DesktopFlowsError):
    """``unauthenticated`` until the person does what ``prompt`` says."""

    prompt: SignInPrompt

    def __init__(self, prompt: SignInPrompt, message: str, *, hint: str) -> None:
        object.__setattr__(self, "prompt", prompt)  # set before the error freezes, like its other fields
        super().__init__(ErrorCode.UNAUTHENTICATED, message, hint=hint)


_presenter: ContextVar[SignInPresenter | None] = ContextVar("desktop_flows_mcp_sign_in_presenter", default=None)


@contextmanager
def presenting_sign_in_through(presenter: SignInPresenter | None) -> Generator[None]:
    """Let sign-ins started inside this block (this task and the tasks it starts) offer their prompt."""
    token = _presenter.set(presenter)
    try:
        yield
    finally:
        _presenter.reset(token)


def current_presenter() -> SignInPresenter | None:
    return _presenter.get()
