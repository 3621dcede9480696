"""A task's life as raw JSON-RPC lines over stdio against the real console script, and across a restart: a task
made by one process is read and cancelled by a new one (the emulator on loopback; the test moves its clock)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from desktop_flows_mcp.emulator import EMULATOR_TOKEN
from tests.processes import CONNECTION, Console, console, emulator_on_loopback, line
from tests.stacks import INVOICE_FLOW

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
TASKS = "io.modelcontextprotocol/tasks"
ENVELOPE: dict[str, Any] = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw-json-rpc", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}},
}
INPUTS = {"InvoiceNumber": "INV-7", "VendorId": "V-1", "Amount": 3, "Currency": "EUR"}


class Transcript:
    def __init__(self, server: Console, lines: list[str]) -> None:
        self.server, self.lines, self.next_id = server, lines, 1

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": self.next_id,
            "method": method,
            "params": {**params, "_meta": ENVELOPE},
        }
        self.next_id += 1
        self.lines.append("> " + json.dumps(message))
        await self.server.send(line(message))
        answer = await self.server.message()
        self.lines.append("< " + json.dumps(answer))
        assert answer["id"] == message["id"]
        return answer


def server_env(url: str) -> dict[str, str]:
    return {"DATAVERSE_URL": url, "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN, "DESKTOP_FLOWS_CONNECTION": CONNECTION}


RUN = {"name": "run_desktop_flow", "arguments": {"flow": INVOICE_FLOW, "inputs": INPUTS}}


async def test_a_task_over_stdio_is_created_read_working_and_read_completed() -> None:
    lines: list[str] = []
    async with emulator_on_loopback() as (emulator, url), console(**server_env(url)) as server:
        wire = Transcript(server, lines)
        discovered = await wire.request("server/discover", {})
        created = (await wire.request("tools/call", RUN))["result"]
        working = (await wire.request("tasks/get", {"taskId": created["taskId"]}))["result"]
        await emulator.advance(60)
        completed = (await wire.request("tasks/get", {"taskId": created["taskId"]}))["result"]
        unknown = await wire.request("tasks/get", {"taskId": "dfrun-00000000-0000-4000-8000-000000000000"})
    if os.environ.get("TASKS_TRANSCRIPT"):
        with open(os.environ["TASKS_TRANSCRIPT"], "w") as out:
            out.write("\n".join(lines) + "\n")
    assert discovered["result"]["capabilities"]["extensions"][TASKS] == {}
    assert created["resultType"] == "task" and created["status"] == "working" and created["ttlMs"] is None
    assert working["resultType"] == "complete" and working["status"] == "working" and working["pollIntervalMs"] > 0
    assert completed["status"] == "completed" and completed["result"]["structuredContent"]["status"] == "Succeeded"
    assert unknown["error"]["code"] == -32602


async def test_a_task_made_by_one_process_is_read_and_cancelled_by_the_next() -> None:
    lines: list[str] = []
    async with emulator_on_loopback() as (emulator, url):
        frozen = emulator.now()
        emulator.clock = lambda: frozen  # the run stays unfinished however long two processes take to start
        async with console(**server_env(url)) as first:
            created = (await Transcript(first, lines).request("tools/call", RUN))["result"]
        async with console(**server_env(url)) as second:
            wire = Transcript(second, lines)
            working = (await wire.request("tasks/get", {"taskId": created["taskId"]}))["result"]
            cancelled = (await wire.request("tasks/cancel", {"taskId": created["taskId"]}))["result"]
            after = (await wire.request("tasks/get", {"taskId": created["taskId"]}))["result"]
    assert working["status"] == "working" and working["createdAt"] == created["createdAt"]
    assert cancelled["resultType"] == "complete"
    assert after["status"] == "cancelled" and after["statusMessage"].endswith("the run is Cancelled")


async def test_a_listener_over_stdio_is_acknowledged_then_told_when_the_run_ends() -> None:
    async with (
        emulator_on_loopback() as (emulator, url),
        console(DESKTOP_FLOWS_POLL_SECONDS="0.05", **server_env(url)) as server,
    ):
        wire = Transcript(server, [])
        created = (await wire.request("tools/call", RUN))["result"]
        listen = {"notifications": {"taskIds": [created["taskId"]]}, "_meta": ENVELOPE}
        await server.send(
            line({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen", "params": listen})
        )
        frames = [await server.message(), await server.message()]
        await emulator.advance(60)
        while "id" not in frames[-1]:
            frames.append(await server.message())
    ack, first, *_, last_notice, end = frames
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"taskIds": [created["taskId"]]}
    assert first["method"] == "notifications/tasks" and first["params"]["status"] == "working"
    assert last_notice["params"]["status"] == "completed"
    assert last_notice["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen-1"
    assert end["id"] == "listen-1" and end["result"]["resultType"] == "complete"
