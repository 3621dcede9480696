"""A request's note that its token could not be checked because Entra's signing keys could not be fetched.

``EntraGate`` sets a fresh ``KeysOutage`` per request; the verifier, deeper in the same request, marks it; the gate
then answers 503 instead of the SDK's 401.
"""

from __future__ import annotations

from contextvars import ContextVar


class KeysOutage:
    def __init__(self) -> None:
        self.seen = False


keys_outage: ContextVar[KeysOutage | None] = ContextVar("keys_outage", default=None)
