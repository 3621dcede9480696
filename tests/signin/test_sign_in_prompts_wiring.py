"""Sign-in prompts through the real server: ``App(offer_sign_in_prompts=...)`` → the tools' boundary →
``presenter_for`` → a DeviceCodeProvider (real msal, fake Entra ID) → the emulator, which takes only Entra's tokens.

    client, while the device code is pending        what it gets
    URL elicitation, on stdio or in-process         ``elicitation/create`` (mode url) with the verification URL
                                                    and code; the tool's result once the person signed in;
                                                    then ``notifications/elicitation/complete``
    form-only elicitation, or none                  the ``unauthenticated`` error with the URL and code
    2026-07-28 era (the server cannot ask)          the same error
    Streamable HTTP, any client                     the same error, even from a server built to offer prompts
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import anyio
import anyio.to_thread
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import HttpSettings
from desktop_flows_mcp.emulator import DEMO_USER, Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from desktop_flows_mcp.stdio import serve_stdio
from desktop_flows_mcp.streamable_http import build_http_app
from tests.fakes.entra import FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.fakes.person import Person, code_in
from tests.helpers import FakeClock, error_of, ok
from tests.loopback import serving_on_loopback
from tests.signin.helpers_signin import settings

pytestmark = pytest.mark.anyio
VERIFICATION_URL = "https://microsoft.com/devicelogin"


@dataclass
class SignedOut:
    """A server whose person has not signed in yet, and the fake Entra ID they will sign in with."""

    entra: FakeEntra
    provider: DeviceCodeProvider
    server: MCPServer[Any]
    app: App


def signed_out(tmp_path: Path, *, offer_sign_in_prompts: bool) -> SignedOut:
    entra, clock = FakeEntra(), FakeClock()
    chosen = settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path))
    provider = build_token_provider(chosen, http_client=MsalHttpClient(entra), clock=clock)
    assert isinstance(provider, DeviceCodeProvider)
    emulator = Emulator(clock=clock, tokens={f"fake-access-token-{n}": DEMO_USER for n in range(1, 10)})
    app = App(
        chosen,
        clock=clock,
        dataverse_transport=emulator.transport(),
        token_provider=provider,
        offer_sign_in_prompts=offer_sign_in_prompts,
    )
    return SignedOut(entra, provider, build_server(app), app)


@pytest.fixture
def stdio_server(tmp_path: Path) -> Iterator[SignedOut]:
    """What the CLI builds for stdio: prompts offered."""
    built = signed_out(tmp_path, offer_sign_in_prompts=True)
    yield built
    built.provider.close()


def assert_sign_in_error(result: types.CallToolResult) -> None:
    error = error_of(result)
    assert error["code"] == "unauthenticated" and error["retryable"] is False
    assert VERIFICATION_URL in error["hint"] and "FAKE-0001" in error["hint"]
    assert "device-code-secret" not in json.dumps(error)  # the device code itself is a credential


async def test_an_in_process_client_with_url_elicitation_is_offered_the_code_and_the_tool_call_goes_on(
    stdio_server: SignedOut,
) -> None:
    person = Person(stdio_server.entra)

    async with Client(
        stdio_server.server,
        mode="legacy",
        elicitation_callback=person.elicit,
        message_handler=person.notice,  # type: ignore[arg-type]
    ) as client:
        listed = ok(await client.call_tool("list_desktop_flows", {}))

    assert listed["flows"]
    [shown] = person.shown
    assert (shown.url, code_in(shown.message)) == (VERIFICATION_URL, "FAKE-0001")
    assert person.completed == [shown.elicitation_id]
    assert stdio_server.entra.issued == 1 and len(stdio_server.entra.device_codes) == 1


@pytest.mark.parametrize(
    ("mode", "elicits"),
    [("legacy", False), ("auto", False), ("auto", True)],
    ids=["no-elicitation", "no-elicitation-2026", "2026-server-cannot-ask"],
)
async def test_a_client_that_cannot_be_shown_the_url_gets_the_error_with_the_code(
    stdio_server: SignedOut, mode: str, elicits: bool
) -> None:
    person = Person(stdio_server.entra)
    callback = {"elicitation_callback": person.elicit} if elicits else {}

    async with Client(stdio_server.server, mode=mode, **callback) as client:  # type: ignore[arg-type]
        first = await client.call_tool("list_desktop_flows", {})
        again = await client.call_tool("list_desktop_flows", {})

    assert_sign_in_error(first)
    assert error_of(again) == error_of(first)  # the same code, not a new one
    assert person.shown == [] and len(stdio_server.entra.device_codes) == 1


async def test_a_declined_offer_falls_back_to_the_error_and_is_not_offered_again(stdio_server: SignedOut) -> None:
    person = Person(stdio_server.entra, "decline")

    async with Client(stdio_server.server, mode="legacy", elicitation_callback=person.elicit) as client:
        first = await client.call_tool("list_desktop_flows", {})
        again = await client.call_tool("list_desktop_flows", {})

    assert_sign_in_error(first)
    assert_sign_in_error(again)
    assert len(person.shown) == 1


# ---- our stdio transport, a client speaking raw JSON-RPC lines -------------------------------------------------


class Pipes:
    """Two OS pipes between a test playing the client and ``serve_stdio`` playing the server process."""

    def __init__(self) -> None:
        server_in, self._client_out = os.pipe()
        self._client_in, server_out = os.pipe()
        self.server_streams = (
            cast(BinaryIO, os.fdopen(server_in, "rb")),
            cast(BinaryIO, os.fdopen(server_out, "wb")),
        )
        self._to_server = os.fdopen(self._client_out, "wb", buffering=0)
        self._from_server = os.fdopen(self._client_in, "rb")

    async def send(self, message: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(self._to_server.write, json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        with anyio.fail_after(10):
            text = await anyio.to_thread.run_sync(self._from_server.readline, abandon_on_cancel=True)
        assert text, "the server closed stdout"
        return json.loads(text)

    def close(self) -> None:
        self._to_server.close()  # the server's EOF

    def release(self) -> None:
        """After the server stopped: the other three ends."""
        for end in (*self.server_streams, self._from_server):
            end.close()


@asynccontextmanager
async def over_stdio(server: MCPServer[Any], elicitation: dict[str, Any] | None) -> AsyncGenerator[Pipes, None]:
    """``serve_stdio`` on pipes, initialized (2025-11-25) by a client declaring ``elicitation``."""
    pipes = Pipes()
    capabilities = {} if elicitation is None else {"elicitation": elicitation}
    async with _released(pipes), anyio.create_task_group() as group:
        group.start_soon(lambda: serve_stdio(server, streams=pipes.server_streams, handle_signals=False))
        await pipes.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": capabilities,
                    "clientInfo": {"name": "raw-stdio-client", "version": "1"},
                },
            }
        )
        assert (await pipes.receive())["id"] == 1
        await pipes.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        try:
            yield pipes
        finally:
            pipes.close()


@asynccontextmanager
async def _released(pipes: Pipes) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        pipes.release()


LIST_FLOWS = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_desktop_flows"}}


async def test_over_stdio_a_client_with_url_elicitation_gets_elicitation_create_then_the_result(
    stdio_server: SignedOut,
) -> None:
    async with over_stdio(stdio_server.server, {"form": {}, "url": {}}) as pipes:
        await pipes.send({**LIST_FLOWS, "params": {"name": "list_desktop_flows", "arguments": {}}})
        ask = await pipes.receive()
        assert ask["method"] == "elicitation/create"
        offered = ask["params"]
        assert (offered["mode"], offered["url"], code_in(offered["message"])) == ("url", VERIFICATION_URL, "FAKE-0001")
        stdio_server.entra.approve("FAKE-0001")
        await pipes.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept"}})
        after = [await pipes.receive(), await pipes.receive()]

    [done] = [m for m in after if m.get("method") == "notifications/elicitation/complete"]
    [answer] = [m for m in after if m.get("id") == 2]
    assert done["params"]["elicitationId"] == offered["elicitationId"]
    assert not answer["result"].get("isError") and answer["result"]["structuredContent"]["flows"]


@pytest.mark.parametrize("elicitation", [None, {}, {"form": {}}], ids=["none", "empty-means-form", "form-only"])
async def test_over_stdio_a_client_without_url_elicitation_gets_the_error_with_the_code(
    stdio_server: SignedOut, elicitation: dict[str, Any] | None
) -> None:
    async with over_stdio(stdio_server.server, elicitation) as pipes:
        await pipes.send({**LIST_FLOWS, "params": {"name": "list_desktop_flows", "arguments": {}}})
        answer = await pipes.receive()  # the answer itself: no elicitation/create came first

    assert answer["id"] == 2
    assert_sign_in_error(types.CallToolResult.model_validate(answer["result"]))


# ---- Streamable HTTP: a shared deployment never offers the sign-in --------------------------------------------


async def test_over_streamable_http_no_sign_in_is_offered_even_from_a_server_built_to_offer_it(tmp_path: Path) -> None:
    """Whoever answers an elicitation on a shared server would sign it in as themselves."""
    built = signed_out(tmp_path, offer_sign_in_prompts=True)  # a misconfiguration: the transport still refuses
    person = Person(built.entra)
    result: types.CallToolResult | None = None
    try:
        async with (
            serving_on_loopback(build_http_app(built.server, built.app, HttpSettings())) as url,
            Client(streamable_http_client(f"{url}/mcp"), mode="legacy", elicitation_callback=person.elicit) as client,
        ):
            result = await client.call_tool("list_desktop_flows", {})
    finally:
        built.provider.close()

    assert result is not None
    assert_sign_in_error(result)
    assert person.shown == []
