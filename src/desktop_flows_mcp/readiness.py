"""Whether this replica can serve, for ``/health/ready`` and for a graceful drain.

Facts without a secret: the shared store answers (only when Redis is configured: it is asked, with a short time
limit, at each probe) and the last sign-in worked (remembered from real token requests, so a probe never signs in);
``draining.Drain`` adds whether the replica is shutting down. ``StartsInFlight`` counts run starts sent to Dataverse
and not yet answered, so a drain never cuts one between the request and its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from .errors import DesktopFlowsError, ErrorCode, shutting_down
from .telemetry import NO_TELEMETRY, Telemetry

if TYPE_CHECKING:
    from .auth import TokenProvider

SHARED_STORE_PROBE_SECONDS = 1.0


class StartsInFlight:
    """``with starts:`` around the request that may start a run. Once ``close()`` is called no new one begins:
    a start refused then was never sent, and the caller is told to retry (another replica takes it)."""

    def __init__(self) -> None:
        self._count = 0
        self._closed = False
        self._none_left = anyio.Event()
        self._none_left.set()

    def __enter__(self) -> None:
        if self._closed:
            raise shutting_down()
        if self._count == 0:
            self._none_left = anyio.Event()
        self._count += 1

    def __exit__(self, *_: object) -> None:
        self._count -= 1
        if self._count == 0:
            self._none_left.set()

    @property
    def count(self) -> int:
        return self._count

    def close(self) -> None:
        self._closed = True

    async def none_left(self) -> None:
        await self._none_left.wait()


class SignInWatch:
    """A ``TokenProvider`` that remembers whether its last token request worked, and reports each to telemetry."""

    def __init__(self, provider: TokenProvider, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self._provider = provider
        self._telemetry = telemetry
        self.failing: str | None = None  # the error code (AADSTS… when Entra gave one) of the last failure
        self._last: int | None = None  # hash of the last token handed out, to tell a new one from the cached one

    @property
    def mode(self) -> str:
        return self._provider.mode

    async def token(self, *, force_refresh: bool = False) -> str:
        with self._telemetry.sign_in(self._provider.mode) as trace:
            try:
                token = await self._provider.token(force_refresh=force_refresh)
            except DesktopFlowsError as error:
                # on_behalf_of: a failure is one person's sign-in (their token, consent, Conditional Access), and
                # taking the replica out of the load balancer would stop everyone else's calls too
                if error.code is ErrorCode.UNAUTHENTICATED and self._provider.mode != "on_behalf_of":
                    self.failing = error.dataverse_code or error.code.value
                raise
            fingerprint = hash(token)
            if fingerprint != self._last:  # not the cached token: the provider signed in
                self._last = fingerprint
                trace.acquired()
        self.failing = None
        return token

    def __repr__(self) -> str:
        return f"SignInWatch({self._provider!r})"


@dataclass
class Readiness:
    """What ``/health/ready`` asks. ``shared_store`` answers None when Redis works, else why not."""

    sign_in: SignInWatch | None = None
    shared_store: Callable[[], Awaitable[str | None]] | None = None
    starts: StartsInFlight = field(default_factory=StartsInFlight)

    async def problems(self) -> dict[str, str]:
        """Check → what is wrong with it; empty when the replica is ready (draining is the HTTP server's own)."""
        found: dict[str, str] = {}
        if self.sign_in is not None and self.sign_in.failing is not None:
            found["sign_in"] = f"the last sign-in failed ({self.sign_in.failing})"
        if self.shared_store is not None:
            problem: str | None = "no answer within 1 second"
            with anyio.move_on_after(SHARED_STORE_PROBE_SECONDS):
                problem = await self.shared_store()
            if problem is not None:
                found["redis"] = f"unreachable ({problem})"
        return found
