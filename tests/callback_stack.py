"""The server with its HTTP routes and the emulator in one process, on fake time, with callbacks delivered.

Sleeps move the fake clock in small steps; at each step the emulator delivers the callbacks that fell due (to the
server's real ``/callbacks/`` route, through ASGI) and every other task runs until it blocks, so a wake-up cuts a
sleep short as it would on the real clock.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from mcp import Client
from starlette.types import ASGIApp

from desktop_flows_mcp.app import App, Services
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.helpers import FakeClock
from tests.tasks_client import TasksClient

PUBLIC_URL = "https://flows-mcp.contoso.com"
REPORT_FLOW = "Download monthly sales report"  # runs 600 s: with timeout_seconds=20 it ends TimedOut at 21 s
REPORT_INPUTS = {"Month": "2026-10", "Region": "EMEA"}


class SteppingClock(FakeClock):
    """A ``FakeClock`` whose sleeps move in ``step``s, running what is due (``at``, ``on_step``) at each one."""

    def __init__(self, step: float = 0.25) -> None:
        super().__init__()
        self.step = step
        self.on_step: list[Callable[[], Awaitable[None]]] = []
        self._at: list[tuple[float, Callable[[], Awaitable[None]]]] = []

    def at(self, when: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once the clock reaches ``when`` (during some sleep)."""
        self._at.append((when, action))

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        left = seconds
        while left > 0:
            step = min(self.step, left)
            self.seconds += step
            left -= step
            due = [action for when, action in self._at if when <= self.seconds]
            self._at = [(when, action) for when, action in self._at if when > self.seconds]
            for action in [*self.on_step, *due]:
                await action()
            await anyio.wait_all_tasks_blocked()


class Forward(httpx.AsyncBaseTransport):
    """The emulator's callbacks go to the server's HTTP app, which exists only after the emulator."""

    app: ASGIApp | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.app is not None
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.fail_reads: int = 0  # answer this many run reads with 403 (a read that fails)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_reads and request.method == "GET" and request.url.path.endswith(")"):
            self.fail_reads -= 1
            return httpx.Response(403, json={"error": {"code": "0x80040220", "message": "missing privilege"}})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def status_reads(self, run_id: str) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and r.url.path.endswith(f"flowsessions({run_id})"))


class Stack:
    def __init__(
        self,
        client: Client,
        emulator: Emulator,
        wire: Counting,
        clock: SteppingClock,
        app: ASGIApp,
        services: Services,
        tasks: TasksClient | None = None,
    ) -> None:
        self.client, self.emulator, self.wire, self.clock, self.app = client, emulator, wire, clock, app
        self.services, self.tasks = services, tasks

    async def tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, arguments)
        assert not result.is_error, result.content
        assert result.structured_content is not None
        return result.structured_content

    async def start_report(self, **extra: Any) -> str:
        started = await self.tool(
            "run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20, **extra}
        )
        return started["run_id"]

    def callback_url(self, run_id: str) -> str:
        url = self.emulator.store.runs[run_id].callback_url
        assert url is not None
        return url

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app)) as http:
            return await http.post(url, **kwargs)


@asynccontextmanager
async def callback_stack(
    *, public_url: str | None = PUBLIC_URL, mode: str = "legacy", step: float = 0.25, tasks: bool = False
) -> AsyncGenerator[Stack, None]:
    """``tasks``: the client declares the tasks extension (use ``mode="auto"``, the 2026-07-28 era)."""
    clock = SteppingClock(step)
    forward = Forward()

    async def emulator_sleep(seconds: float) -> None:  # the emulator's retry pause: fake time, no stepping
        clock.seconds += seconds

    emulator = Emulator(clock=clock, sleep=emulator_sleep, callback_transport=forward)
    clock.on_step.append(emulator.deliver_due_callbacks)
    wire = Counting(emulator.transport())
    env = {"DESKTOP_FLOWS_PUBLIC_URL": public_url} if public_url else {}
    built = App(
        Settings.from_env(env),
        clock=clock,
        dataverse_transport=wire,
    )
    server = build_server(built)
    app = build_http_app(server, built, HttpSettings())
    forward.app = app
    extension = TasksClient(clock.sleep) if tasks else None
    extensions = [extension] if extension else []
    async with Client(server, mode=mode, extensions=extensions, raise_exceptions=True) as client:  # type: ignore[arg-type]
        services = built.services
        yield Stack(client, emulator, wire, clock, app, services, extension)
