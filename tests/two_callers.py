"""Two people on one Streamable HTTP server, in one process on fake time: Alice and Bob.

Who calls is what the HTTP auth writes into the request's ASGI scope (``call_scope.CALLER_KEY``); here a test-only
middleware writes it from a header, so these tests hold whichever sign-in names the caller. The server talks to
the emulator on fake time that moves only when something sleeps (no stepping, so nothing waits for every task to
block), and a test hands the run-end callbacks that fell due to the server's real ``/callbacks/`` route with
``deliver_callbacks``."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from desktop_flows_mcp.app import App, Services
from desktop_flows_mcp.call_scope import CALLER_KEY
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.callback_stack import PUBLIC_URL, Counting, Forward
from tests.helpers import FakeClock
from tests.loopback import serving_on_loopback
from tests.tasks_client import TasksClient

ALICE, BOB = "entra:tenant-1/alice", "entra:tenant-1/bob"
CALLER_HEADER = b"x-test-caller"


class CallerFromHeader:
    """Test-only: the caller named by the ``x-test-caller`` header, as a sign-in would name it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            caller = dict(scope["headers"]).get(CALLER_HEADER)
            if caller is not None:
                scope[CALLER_KEY] = caller.decode()
        await self._app(scope, receive, send)


class Person:
    def __init__(self, client: Client, tasks: TasksClient | None) -> None:
        self.client, self.tasks = client, tasks

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        assert result.structured_content is not None
        return result.structured_content

    async def ok(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        body = await self.call(tool, arguments)
        assert "error" not in body, body
        return body


class TwoCallers:
    def __init__(
        self, alice: Person, bob: Person, emulator: Emulator, wire: Counting, clock: FakeClock, services: Services
    ) -> None:
        self.alice, self.bob, self.emulator, self.wire, self.clock = alice, bob, emulator, wire, clock
        self.services = services

    async def deliver_callbacks(self, after_seconds: float) -> None:
        """Fake time moves on; the emulator posts the callbacks of the runs that ended meanwhile."""
        self.clock.seconds += after_seconds
        await self.emulator.deliver_due_callbacks()


@asynccontextmanager
async def two_callers(
    mode: str = "legacy", env: dict[str, str] | None = None, *, tasks: bool = False
) -> AsyncGenerator[TwoCallers, None]:
    """``tasks``: both clients declare the tasks extension (``mode="auto"``: the 2026-07-28 era)."""
    clock = FakeClock()
    forward = Forward()
    emulator = Emulator(clock=clock, sleep=clock.sleep, callback_transport=forward)
    wire = Counting(emulator.transport())
    app = App(
        Settings.from_env({"DESKTOP_FLOWS_PUBLIC_URL": PUBLIC_URL, **(env or {})}),
        clock=clock,
        dataverse_transport=wire,
    )
    asgi = CallerFromHeader(build_http_app(build_server(app), app, HttpSettings()))
    forward.app = asgi
    async with serving_on_loopback(asgi) as url, AsyncExitStack() as stack:
        people: list[Person] = []
        for caller in (ALICE, BOB):
            headers = {CALLER_HEADER.decode(): caller}
            timeout = httpx2.Timeout(30, read=300)  # the SDK's own: its event stream stays open while nothing happens
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=timeout))
            extension = TasksClient(clock.sleep) if tasks else None
            client = Client(
                streamable_http_client(f"{url}/mcp", http_client=http),
                mode=mode,  # pyright: ignore[reportArgumentType]
                extensions=[extension] if extension else [],
            )
            people.append(Person(await stack.enter_async_context(client), extension))
        yield TwoCallers(people[0], people[1], emulator, wire, clock, app.services)
