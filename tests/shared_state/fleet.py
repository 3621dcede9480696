"""Replicas in HTTP mode on loopback (subprocesses of ``desktop-flows-mcp``) over one emulator, sharing a Redis (or,
without one, the idempotency key file of one state directory, as processes of one machine do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from desktop_flows_mcp.emulator import DEMO_CONNECTION, EMULATOR_TOKEN
from tests.redis_server import free_port

READY_SECONDS = 30  # 2 shared cores: start-up takes a few seconds, much more only under heavy load


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: IO[bytes]  # stderr goes to a file: a pipe nobody reads could fill and stall the process

    @classmethod
    def spawn(cls, args: Sequence[str], env: dict[str, str]) -> Process:
        log = tempfile.TemporaryFile()  # noqa: SIM115  # closed by stop()
        command = [sys.executable, "-m", "desktop_flows_mcp", *args]
        return cls(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log), log)

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    async def until_ready(self, url: str) -> None:
        async with httpx.AsyncClient(timeout=1.0) as http:
            with anyio.fail_after(READY_SECONDS):
                while True:  # waiting for a real process to listen
                    if self.popen.poll() is not None:
                        raise RuntimeError(f"exited {self.popen.returncode}: {self.stderr()[-800:]}")
                    try:
                        if (await http.get(url)).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.05)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        self.log.close()


@dataclass
class Fleet:
    emulator: str
    replicas: list[Process]
    urls: list[str]
    clients: list[Client] = field(default_factory=lambda: list[Client]())
    env: dict[str, str] = field(default_factory=dict[str, str])
    spawned: list[Process] = field(default_factory=lambda: list[Process]())  # all stopped at the end

    async def call(self, replica: int, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return await self.clients[replica].call_tool(tool, arguments)

    async def call_alone(self, replica: int, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """On a client of its own: a replica dying under this call breaks this call only."""
        async with (
            httpx2.AsyncClient(timeout=120) as http,
            Client(streamable_http_client(self.urls[replica], http_client=http), mode="auto") as client,
        ):
            return await client.call_tool(tool, arguments)

    async def starts(self) -> list[dict[str, Any]]:
        """The RunDesktopFlow calls the emulator saw: connection, time, accepted."""
        async with httpx.AsyncClient() as http:
            return list((await http.get(f"{self.emulator}/_emulator/starts")).json()["value"])

    async def slow_run_starts(self, seconds: float, times: int) -> None:
        """The emulator holds the next ``times`` run starts ``seconds`` before it acts on them."""
        fault = {"path": "RunDesktopFlow", "method": "POST", "status": None, "delay": seconds, "times": times}
        async with httpx.AsyncClient() as http:
            (await http.post(f"{self.emulator}/_emulator/faults", json=fault)).raise_for_status()

    async def lie_about_next_start(self, *, creates_run_after: float, answer_after: float) -> None:
        """The next run start is answered 504 after ``answer_after`` s (real time, so its caller can die meanwhile);
        the emulator creates its run ``creates_run_after`` s after it arrived, on its own clock."""
        fault = {
            "path": "RunDesktopFlow",
            "method": "POST",
            "status": 504,
            "delay": answer_after,
            "creates_run_after": creates_run_after,
        }
        async with httpx.AsyncClient() as http:
            (await http.post(f"{self.emulator}/_emulator/faults", json=fault)).raise_for_status()

    async def until_a_start_arrived(self) -> None:
        """Until the emulator holds a run start it will create late (the caller is now mid-start)."""
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(READY_SECONDS):
                while not (await http.get(f"{self.emulator}/_emulator/late")).json()["value"]:
                    await anyio.sleep(0.01)  # watching a real process

    async def advance(self, seconds: float) -> None:
        """The emulator's clock moves on: late runs whose time came are created."""
        async with httpx.AsyncClient() as http:
            (await http.post(f"{self.emulator}/_emulator/advance", json={"seconds": seconds})).raise_for_status()

    def kill(self, replica: int) -> None:
        self.replicas[replica].popen.send_signal(signal.SIGKILL)
        self.replicas[replica].popen.wait(10)

    async def restart(self, replica: int) -> None:
        """A new process on the dead one's port, same settings (reach it with ``call_alone``)."""
        self.replicas[replica].stop()
        port = self.urls[replica].rsplit(":", 1)[1].split("/")[0]
        process = Process.spawn(["--transport", "streamable-http", "--port", port], self.env)
        self.replicas[replica] = process
        self.spawned.append(process)
        await process.until_ready(f"http://127.0.0.1:{port}/health")


def replica_env(emulator: str, redis_url: str | None, state_dir: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    shared = {"DESKTOP_FLOWS_REDIS_URL": redis_url} if redis_url else {}
    return (
        env
        | {
            "DATAVERSE_URL": emulator,
            "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN,
            "DESKTOP_FLOWS_CONNECTION": DEMO_CONNECTION,
        }
        | shared
        | ({"DESKTOP_FLOWS_STATE_DIR": state_dir} if state_dir else {})
    )


@asynccontextmanager
async def fleet(redis_url: str | None, size: int = 3, state_dir: str | None = None) -> AsyncGenerator[Fleet, None]:
    """An emulator (with its test API) and ``size`` replicas, each with an MCP client (2026-07-28 era: stateless).
    Without ``redis_url`` the replicas share the key file in ``state_dir`` (processes of one machine)."""
    emulator_port = free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    processes = [Process.spawn(["emulator", "--port", str(emulator_port), "--test-api"], dict(os.environ))]
    try:
        await processes[0].until_ready(f"{emulator}/_emulator/starts")
        env = replica_env(emulator, redis_url, state_dir)
        ports = [free_port() for _ in range(size)]
        began = time.monotonic()
        replicas = [Process.spawn(["--transport", "streamable-http", "--port", str(port)], env) for port in ports]
        processes += replicas
        for replica, port in zip(replicas, ports, strict=True):
            await replica.until_ready(f"http://127.0.0.1:{port}/health")
        print(f"{size} replicas ready in {time.monotonic() - began:.1f} s")
        async with AsyncExitStack() as stack:
            the_fleet = Fleet(
                emulator, replicas, [f"http://127.0.0.1:{port}/mcp" for port in ports], env=env, spawned=processes
            )
            for port in ports:
                http = await stack.enter_async_context(httpx2.AsyncClient(timeout=120))
                transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
                the_fleet.clients.append(await stack.enter_async_context(Client(transport, mode="auto")))
            yield the_fleet
    finally:
        for process in processes:
            process.stop()
