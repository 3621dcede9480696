"""Interactive sign-in: the system browser on the machine running the server, with msal's loopback redirect.

call 1   the cache has no token → a background thread runs msal's browser sign-in (it opens the browser and
         listens on http://localhost:<free port> for Entra's answer) → raise ``SignInRequired`` at once
call 2+  the cache first; while the browser window is open, the same answer at once: nothing waits for the
         person and no lock is held, so other tool calls go on
ended    a token → return it; no browser could open → use device_code; no answer within
         ``timeout_seconds`` (by the injected clock, or msal's own timeout) → a clear ``unauthenticated``
         error, and the next call opens the browser again

When no browser opens, msal still listens on its loopback port for the whole timeout (300 s), holding the port
and two threads for a window nobody will see. Nothing in msal stops that listener early except an answer, so
the attempt gives it one: Entra's "access_denied" form with the attempt's own state, posted to the listener
from a short thread. msal then returns at once and closes the port.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from ..errors import SignInContext, browser_sign_in_timed_out, no_browser
from .pending import PendingSignIn
from .prompts import SignInPrompt, SignInRequired
from .public_client import PublicClientProvider

log = logging.getLogger("desktop_flows_mcp.signin")

_TIMED_OUT = "browser_timeout"
_NO_BROWSER = "no_browser"


class InteractiveProvider(PublicClientProvider):
    def __init__(
        self,
        context: SignInContext,
        *,
        cache: Any,
        http_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = 300,
    ) -> None:
        super().__init__(context, cache=cache, http_client=http_client, clock=clock)
        self._timeout_seconds = timeout_seconds

    def _start(self) -> PendingSignIn:
        who = f" as {self.context.username}" if self.context.username else ""
        prompt = SignInPrompt(
            elicitation_id=self._new_id(),
            message=f"Finish signing in to Dataverse ({self.context.dataverse_url}){who} in the browser window that "
            "opened on the machine running this server.",
        )
        log.warning("Opening the system browser to sign in to Dataverse (%s).", self.context.dataverse_url)
        return _BrowserSignIn(
            self._application(),
            self._scopes,
            prompt,
            username=self.context.username,
            timeout_seconds=self._timeout_seconds,
            clock=self._clock,
        )

    def _required(self, pending: PendingSignIn) -> SignInRequired:
        minutes = max(1, round((pending.deadline - self._clock()) / 60))
        who = self.context.username or f"the work account that uses {self.context.dataverse_url}"
        return SignInRequired(
            pending.prompt,
            "Sign-in needed: a browser window opened on the machine running this server to sign in to Dataverse "
            f"({self.context.dataverse_url}). It waits about {minutes} more minutes.",
            hint=f"Ask the person to finish signing in there with {who}, then call the tool again. Until then every "
            "call returns this answer at once. If that machine has no browser the person can reach, set "
            "DATAVERSE_AUTH=device_code and restart.",
        )

    def _ended(self, outcome: dict[str, Any]) -> dict[str, Any]:
        error = outcome.get("error")
        if error == _TIMED_OUT:
            raise browser_sign_in_timed_out(self._timeout_seconds)
        if error == _NO_BROWSER:
            raise no_browser()
        return super()._ended(outcome)


class _BrowserSignIn(PendingSignIn):
    """msal's ``acquire_token_interactive`` in its own thread; it blocks until Entra answers or it times out."""

    def __init__(
        self,
        app: Any,
        scopes: list[str],
        prompt: SignInPrompt,
        *,
        username: str | None,
        timeout_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(prompt, deadline=clock() + timeout_seconds, clock=clock)
        self._app = app
        self._scopes = scopes
        self._username = username
        self._timeout_seconds = timeout_seconds

    def expired_outcome(self) -> dict[str, Any]:
        return {"error": _TIMED_OUT}

    def _run(self) -> None:
        try:
            result = self._app.acquire_token_interactive(
                self._scopes,
                prompt="select_account",
                login_hint=self._username,
                timeout=self._timeout_seconds,
                auth_uri_callback=self._no_browser,  # msal calls it when no browser could be opened
            )
        except RuntimeError as exc:
            if type(exc).__name__ != "BrowserInteractionTimeoutError":
                raise
            result = self.expired_outcome()
        self._finish(cast(dict[str, Any], result))

    def _no_browser(self, auth_uri: str) -> None:
        """msal calls it, from its listener's thread, before that thread starts to listen."""
        self._finish({"error": _NO_BROWSER})
        threading.Thread(target=_stop_listener, args=(auth_uri,), name="dataverse-sign-in-stop", daemon=True).start()


def _stop_listener(auth_uri: str) -> None:
    """Answer msal's loopback listener as Entra would when the person refuses, so it stops waiting now."""
    import httpx

    query = parse_qs(urlsplit(auth_uri).query)
    port = urlsplit(query["redirect_uri"][0]).port
    form = {"error": "access_denied", "error_description": "No browser could be opened.", "state": query["state"][0]}
    with contextlib.suppress(httpx.HTTPError), httpx.Client(trust_env=False, timeout=5) as client:  # no proxy
        client.post(f"http://127.0.0.1:{port}/", data=form)
