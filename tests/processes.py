"""Real processes and ports: the console script (run once, or as a live stdio console), the emulator served on
loopback HTTP, and a Streamable HTTP deployment that Dataverse calls back."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import uvicorn
from anyio.abc import ByteSendStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator, serve
from desktop_flows_mcp.run_callbacks import InProcessWakeups
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import HttpSettings, build_http_app
from tests.callback_stack import REPORT_FLOW, REPORT_INPUTS, Counting

CONNECTION = "shared-uiflow-7f3c1a"
RUN_PATH = r"/Microsoft\.Dynamics\.CRM\.RunDesktopFlow$"


def console_script() -> str:
    found = shutil.which("desktop-flows-mcp", path=str(Path(sys.executable).parent)) or shutil.which(
        "desktop-flows-mcp"
    )
    assert found, "install the package (pip install -e .) so the desktop-flows-mcp script exists"
    return found


@asynccontextmanager
async def emulator_on_loopback() -> AsyncGenerator[tuple[Emulator, str], None]:
    emulator = Emulator(test_api=True)
    ready = anyio.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve("127.0.0.1", 0, emulator=emulator, ready=on_ready))
        with anyio.fail_after(10):
            await ready.wait()
        yield emulator, urls[0]
        group.cancel_scope.cancel()


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """This environment without our settings, plus ``env`` (the test's own cache and state folders included:
    conftest's ``_no_real_state_dir``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    return {**clean, **env}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), *args],
        env=child_env(env or {}),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def line(message: object) -> bytes:
    return json.dumps(message).encode() + b"\n"


class Console:
    def __init__(self, process: Process) -> None:
        assert process.stdin and process.stdout and process.stderr
        self.process = process
        self.stdin: ByteSendStream = process.stdin
        self.stdout = BufferedByteReceiveStream(process.stdout)
        self.stderr = BufferedByteReceiveStream(process.stderr)

    async def send(self, *lines: bytes) -> None:
        await self.stdin.send(b"".join(lines))

    async def message(self) -> dict[str, Any]:
        with anyio.fail_after(10):
            return json.loads(await self.stdout.receive_until(b"\n", 1 << 20))

    async def stderr_line_with(self, fragment: str) -> str:
        with anyio.fail_after(10):
            while True:
                text = (await self.stderr.receive_until(b"\n", 1 << 20)).decode()
                if fragment in text:
                    return text

    async def stops_within(self, seconds: float) -> int:
        with anyio.fail_after(seconds):
            return await self.process.wait()


@asynccontextmanager
async def console(*args: str, **env: str) -> AsyncGenerator[Console, None]:
    process = await anyio.open_process([console_script(), *args], env=child_env(env))
    try:
        yield Console(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


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
