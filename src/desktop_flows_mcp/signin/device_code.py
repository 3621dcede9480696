"""Device-code sign-in that works over stdio, where the person never sees the server's stderr.

    call 1   the cache has no token → ask Entra for a code → poll it in a background thread → raise
             ``SignInRequired`` whose message and hint carry the URL and the code (the agent shows them; a client
             that supports URL elicitation shows them itself, see prompts.py)
    call 2+  the cache first: a token there (this process or another one sharing the cache signed the person in)
             ends the pending code; else poll once now, and if still pending raise the *same* code
    call n   the poll returned a token → return it; msal's cache (persisted) holds the account from now on
    expiry   the code's lifetime passed (by the injected clock) or Entra said expired_token → a fresh code
    refusal  declined, or any other Entra error → unauthenticated with its AADSTS hint; the next call starts over

The background thread polls at Entra's interval; a call while pending nudges it to poll at once (never sooner
than Entra allows), so "I've signed in" followed by a call succeeds without waiting for the next tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from ..errors import SignInContext, entra_error
from .pending import PendingSignIn
from .prompts import SignInPrompt, SignInRequired
from .public_client import PublicClientProvider

log = logging.getLogger("desktop_flows_mcp.signin")

_PENDING = ("authorization_pending", "slow_down")
_EXPIRED = ("expired_token", "code_expired")


class DeviceCodeProvider(PublicClientProvider):
    def __init__(
        self,
        context: SignInContext,
        *,
        cache: Any,
        http_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        answer_timeout: float = 10.0,
        offer_wait_seconds: float = 50.0,
    ) -> None:
        super().__init__(
            context, cache=cache, http_client=http_client, clock=clock, offer_wait_seconds=offer_wait_seconds
        )
        self._answer_timeout = answer_timeout

    def _start(self) -> PendingSignIn:
        flow = self._call(lambda: self._application().initiate_device_flow(scopes=self._scopes))
        if "user_code" not in flow:
            raise entra_error(flow, self.context)
        user_code = str(flow["user_code"])
        url = str(flow.get("verification_uri") or flow.get("verification_url"))
        who = f" as {self.context.username}" if self.context.username else ""
        prompt = SignInPrompt(
            elicitation_id=self._new_id(),
            message=f"Sign in to Dataverse ({self.context.dataverse_url}){who}: open {url} and enter the code "
            f"{user_code}.",
            url=url,
            user_code=user_code,
        )
        log.warning("%s", flow.get("message") or prompt.message)
        return _DeviceCodePoll(
            self._application(), flow, prompt, clock=self._clock, answer_timeout=self._answer_timeout
        )

    def _required(self, pending: PendingSignIn) -> SignInRequired:
        prompt = pending.prompt
        minutes = max(1, round((pending.deadline - self._clock()) / 60))
        who = self.context.username or f"the work account that uses {self.context.dataverse_url}"
        return SignInRequired(
            prompt,
            f"Sign-in needed: open {prompt.url} and enter the code {prompt.user_code} to sign in to Dataverse "
            f"({self.context.dataverse_url}). The code expires in about {minutes} minutes.",
            hint=f"Show the person exactly this: 'Open {prompt.url} and enter the code {prompt.user_code}, then sign "
            f"in with {who}.' When they say they are done, call the tool again. Until then every call returns this "
            "same code; do not ask for a new one.",
        )

    def _ended(self, outcome: dict[str, Any]) -> dict[str, Any]:
        if outcome.get("error") in _EXPIRED:
            return self._begin()
        return super()._ended(outcome)


def _poll_once(_flow: dict[str, Any]) -> bool:
    """msal's exit condition: one request per call; our thread does the waiting, interruptibly."""
    return True


class _DeviceCodePoll(PendingSignIn):
    """One device code and the thread that polls Entra until the person finishes or the code expires."""

    def __init__(
        self,
        app: Any,
        flow: dict[str, Any],
        prompt: SignInPrompt,
        *,
        clock: Callable[[], float],
        answer_timeout: float,
    ) -> None:
        super().__init__(prompt, deadline=clock() + float(flow.get("expires_in", 900)), clock=clock)
        self._app = app
        self._flow = flow  # holds the device_code, which is a credential: never logged
        self._answer_timeout = answer_timeout
        self._answers = 0
        self._nudged = False

    def settle(self) -> None:
        """Ask the poller for a fresh answer and wait for it (bounded by the HTTP time limit)."""
        with self._cond:
            if self._outcome is None and not self._stopped and self._clock() < self.deadline:
                seen = self._answers
                self._nudged = True
                self._cond.notify_all()
                self._cond.wait_for(
                    lambda: self._answers > seen or self._outcome is not None or self._stopped, self._answer_timeout
                )

    def wait(self, timeout: float) -> bool:
        with self._cond:
            self._nudged = True
            self._cond.notify_all()
        return super().wait(timeout)

    def _run(self) -> None:
        while not self._stopped:
            if self._clock() >= self.deadline:
                self._finish(self.expired_outcome())
                return
            try:
                result = cast(
                    dict[str, Any], self._app.acquire_token_by_device_flow(self._flow, exit_condition=_poll_once)
                )
            except OSError as exc:  # a network blip or a timeout: keep the code, try again at the next tick
                result = {"error": "authorization_pending", "error_description": type(exc).__name__}
            if result.get("error") not in _PENDING:
                self._finish(result)
                return
            self._pause()

    def _pause(self) -> None:
        with self._cond:
            self._answers += 1
            self._cond.notify_all()
            interval = max(1.0, float(self._flow.get("interval", 5)))
            if not self._nudged:
                self._cond.wait_for(lambda: self._nudged or self._stopped, interval)
            self._nudged = False
            # Entra answers slow_down to polls closer together than its interval (msal allows 1 s of skew).
            too_soon = float(self._flow.get("latest_attempt_at", 0)) + interval - 1 - time.time()
            if too_soon > 0:
                self._cond.wait_for(lambda: self._stopped, too_soon)
