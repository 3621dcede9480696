"""Device-code sign-in that works over stdio, where the person never sees the server's stderr.

    call 1   no account in the cache → ask Entra for a code → start polling in a background thread →
             raise unauthenticated whose message and hint carry the URL and the code (the agent shows them)
    call 2+  while the person has not finished: poll once now, and if still pending raise the *same* code
    call n   the poll returned a token → return it; msal's cache (persisted) holds the account from now on
    expiry   the code's lifetime passed (by the injected clock) or Entra said expired_token → a fresh code
    refusal  declined, or any other Entra error → unauthenticated with its AADSTS hint; the next call starts over

The background thread polls at Entra's interval; a call while pending nudges it to poll at once (never sooner
than Entra allows), so "I've signed in" followed by a call succeeds without waiting for the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from ..errors import DesktopFlowsError, ErrorCode
from .aadsts import SignInContext, entra_error
from .msal_providers import PublicClientProvider

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
        answer_timeout: float = 60.0,
    ) -> None:
        super().__init__(context, cache=cache, http_client=http_client)
        self._clock = clock
        self._answer_timeout = answer_timeout
        self._pending: _PendingSignIn | None = None

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        pending = self._pending
        if pending is not None and pending.result is not None:  # finished since the last call
            return self._consume(pending)
        return super()._acquire(force_refresh)

    def _sign_in(self) -> dict[str, Any]:
        pending = self._pending
        if pending is None:
            return self._start()
        if pending.poll_now(self._answer_timeout) is None:
            raise self._prompt(pending)
        return self._consume(pending)

    def _consume(self, pending: _PendingSignIn) -> dict[str, Any]:
        self._pending = None
        result = pending.result or {}
        if "access_token" in result:
            return result
        if result.get("error") in _EXPIRED:
            return self._start()
        raise entra_error(result, self.context)

    def _start(self) -> dict[str, Any]:
        flow = self._call(lambda: self._application().initiate_device_flow(scopes=self._scopes))
        if "user_code" not in flow:
            raise entra_error(flow, self.context)
        pending = _PendingSignIn(self._application(), flow, clock=self._clock)
        self._pending = pending
        pending.start()
        log.warning("%s", flow.get("message") or self._instruction(pending))
        raise self._prompt(pending)

    def _instruction(self, pending: _PendingSignIn) -> str:
        return f"open {pending.verification_uri} and enter the code {pending.user_code}"

    def _prompt(self, pending: _PendingSignIn) -> DesktopFlowsError:
        minutes = max(1, round((pending.expires_at - self._clock()) / 60))
        return DesktopFlowsError(
            ErrorCode.UNAUTHENTICATED,
            f"Sign-in needed: {self._instruction(pending)} to sign in to Dataverse ({self.context.dataverse_url}). "
            f"The code expires in about {minutes} minutes.",
            hint=f"Show the person exactly this: 'Open {pending.verification_uri} and enter the code "
            f"{pending.user_code}, then sign in with the work account that uses {self.context.dataverse_url}.' "
            "When they say they are done, call the tool again. Until then every call returns this same code; do not "
            "ask for a new one.",
        )

    def close(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None


def _poll_once(_flow: dict[str, Any]) -> bool:
    """msal's exit condition: one request per call; our thread does the waiting, interruptibly."""
    return True


class _PendingSignIn:
    """One device code and the thread that polls Entra until the person finishes or the code expires."""

    def __init__(self, app: Any, flow: dict[str, Any], *, clock: Callable[[], float]) -> None:
        self._app = app
        self._flow = flow  # holds the device_code, which is a credential: never logged
        self._clock = clock
        self.user_code = str(flow["user_code"])
        self.verification_uri = str(flow.get("verification_uri") or flow.get("verification_url"))
        self.expires_at = clock() + float(flow.get("expires_in", 900))
        self._cond = threading.Condition()
        self._answers = 0
        self._nudged = False
        self._stopped = False
        self.result: dict[str, Any] | None = None  # set once, when polling ends
        self._thread = threading.Thread(target=self._run, name="dataverse-device-code-sign-in", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def poll_now(self, timeout: float) -> dict[str, Any] | None:
        """Ask the poller for a fresh answer and wait for it; None while the person has not finished."""
        with self._cond:
            if self.result is None:
                seen = self._answers
                self._nudged = True
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._answers > seen or self.result is not None or self._stopped, timeout)
            return self.result

    def _run(self) -> None:
        while True:
            if self._clock() >= self.expires_at:
                self._finish({"error": "expired_token", "error_description": "The sign-in code expired."})
                return
            try:
                result = cast(
                    dict[str, Any], self._app.acquire_token_by_device_flow(self._flow, exit_condition=_poll_once)
                )
            except OSError as exc:  # a network blip: keep the code, try again at the next tick
                result = {"error": "authorization_pending", "error_description": type(exc).__name__}
            except Exception as exc:
                log.warning("device code sign-in stopped: %s", type(exc).__name__)
                result = {"error": "sign_in_failed", "error_description": f"{type(exc).__name__} while polling."}
            if result.get("error") not in _PENDING:
                self._finish(result)
                return
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
                if self._stopped:
                    return

    def _finish(self, result: dict[str, Any]) -> None:
        with self._cond:
            self.result = result
            self._cond.notify_all()
