"""Start-up and per-call cost of desktop-flows-mcp, as ratios against baselines measured in the same run.

Shared machines are noisy, so nothing here is an absolute threshold: each figure is compared with a baseline
taken interleaved with it, and the medians are reported.

    python bench/bench.py              # both
    python bench/bench.py startup      # process start-up only
    python bench/bench.py calls        # per-call overhead only

Start-up: desktop hosts spawn the server on every start. Baseline: a process that only imports the MCP SDK
(the floor any SDK-based server pays). Ours: import the CLI, parse settings and build the server, which is
what happens before the first byte of stdio is read.

Per call: baseline: a bare MCPServer tool returning a pydantic model through the in-memory client. Ours:
get_desktop_flow_run through the same client, with Dataverse answered by an in-process httpx transport, so
the figure is our own per-call path (validation, client, parsing, error boundary) without the network.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from pydantic import BaseModel

RUNS = 9
CALLS = 300

BASELINE_STARTUP = "import mcp.server"
OUR_STARTUP = (
    "from desktop_flows_mcp.cli import settings_from, _parser\n"
    "from desktop_flows_mcp.server import build_server\n"
    "build_server(settings_from(_parser().parse_args([]), {}))\n"
    "import sys\n"
    "heavy = [m for m in ('msal', 'jsonschema', 'desktop_flows_mcp.emulator') if m in sys.modules]\n"
    "assert not heavy, heavy\n"
)


class Echo(BaseModel):
    run_id: str
    status: str


def _time_process(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def startup() -> None:
    baseline: list[float] = []
    ours: list[float] = []
    _time_process(OUR_STARTUP)  # warm the file cache and byte-code for both
    for _ in range(RUNS):
        baseline.append(_time_process(BASELINE_STARTUP))
        ours.append(_time_process(OUR_STARTUP))
    b, o = statistics.median(baseline), statistics.median(ours)
    print(f"startup  baseline(import mcp.server) {b * 1000:7.1f} ms   ours {o * 1000:7.1f} ms   ratio {o / b:5.2f}")


async def _calls() -> tuple[float, float]:
    import httpx
    from mcp import Client
    from mcp.server import MCPServer

    from desktop_flows_mcp.config import Settings
    from desktop_flows_mcp.server import build_server

    bare: MCPServer[Any] = MCPServer("baseline")

    @bare.tool()
    async def get_thing(run_id: str) -> Echo:  # pyright: ignore[reportUnusedFunction]
        return Echo(run_id=run_id, status="Running")

    row = {
        "flowsessionid": "d9687093-d0c0-ec11-983e-0022480b428a",
        "statuscode": 2,
        "statecode": 0,
        "createdon": "2026-11-28T09:00:00Z",
        "startedon": "2026-11-28T09:00:05Z",
        "runmode": 1,
        "_regardingobjectid_value": "f091ffab-58bb-4630-a115-659453d56f59",
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=row))
    settings = Settings.from_env({"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"})
    ours = build_server(settings, transport=transport)
    args = {"run_id": row["flowsessionid"]}

    async with Client(bare) as base_client, Client(ours) as our_client:
        for _ in range(20):  # warm up both
            await base_client.call_tool("get_thing", args)
            await our_client.call_tool("get_desktop_flow_run", args)
        base_times: list[float] = []
        our_times: list[float] = []
        for _ in range(RUNS):
            started = time.perf_counter()
            for _ in range(CALLS // RUNS):
                await base_client.call_tool("get_thing", args)
            base_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(CALLS // RUNS):
                result = await our_client.call_tool("get_desktop_flow_run", args)
                assert not result.is_error, result
            our_times.append(time.perf_counter() - started)
    per = CALLS // RUNS
    return statistics.median(base_times) / per, statistics.median(our_times) / per


def calls() -> None:
    import anyio

    b, o = anyio.run(_calls)
    print(f"per call baseline(bare SDK tool)     {b * 1e6:7.0f} us   ours {o * 1e6:7.0f} us   ratio {o / b:5.2f}")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)  # before MCPServer() would turn on INFO for every request
    which = sys.argv[1:] or ["startup", "calls"]
    if "startup" in which:
        startup()
    if "calls" in which:
        calls()
