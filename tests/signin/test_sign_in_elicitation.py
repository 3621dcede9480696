"""The device-code prompt offered through MCP URL-mode elicitation, with the error-with-hint as the fallback.

The presenter (tools/sign_in_prompts.py) is what the tools' boundary lends the token provider for a tool call
on a local stdio server: it asks the client to show the verification URL (``ctx.elicit_url``) and tells it when
the sign-in finished (``notifications/elicitation/complete``). The server here is a one-tool MCPServer around a
real DeviceCodeProvider (real msal, fake Entra ID) and the client is the SDK's in-memory Client; the full server
wiring is in test_sign_in_prompts_wiring.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from desktop_flows_mcp.errors import DesktopFlowsError
from desktop_flows_mcp.signin import build_token_provider, presenting_sign_in_through
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from desktop_flows_mcp.tools.sign_in_prompts import presenter_for
from tests.fakes.entra import FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.fakes.person import Person
from tests.signin.helpers_signin import FakeClock, settings

pytestmark = pytest.mark.anyio


def sign_in_server(provider: DeviceCodeProvider) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("sign-in-elicitation-test")

    @server.tool()
    async def check(ctx: Context[Any]) -> str:
        presenter = presenter_for(ctx, enabled=True)  # the adapter the tools' boundary lends on stdio
        try:
            with presenting_sign_in_through(presenter):
                await provider.token()
        except DesktopFlowsError as error:  # server.py's boundary does this with the full error envelope
            raise ToolError(f"{error.message} {error.hint}") from None
        return "signed in"

    return server


@pytest.fixture
def provider(entra: FakeEntra, tmp_path: Path) -> Iterator[DeviceCodeProvider]:
    built = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(built, DeviceCodeProvider)
    yield built
    built.close()


async def call(provider: DeviceCodeProvider, person: Person | None, mode: str = "legacy") -> types.CallToolResult:
    server = sign_in_server(provider)
    if person is None:
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            return await client.call_tool("check", {})
    async with Client(
        server,
        mode=mode,
        elicitation_callback=person.elicit,
        message_handler=person.notice,  # type: ignore[arg-type]
    ) as client:
        return await client.call_tool("check", {})


def text(result: types.CallToolResult) -> str:
    return " ".join(part.text for part in result.content if isinstance(part, types.TextContent))


async def test_a_client_that_shows_urls_gets_the_code_and_the_call_goes_on_once_the_person_signed_in(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    person = Person(entra, "accept")

    result = await call(provider, person)

    assert not result.is_error, text(result)
    [shown] = person.shown
    assert shown.url == "https://microsoft.com/devicelogin"
    assert "FAKE-0001" in shown.message and "device-code-secret" not in shown.message
    assert person.completed == [shown.elicitation_id]
    assert entra.issued == 1


async def test_a_declined_elicitation_falls_back_to_the_error_with_the_code(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    person = Person(entra, "decline")

    first = await call(provider, person)
    second = await call(provider, person)

    assert first.is_error and "FAKE-0001" in text(first)
    assert second.is_error and "FAKE-0001" in text(second)
    assert len(person.shown) == 1  # offered once per code, not on every call


async def test_a_client_without_url_elicitation_gets_the_error_with_the_code(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    result = await call(provider, None)

    assert result.is_error
    assert "https://microsoft.com/devicelogin" in text(result) and "FAKE-0001" in text(result)


async def test_on_the_2026_protocol_where_the_server_cannot_ask_the_client_the_error_path_still_works(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    person = Person(entra, "accept")

    result = await call(provider, person, mode="2026-07-28")

    assert result.is_error and "FAKE-0001" in text(result)
    assert person.shown == []
