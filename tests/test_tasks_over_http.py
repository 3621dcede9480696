"""Tasks over Streamable HTTP on real loopback: the SDK client resolves a run's task through tasks/get (sent with
``Mcp-Name: <taskId>``), and a listener receives notifications/tasks on its SSE stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.helpers import FakeClock, ok
from tests.loopback import serving_on_loopback
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS
from tests.tasks_client import TasksClient, listen, start_task

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(clock: FakeClock) -> AsyncGenerator[str, None]:
    emulator = Emulator(clock=clock)
    app = App(
        Settings.from_env({}),
        clock=clock,
        dataverse_transport=emulator.transport(),
    )
    async with serving_on_loopback(build_http_app(build_server(app), app, HttpSettings())) as url:
        yield f"{url}/mcp"


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
