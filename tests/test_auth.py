from __future__ import annotations

import httpx
import pytest

from desktop_flows_mcp.auth import BearerAuth

pytestmark = pytest.mark.anyio


class RotatingTokens:
    """A provider whose forced refresh yields a new token, counting how often it was asked."""

    mode = "test"

    def __init__(self) -> None:
        self.issued = 0
        self.forced = 0

    async def token(self, *, force_refresh: bool = False) -> str:
        if force_refresh or not self.issued:
            self.issued += 1
            self.forced += force_refresh
        return f"token-{self.issued}"


async def test_bearer_auth_refreshes_once_after_a_401_and_resends_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200 if request.headers["Authorization"] == "Bearer token-2" else 401)

    provider = RotatingTokens()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=BearerAuth(provider)) as http:
        response = await http.get("https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI")
    assert response.status_code == 200
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert provider.forced == 1


async def test_bearer_auth_never_loops_on_401() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401)

    provider = RotatingTokens()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=BearerAuth(provider)) as http:
        response = await http.post("https://contoso.crm.dynamics.com/api/data/v9.2/x", json={"a": 1})
    assert response.status_code == 401
    assert calls == 2
    assert provider.forced == 1


async def test_a_wrong_access_token_is_answered_in_plain_words_not_a_redacted_sentence() -> None:
    from mcp import Client

    from desktop_flows_mcp.app import App
    from desktop_flows_mcp.emulator import Emulator
    from desktop_flows_mcp.server import build_server
    from tests.helpers import error_of, make_settings

    server = build_server(
        App(
            make_settings(DATAVERSE_ACCESS_TOKEN="expired-or-wrong-0123456789"),
            dataverse_transport=Emulator().transport(),
        )
    )
    async with Client(server, mode="legacy") as client:
        error = error_of(await client.call_tool("list_desktop_flows", {}))

    assert error["code"] == "unauthenticated"
    assert "bearer token" in error["message"] and "[redacted]" not in error["message"]
    assert "expired-or-wrong-0123456789" not in str(error)
