"""End to end over loopback HTTP: the server in Streamable HTTP mode with a loopback public URL, the emulator on its
own port posting its callback there, and an MCP client over HTTP. The emulator's clock is moved, never slept on."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.callback_endpoint import UNKNOWN_LIMIT
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator
from desktop_flows_mcp.run_callbacks import InProcessWakeups
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS, Counting
from tests.e2e.test_stdio_against_emulator import CONNECTION, emulator_on_loopback

pytestmark = pytest.mark.anyio


class Deployment:
    def __init__(
        self, client: Client, emulator: Emulator, wire: Counting, base: str, wakeups: InProcessWakeups
    ) -> None:
        self.client, self.emulator, self.wire, self.base, self.wakeups = client, emulator, wire, base, wakeups

    async def start_report(self) -> str:
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}  # ends TimedOut at 21 s
        result = await self.client.call_tool("run_desktop_flow", arguments)
        assert result.structured_content is not None, result.content
        return result.structured_content["run_id"]

    async def waiting(self, run_id: str) -> None:
        """Until a wait on the run is subscribed (polling a condition of the server, not a timing guess)."""
        with anyio.fail_after(10):
            while not self.wakeups.waiting(run_id):
                await anyio.sleep(0.005)


@asynccontextmanager
async def deployment(extensions: Sequence[ClientExtension] = ()) -> AsyncGenerator[Deployment, None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with emulator_on_loopback() as (emulator, emulator_url):
        settings = Settings.from_env(
            {
                "DATAVERSE_URL": emulator_url,
                "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN,
                "DESKTOP_FLOWS_CONNECTION": CONNECTION,
                "DESKTOP_FLOWS_PUBLIC_URL": base,
            }
        )
        wire = Counting(httpx.AsyncHTTPTransport())
        built = App(settings, dataverse_transport=wire)
        server = build_server(built)
        app = build_http_app(server, built, HttpSettings())
        http_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: http_server.serve(sockets=[sock]))
            with anyio.fail_after(10):
                while not http_server.started:
                    await anyio.sleep(0.01)  # polling a real server's start flag, not a timing assumption
            services = built.services
            assert isinstance(services.runs.wakeups, InProcessWakeups)
            async with (
                httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300)) as http,
                Client(
                    streamable_http_client(f"{base}/mcp", http_client=http), mode="auto", extensions=list(extensions)
                ) as client,
            ):
                yield Deployment(client, emulator, wire, base, services.runs.wakeups)
            http_server.should_exit = True


async def test_a_callback_over_http_ends_the_wait_within_a_second_of_the_runs_end_with_one_read() -> None:
    async with deployment() as d:
        run_id = await d.start_report()
        times: dict[str, float] = {}
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                arguments = {"run_id": run_id, "timeout_seconds": 60}
                result.update(
                    (await d.client.call_tool("wait_for_desktop_flow_run", arguments)).structured_content or {}
                )
                times["answered"] = time.monotonic()

            group.start_soon(wait)
            await d.waiting(run_id)
            times["ended"] = time.monotonic()
            await d.emulator.advance(25)  # the run ends (TimedOut at 21 s) and the emulator posts its callback
        deliveries = d.emulator.callbacks.deliveries
        assert result["status"] == "TimedOut"
        assert times["answered"] - times["ended"] < 1.0
        assert d.wire.status_reads(run_id) == 1
        assert [x.url.startswith(f"{d.base}/callbacks/") for x in deliveries] == [True]
        assert deliveries[0].attempts == [202]


async def test_forged_callbacks_over_http_change_nothing() -> None:
    async with deployment() as d:
        run_id = await d.start_report()
        real_url = d.emulator.store.runs[run_id].callback_url
        assert real_url is not None
        lie = {"statuscode": 4, "statecode": 0, "flowsessionid": run_id}
        result: dict[str, Any] = {}
        codes: dict[str, int] = {}
        flood: list[int] = []
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                arguments = {"run_id": run_id, "timeout_seconds": 60}
                result.update(
                    (await d.client.call_tool("wait_for_desktop_flow_run", arguments)).structured_content or {}
                )

            group.start_soon(wait)
            await d.waiting(run_id)
            async with httpx.AsyncClient(base_url=d.base) as http:
                codes["wrong"] = (await http.post("/callbacks/" + "A" * 43, json=lie)).status_code
                codes["huge"] = (await http.post(real_url, content=b" " * 20_000)).status_code
                codes["lying"] = (await http.post(real_url, json=lie)).status_code
                with anyio.fail_after(10):  # the lying callback's re-read
                    while d.wire.status_reads(run_id) < 1:
                        await anyio.sleep(0.005)
                await d.waiting(run_id)  # found Running: the wait goes on
                assert not result

                async def forge(i: int) -> None:
                    flood.append((await http.post(f"/callbacks/{'B' * 40}{i:03d}", json=lie)).status_code)

                async with anyio.create_task_group() as burst:
                    for i in range(60):
                        burst.start_soon(forge, i)
            # The flood's unknown tokens spend no overall limit: the real callback, from the same address, is served.
            await d.emulator.advance(25)
        assert codes == {"wrong": 404, "huge": 413, "lying": 202}
        assert len(flood) == 60 and flood.count(404) == UNKNOWN_LIMIT - 1  # with "wrong", one source's allowance
        assert flood.count(429) == 61 - UNKNOWN_LIMIT
        assert result["status"] == "TimedOut"
        assert d.wire.status_reads(run_id) == 2  # the lie's re-read and the real callback's
        assert d.emulator.callbacks.deliveries[0].attempts[-1] == 202
