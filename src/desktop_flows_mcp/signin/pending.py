"""A sign-in the person is doing somewhere else (a device code, a browser window), run by a daemon thread.

    started   the thread runs msal's blocking call; tool calls see ``outcome() is None`` and answer at once
    finished  the thread recorded msal's result (a token, or Entra's error) exactly once
    expired   the injected clock passed ``deadline`` first: ``outcome()`` reports ``expired_outcome()``
    stopped   the provider dropped it (a token turned up in the cache); the thread ends at its next chance

Nothing here holds the provider's lock: waiting for the person never blocks other tool calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .prompts import SignInPrompt

log = logging.getLogger("desktop_flows_mcp.signin")


class PendingSignIn:
    """One attempt; subclasses implement ``_run`` (call ``_finish`` once) and may refine ``settle``."""

    def __init__(self, prompt: SignInPrompt, *, deadline: float, clock: Callable[[], float]) -> None:
        self.prompt = prompt
        self.deadline = deadline
        self._clock = clock
        self._cond = threading.Condition()
        self._outcome: dict[str, Any] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run_guarded, name="dataverse-sign-in", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def outcome(self) -> dict[str, Any] | None:
        """msal's result once the attempt ended; ``expired_outcome`` once the clock passed the deadline first."""
        with self._cond:
            if self._outcome is None and self._clock() >= self.deadline:
                return self.expired_outcome()
            return self._outcome

    def expired_outcome(self) -> dict[str, Any]:
        return {"error": "expired_token", "error_description": "The sign-in expired."}

    def wait(self, timeout: float) -> bool:
        """Block (a worker thread, never the event loop) until the attempt ends; False when ``timeout`` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outcome is not None or self._stopped, timeout)

    def settle(self) -> None:
        """Called before each tool call looks at the outcome; a poller uses it to ask Entra at once."""

    def _finish(self, outcome: dict[str, Any]) -> None:
        with self._cond:
            if self._outcome is None:
                self._outcome = outcome
            self._cond.notify_all()

    def _run_guarded(self) -> None:
        try:
            self._run()
        except OSError as exc:  # requests' network errors, including timeouts
            self._finish({"error": "network_error", "error_description": type(exc).__name__})
        except Exception as exc:  # msal's text may quote requests; only the type is kept
            log.warning("sign-in stopped: %s", type(exc).__name__)
            self._finish({"error": "sign_in_failed", "error_description": f"{type(exc).__name__} during sign-in."})

    def _run(self) -> None:
        raise NotImplementedError
