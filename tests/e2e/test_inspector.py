"""A client nobody here wrote: the official MCP Inspector CLI drives the server over stdio and over
Streamable HTTP, against the emulator on loopback (initialize-handshake era, as most hosts speak)."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator
from tests.node_tools import node_client_env, node_tool
from tests.processes import CONNECTION, console_script, emulator_on_loopback
from tests.stacks import INVOICE_FLOW

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
INPUTS = {"InvoiceNumber": "INV-77", "VendorId": "V-9", "Amount": 99.5, "Currency": "EUR"}


def server_env(url: str) -> dict[str, str]:
    return {
        "DATAVERSE_URL": url,
        "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN,
        "DESKTOP_FLOWS_CONNECTION": CONNECTION,
        "DESKTOP_FLOWS_POLL_SECONDS": "0.05",
    }


async def inspect(target: list[str], method: str, tool: str | None = None, **args: Any) -> dict[str, Any]:
    command = [node_tool("mcp-inspector"), "--cli", *target, "--method", method]
    if tool:
        command += ["--tool-name", tool]
    if args:
        command += ["--tool-arg", *(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in args.items())]
    result = await anyio.run_process(command, check=False, env=node_client_env())
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return json.loads(result.stdout)


async def walk_through(emulator: Emulator, target: list[str]) -> None:
    listed = await inspect(target, "tools/list")
    assert {tool["name"] for tool in listed["tools"]} >= {"run_desktop_flow", "wait_for_desktop_flow_run"}

    started = await inspect(target, "tools/call", "run_desktop_flow", flow=INVOICE_FLOW, inputs=INPUTS)
    assert started["isError"] is False
    run_id = started["structuredContent"]["run_id"]

    await emulator.advance(60)
    done = await inspect(target, "tools/call", "wait_for_desktop_flow_run", run_id=run_id)
    assert done["structuredContent"]["status"] == "Succeeded"

    outputs = await inspect(target, "tools/call", "get_desktop_flow_run_outputs", run_id=run_id)
    assert outputs["structuredContent"]["outputs"]["PostedTotal"] == 99.5

    # Validated against outputSchema by the Inspector's own SDK: it must show the structured error.
    failed = await inspect(target, "tools/call", "get_desktop_flow_run", run_id="not-a-guid")
    assert failed["isError"] is True
    assert failed["structuredContent"]["error"]["code"] == "invalid_argument"


async def test_inspector_over_stdio() -> None:
    node_tool("mcp-inspector")  # skips here, outside the task groups, when it is not installed
    async with emulator_on_loopback() as (emulator, url):
        env_flags = [part for name, value in server_env(url).items() for part in ("-e", f"{name}={value}")]
        await walk_through(emulator, [*env_flags, console_script()])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def http_server(url: str) -> AsyncGenerator[str, None]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    env.update(server_env(url))
    command = [console_script(), "--transport", "streamable-http", "--port", str(port)]
    async with await anyio.open_process(command, env=env, stdout=sys.stderr, stderr=sys.stderr) as process:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(20):
                while True:  # poll the real server's health endpoint until it answers
                    try:
                        if (await http.get(f"{base}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await anyio.sleep(0.05)
        try:
            yield f"{base}/mcp"
        finally:
            process.terminate()


async def test_inspector_over_streamable_http() -> None:
    node_tool("mcp-inspector")  # skips here, outside the task groups, when it is not installed
    async with emulator_on_loopback() as (emulator, url), http_server(url) as endpoint:
        await walk_through(emulator, [endpoint])
