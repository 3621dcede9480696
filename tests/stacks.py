"""The whole server over the real emulator in one process, on fake time: what end-to-end tests drive.

``full_stack`` serves the built-in tools; ``flow_stack`` also the per-flow tools (DESKTOP_FLOWS_FLOW_TOOLS). Every
Dataverse request crosses a counting transport, so a test sees what a user pays for."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp import Client
from mcp.types import CallToolResult, TextContent, ToolListChangedNotification

from desktop_flows_mcp.app import App
from desktop_flows_mcp.auth import StaticTokenProvider
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import RUN_ONLY_TOKEN, Emulator
from desktop_flows_mcp.emulator.seed import FLOWS, PUBLISHED
from desktop_flows_mcp.server import build_server
from tests.helpers import FakeClock

ERAS = ["legacy", "auto"]  # auto negotiates 2026-07-28 (server/discover) with this server
INVOICE_FLOW = "Enter invoices into legacy ERP"
INVOICE_INPUTS = {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path.rsplit('/', 1)[-1]}" for r in self.requests]


class Stack:
    def __init__(self, client: Client, emulator: Emulator, wire: CountingTransport, clock: FakeClock) -> None:
        self.client, self.emulator, self.wire, self.clock = client, emulator, wire, clock

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self.client.call_tool(tool, arguments)
        # Both channels complete and compact: the text is exactly the structured content.
        content = result.content[0]
        assert isinstance(content, TextContent)
        text = content.text
        assert json.loads(text) == result.structured_content
        assert text == json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
        return result


@asynccontextmanager
async def full_stack(
    mode: str = "legacy",
    env: dict[str, str] | None = None,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    client_options: dict[str, Any] | None = None,
) -> AsyncGenerator[Stack, None]:
    """``wrap`` puts a transport of the test's between the server and the emulator (a lost answer, say);
    ``client_options`` go to the SDK ``Client`` (an ``elicitation_callback``, say)."""
    clock = FakeClock()
    emulator = Emulator(clock=clock)
    inner: httpx.AsyncBaseTransport = emulator.transport()
    wire = CountingTransport(wrap(inner) if wrap else inner)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)  # the server's clock and the emulator's move together

    settings = Settings.from_env(env or {})
    server = build_server(
        App(
            settings,
            clock=Clock(monotonic=clock, sleep=sleep, now=clock.now),
            dataverse_transport=wire,
        )
    )
    async with Client(server, mode=mode, raise_exceptions=True, **(client_options or {})) as client:
        yield Stack(client, emulator, wire, clock)


@asynccontextmanager
async def run_only_stack(mode: str) -> AsyncGenerator[Stack, None]:
    """The server signed in as the emulator's run-only identity: no read on machines, groups or flow logs."""
    clock = FakeClock()
    emulator = Emulator(clock=clock)
    wire = CountingTransport(emulator.transport())
    server = build_server(
        App(
            Settings.from_env({}),
            clock=clock,
            dataverse_transport=wire,
            token_provider=StaticTokenProvider(RUN_ONLY_TOKEN, mode="emulator"),
        )
    )
    async with Client(server, mode=mode, raise_exceptions=True) as client:
        yield Stack(client, emulator, wire, clock)


PUBLISHED_NAMES = [flow.name for flow in FLOWS if flow.state == PUBLISHED]
INVOICE_ID = "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"
INVOICE_TOOL = "run_enter_invoices_into_legacy_erp"
INVOICE_ARGS = {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}


class FlowStack(Stack):
    notices: list[str]

    async def tools(self) -> dict[str, dict[str, Any]]:
        listed = await self.client.list_tools(cache_mode="refresh")
        return {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools}


@asynccontextmanager
async def flow_stack(mode: str = "legacy", **env: str) -> AsyncGenerator[FlowStack, None]:
    clock = FakeClock()
    emulator = Emulator(clock=clock)
    wire = CountingTransport(emulator.transport())
    notices: list[str] = []

    async def notice(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            notices.append("tools/list_changed")

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)

    settings = Settings.from_env(
        {"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": ",".join(PUBLISHED_NAMES), **env}
    )
    server = build_server(
        App(
            settings,
            clock=Clock(monotonic=clock, sleep=sleep, now=clock.now),
            dataverse_transport=wire,
        )
    )
    async with Client(server, mode=mode, raise_exceptions=True, message_handler=notice) as client:  # type: ignore[arg-type]
        stack = FlowStack(client, emulator, wire, clock)
        stack.notices = notices
        yield stack
