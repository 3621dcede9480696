"""How requests to Dataverse get their bearer token.

A ``TokenProvider`` is the seam every sign-in mode plugs into: it returns a token, from a cache when it can,
and a fresh one when asked to (after Dataverse answered 401). ``BearerAuth`` is the ``httpx.Auth`` that
puts the token on each request and retries exactly once after a 401. Tokens never reach logs or errors.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx

from .errors import no_access_token


class TokenProvider(Protocol):
    """Gives bearer tokens for the Dataverse environment."""

    @property
    def mode(self) -> str:
        """The sign-in mode, for check_access and the start-up line (never a secret)."""
        ...

    async def token(self, *, force_refresh: bool = False) -> str:
        """A valid access token; ``force_refresh`` skips any cache. Raises DesktopFlowsError(unauthenticated)."""
        ...


class StaticTokenProvider:
    """A pre-acquired token (``DATAVERSE_AUTH=access_token``), or the emulator's demo token."""

    def __init__(self, token: str, *, mode: str = "access_token") -> None:
        self._token = token
        self._mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    async def token(self, *, force_refresh: bool = False) -> str:
        if not self._token:
            raise no_access_token()
        return self._token

    def __repr__(self) -> str:
        return f"StaticTokenProvider(mode={self._mode!r})"


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer`` and, after a 401, refreshes the token once and resends once."""

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("BearerAuth is async-only; use httpx.AsyncClient.")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._provider.token()}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self._provider.token(force_refresh=True)
        if f"Bearer {fresh}" == request.headers["Authorization"]:
            return  # nothing new to offer; let the 401 surface as unauthenticated
        await response.aread()
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request
