"""The server behind Entra sign-in (DESKTOP_FLOWS_HTTP_AUTH=entra) on loopback, over the Dataverse emulator, with the
emulator's fake Entra as the tenant's authority: what the inbound sign-in tests drive."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer

from desktop_flows_mcp.app import App, Clock
from desktop_flows_mcp.config import HttpSettings, Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.emulator.entra import FakeEntra
from desktop_flows_mcp.emulator.obo_grant import OnBehalfOfGrant, dataverse_behind
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from tests.helpers import FakeClock
from tests.loopback import serving_on_loopback

ENTRA_ENV = {"DESKTOP_FLOWS_HTTP_AUTH": "entra", "DESKTOP_FLOWS_EMULATOR": "true"}
STREAMABLE = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@dataclass
class EntraStack:
    base: str  # http://127.0.0.1:<port>
    entra: FakeEntra
    emulator: Emulator
    clock: FakeClock  # the server's monotonic clock (the JWKS refetch floor)
    app: App
    grant: OnBehalfOfGrant  # the fake Entra's on-behalf-of token endpoint: its exchanges, refusals

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base, headers=headers)

    async def initialize(self, token: str | None) -> httpx.Response:
        async with self.http(token) as http:
            return await http.post("/mcp", json=INITIALIZE, headers=STREAMABLE)

    @asynccontextmanager
    async def client(self, token: str, mode: str = "legacy") -> AsyncGenerator[Client, None]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http,
            Client(streamable_http_client(f"{self.base}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
        ):
            yield client


@asynccontextmanager
async def entra_stack(
    entra: FakeEntra | None = None,
    customise: Callable[[MCPServer[Any]], None] | None = None,
    env: dict[str, str] | None = None,
    **more_env: str,
) -> AsyncGenerator[EntraStack, None]:
    """``customise`` may add to the server before it serves (a probe tool, say)."""
    entra = entra or FakeEntra()
    clock = FakeClock()
    grant = OnBehalfOfGrant(entra).install()  # Dataverse is called on each caller's behalf
    emulator = Emulator(signed_tokens=dataverse_behind(entra))
    settings = Settings.from_env({**ENTRA_ENV, **(env or {}), **more_env})
    app = App(
        settings,
        clock=Clock(monotonic=clock, sleep=clock.sleep),
        dataverse_transport=emulator.transport(),
        entra_transport=entra.transport(),
    )
    http = HttpSettings()
    server = build_server(app, http=http)
    if customise is not None:
        customise(server)
    async with serving_on_loopback(build_http_app(server, app, http)) as base:
        yield EntraStack(base, entra, emulator, clock, app, grant)


def challenge_parts(response: httpx.Response) -> dict[str, Any]:
    """``WWW-Authenticate: Bearer a="b", c="d"`` → {"scheme": "Bearer", "a": "b", "c": "d"}."""
    scheme, _, rest = response.headers["WWW-Authenticate"].partition(" ")
    parts: dict[str, Any] = {"scheme": scheme}
    for item in rest.split('", '):
        name, _, value = item.partition("=")
        parts[name.strip()] = value.strip('"')
    return parts
