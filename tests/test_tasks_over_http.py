"""Tasks over Streamable HTTP on real loopback: the SDK client resolves a run's task through tasks/get (sent with
``Mcp-Name: <taskId>``), and a listener receives notifications/tasks on its SSE stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.conftest import FakeClock, ok
from tests.tasks_client import TasksClient, listen, start_task
from tests.test_full_stack import INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(clock: FakeClock) -> AsyncGenerator[str, None]:
    emulator = Emulator(clock=clock)
    server = build_server(
        Settings.from_env({}),
        dataverse_transport=emulator.transport(),
        clock=clock,
        sleep=clock.sleep,
        now=lambda: datetime.fromtimestamp(clock.now, UTC),
    )
    app = build_http_app(server, HttpSettings())
    http = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as group:
        group.start_soon(http.serve)
        with anyio.fail_after(10):
            while not http.started:
                await anyio.sleep(0.01)  # polling a real server's start flag, not a timing assumption
        try:
            yield f"http://127.0.0.1:{http.servers[0].sockets[0].getsockname()[1]}/mcp"
        finally:
            http.should_exit = True


async def test_a_run_becomes_a_task_over_http_and_a_listener_hears_it_end() -> None:
    clock = FakeClock()
    async with serving(clock) as url:
        tasks = TasksClient(clock.sleep)
        async with (
            httpx2.AsyncClient() as http,
            Client(streamable_http_client(url, http_client=http), extensions=[tasks]) as client,
        ):
            finished = ok(await client.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
            created = await start_task(client, "run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS})
            with anyio.fail_after(10):
                await listen(client.session, [created["taskId"]])
    assert finished["status"] == "Succeeded" and tasks.created and tasks.polls[-1]["status"] == "completed"
    assert tasks.notices[0]["taskId"] == created["taskId"] and tasks.notices[-1]["status"] == "completed"
