"""Start-up and per-call cost of desktop-flows-mcp, as ratios against baselines measured in the same run.

Shared machines are noisy, so nothing here is an absolute threshold: each figure is compared with a baseline
taken interleaved with it, and the medians are reported.

    python bench/bench.py              # all three
    python bench/bench.py startup      # process start-up only
    python bench/bench.py calls        # per-call overhead only
    python bench/bench.py economy      # bytes and Dataverse requests an agent pays for
    python bench/bench.py callbacks    # status reads and latency of a wait, with and without a run's callback
    python bench/bench.py listeners    # Dataverse reads a second while many task listeners follow runs
    python bench/bench.py --json ...   # one JSON object instead of the table

Start-up: desktop hosts spawn the server on every start. Baseline: a bare SDK stdio server (an MCPServer with one
tool, ``mcp.run()``). Ours: ``python -m desktop_flows_mcp`` on a Dataverse URL with an access token. Each figure is
the time from spawning the process to reading its answer to ``initialize`` on stdout.

Start-up is reported to the answer to ``initialize`` (the issue's figure), to the answer to the first ``tools/list``
(what a client waits for before it can offer a tool), and as the server's own CPU to that answer. Ours twice: a
first start (no start-up snapshot: after installing, upgrading or changing settings) and a usual start (the
snapshot an earlier start recorded answers the handshake while the SDK is imported; ``handshake.py``). Our package
is byte-compiled first, as installing it does; the SDK's byte-code is already there.

Per call: the servers as processes over stdio, one ``tools/call`` at a time, read back before the next, against two
baselines in the same run. Ours: get_desktop_flow_run, with Dataverse answered by an in-process httpx transport
(one GET of a flowsession row per call; nothing in memory answers it, as the run has not ended), so the figure is
our own per-call path (our stdio loop, the argument check, the tool surface, the client and its retry/throttle
gates, parsing, the error boundary) without the network.
    bare (no-op)      the bare server's tool returns a pydantic model and does nothing else: no HTTP, no parsing.
                      The issue's "per call <= 0.6x" was stated against this one; most of its cost is the SDK's
                      own dispatch, which every SDK server pays, so a server that does a Dataverse read per call
                      cannot come under it.
    bare (same read)  like with like: an SDK server written the obvious way, whose tool does the same GET
                      (same URL, $select and OData headers, an httpx.AsyncClient on the same in-process
                      transport) and returns the row parsed into a pydantic model.
    no-op on our wire the bare no-op tool behind the SDK's dispatch, served by our stdio wire (stdio.py): the floor
                      for any tool of ours, so "ours / this" is what our tool's own path costs on top.

Economy: counts, not timings, so exact and repeatable. The server runs in process over the emulator on fake time
(both protocol eras); every Dataverse request crosses a counting transport.

    tools/list       compact JSON bytes of {"tools": [...]} as the client receives it, and per tool
    short job        list_desktop_flows(search) -> get_desktop_flow_schema -> run_desktop_flow ->
                     wait_for_desktop_flow_run -> get_desktop_flow_run_outputs: requests and result text bytes
    waiting          a 600 s run watched with wait_for_desktop_flow_run(timeout_seconds=60) for 10 fake minutes:
                     status reads (GET flowsessions(id)) per call, i.e. per minute of waiting
    hostile flows    tools/list with per-flow tools for one flow (the baseline), then with 10 more flows whose
                     schemas are 5 MB, or about 200 KB of prose full of control and bidi characters

Callbacks: a 20-second run (the 600 s report flow with timeout_seconds=20: TimedOut 21 s after the start, queue
included) followed by wait_for_desktop_flow_run(timeout_seconds=60), on fake time. Baseline: no public URL, so the
wait polls. Ours: DESKTOP_FLOWS_PUBLIC_URL set, the emulator POSTs its callback to the server's HTTP app (ASGI, in
process) as the run ends. Figures: status reads from the start to the answer, and fake seconds between the run's end
and the answer; sleeps advance the clock in 0.25 s steps, so latency is exact to a step. The same run as an MCP task
(2026-07-28 era), polled with tasks/get at its pollIntervalMs until completed: status reads either way.

Listeners: 8 subscriptions/listen of 16 tasks each (2026-07-28 era) follow runs that never end, for 60 s of virtual
time (every sleeper wakes at its own moment); Dataverse is an in-process transport answering Running. Baseline: the
identity's read budget lifted (as before it existed). Ours: the budget (runs.context.BACKGROUND_READS_PER_SECOND).
Figures: reads a second over the minute, and in the busiest second.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx
    from mcp import Client

RUNS = 9
CALLS = 1800  # per-call figures: RUNS interleaved blocks of CALLS // RUNS calls on each server

# Both servers are real processes speaking MCP over stdio, measured in the same run, interleaved.
BARE_SERVER = """
from mcp.server import MCPServer
from pydantic import BaseModel

class Echo(BaseModel):
    run_id: str
    status: str

mcp = MCPServer("bare", log_level="WARNING")

@mcp.tool()
async def get_thing(run_id: str) -> Echo:
    return Echo(run_id=run_id, status="Running")

mcp.run()
"""
# The floor for any tool behind the SDK's dispatch on our stdio wire: the same no-op tool, served by serve_stdio.
BARE_ON_OUR_WIRE = BARE_SERVER.replace(
    "mcp.run()", "import anyio\nfrom desktop_flows_mcp.stdio import serve_stdio\nanyio.run(serve_stdio, mcp)"
)
OUR_SERVER = ["-m", "desktop_flows_mcp"]  # the console script's code path, stdio, access-token sign-in
OUR_ENV = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"}
RUN_COLUMNS = (
    "flowsessionid,statuscode,statecode,createdon,startedon,completedon,errorcode,errormessage,runmode,"
    "_regardingobjectid_value,connectionid"
)  # what our client selects (dataverse/flow_operations.py), so both reads send the same query
RUN_ROW = {
    "flowsessionid": "d9687093-d0c0-ec11-983e-0022480b428a",
    "statuscode": 2,
    "statecode": 0,
    "createdon": "2026-11-28T09:00:00Z",
    "startedon": "2026-11-28T09:00:05Z",
    "runmode": 1,
    "_regardingobjectid_value": "f091ffab-58bb-4630-a115-659453d56f59",
}
# Like with like: the same Dataverse read per call, written the obvious way on the bare SDK.
BARE_READ_SERVER = f"""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import httpx
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import BaseModel

class Run(BaseModel):
    run_id: str
    flow_id: str | None = None
    status_code: int
    created_on: str | None = None
    started_on: str | None = None

@asynccontextmanager
async def lifespan(server: MCPServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={RUN_ROW!r}))
    async with httpx.AsyncClient(transport=transport, headers={{"Authorization": "Bearer t"}}) as http:
        yield http

mcp = MCPServer("bare", log_level="WARNING", lifespan=lifespan)

@mcp.tool()
async def get_desktop_flow_run(run_id: str, ctx: Context) -> Run:
    http = ctx.request_context.lifespan_context
    response = await http.get(
        f"https://contoso.crm.dynamics.com/api/data/v9.2/flowsessions({{run_id}})",
        params={{"$select": {RUN_COLUMNS!r}}},
        headers={{"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}},
    )
    response.raise_for_status()
    row = response.json()
    return Run(
        run_id=row["flowsessionid"],
        flow_id=row.get("_regardingobjectid_value"),
        status_code=row["statuscode"],
        created_on=row.get("createdon"),
        started_on=row.get("startedon"),
    )

mcp.run()
"""
# Per call, Dataverse is answered in process with one run row, so the figure is our own path: the stdio loop, the
# tool surface, the client, parsing, the error boundary.
OUR_CALL_SERVER = f"""
import anyio, httpx
from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.logs import configure_logging
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.stdio import serve_stdio

configure_logging("WARNING", "text")
transport = httpx.MockTransport(lambda request: httpx.Response(200, json={RUN_ROW!r}))
app = App(Settings.from_env({OUR_ENV!r}), dataverse_transport=transport)
anyio.run(serve_stdio, build_server(app))
"""
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}


class _StdioServer:
    """A server process and its pipes; ``ask`` writes one request and reads lines until its answer."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        import os

        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdout is not None
        self.send(message)
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server ended before answering {message['method']}")
            answer = json.loads(line)
            if answer.get("id") == message["id"]:
                return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _cold_start(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float | None]:
    """Seconds from spawning the server to its answer to initialize, and to its answer to the first tools/list
    (what a client waits for before it can offer a tool); and the CPU seconds the server used up to that answer."""
    started = time.perf_counter()
    server = _StdioServer(args, env)
    answer = server.ask(INITIALIZE)
    initialized = time.perf_counter() - started
    assert "result" in answer, answer
    server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    listed = server.ask({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    tools_listed = time.perf_counter() - started
    cpu = _server_cpu(server)
    assert listed["result"]["tools"], listed
    server.close()
    return initialized, tools_listed, cpu


def _byte_code() -> None:
    """Compile our package as installing it does (pip writes the .pyc files of a wheel; the SDK's are there).
    Without this, an editable checkout under PYTHONDONTWRITEBYTECODE compiles every module on every start."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("desktop_flows_mcp")
    assert spec is not None and spec.submodule_search_locations
    compileall.compile_dir(spec.submodule_search_locations[0], quiet=1)


def startup() -> dict[str, Any]:
    import tempfile

    _byte_code()
    with tempfile.TemporaryDirectory() as kept, tempfile.TemporaryDirectory() as fresh_root:
        usual = {**OUR_ENV, "XDG_CACHE_HOME": kept, "LOCALAPPDATA": kept}  # the snapshot from an earlier start
        _cold_start(OUR_SERVER, usual)  # records the snapshot, and warms the file cache for all three
        _cold_start(["-c", BARE_SERVER])
        runs: dict[str, list[tuple[float, float, float | None]]] = {"bare": [], "first": [], "usual": []}
        for run in range(RUNS):
            fresh = f"{fresh_root}/{run}"  # no snapshot: a first start after installing or changing settings
            runs["bare"].append(_cold_start(["-c", BARE_SERVER]))
            runs["first"].append(_cold_start(OUR_SERVER, {**OUR_ENV, "XDG_CACHE_HOME": fresh, "LOCALAPPDATA": fresh}))
            runs["usual"].append(_cold_start(OUR_SERVER, usual))
    figures: dict[str, Any] = {}
    for index, label in enumerate(("initialize", "tools_list", "cpu_to_tools_list")):
        medians = {name: statistics.median(times[index] or 0.0 for times in runs[name]) for name in runs}
        b, first, usual_ms = medians["bare"], medians["first"], medians["usual"]
        if not b:
            continue  # no CPU figures off Linux
        what = "server CPU to tools/list" if label.startswith("cpu") else f"to {label.replace('_', '/')}"
        print(
            f"startup  {what:<24} bare SDK stdio server {b * 1000:6.1f} ms   ours: first start {first * 1000:6.1f} ms "
            f"(ratio {first / b:4.2f}), usual start {usual_ms * 1000:6.1f} ms (ratio {usual_ms / b:4.2f})"
        )
        figures[label] = {
            "baseline_ms": round(b * 1000, 1),
            "first_start_ms": round(first * 1000, 1),
            "first_start_ratio": round(first / b, 2),
            "ours_ms": round(usual_ms * 1000, 1),
            "ratio": round(usual_ms / b, 2),
        }
    return figures


def _server_cpu(server: _StdioServer) -> float | None:
    """CPU seconds the server process has used (Linux): a figure the machine's other load barely moves."""
    try:
        with open(f"/proc/{server.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _timed_calls(server: _StdioServer, tool: str, first_id: int) -> tuple[float, float | None]:
    """Wall seconds per call as the client sees it, and the server's CPU seconds per call."""
    arguments = {"run_id": RUN_ROW["flowsessionid"]}
    count = CALLS // RUNS
    cpu_before = _server_cpu(server)
    started = time.perf_counter()
    for n in range(count):
        answer = server.ask(
            {
                "jsonrpc": "2.0",
                "id": first_id + n,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
        assert not answer["result"].get("isError"), answer
    wall = (time.perf_counter() - started) / count
    cpu_after = _server_cpu(server)
    return wall, None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / count


def calls() -> dict[str, Any]:
    _byte_code()
    servers = {
        "bare_noop": (_StdioServer(["-c", BARE_SERVER]), "get_thing"),
        "bare_read": (_StdioServer(["-c", BARE_READ_SERVER]), "get_desktop_flow_run"),
        "noop_our_wire": (_StdioServer(["-c", BARE_ON_OUR_WIRE]), "get_thing"),
        "ours": (_StdioServer(["-c", OUR_CALL_SERVER]), "get_desktop_flow_run"),
    }
    for server, _ in servers.values():
        server.ask(INITIALIZE)
        server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for server, tool in servers.values():
        _timed_calls(server, tool, 1_000_000)  # warm up
    walls: dict[str, list[float]] = {name: [] for name in servers}
    cpus: dict[str, list[float]] = {name: [] for name in servers}
    for run in range(RUNS):
        for name, (server, tool) in servers.items():
            wall, cpu = _timed_calls(server, tool, run * CALLS)
            walls[name].append(wall)
            if cpu is not None:
                cpus[name].append(cpu)
    for server, _ in servers.values():
        server.close()
    # Wall: each ratio is taken within one block (the servers ran one after the other), then the median, so load
    # that drifts during the run moves both sides of a ratio. CPU: the server's own seconds over all blocks.
    figures: dict[str, Any] = {}
    o = statistics.median(walls["ours"])
    for name, label in (
        ("bare_noop", "bare SDK tool, no-op"),
        ("bare_read", "bare SDK tool, same read"),
        ("noop_our_wire", "no-op on our stdio wire"),
    ):
        b = statistics.median(walls[name])
        ratio = statistics.median(ours / base for ours, base in zip(walls["ours"], walls[name], strict=True))
        line = f"per call baseline({label:<24}) wall {b * 1e6:6.0f} us  ours {o * 1e6:6.0f} us  ratio {ratio:5.2f}"
        figures[name] = {"baseline_us": round(b * 1e6), "ours_us": round(o * 1e6), "ratio": round(ratio, 2)}
        if cpus[name] and cpus["ours"]:
            cb, co = sum(cpus[name]) / len(cpus[name]), sum(cpus["ours"]) / len(cpus["ours"])
            line += f"   server CPU {cb * 1e6:6.0f} us  ours {co * 1e6:6.0f} us  ratio {co / cb:5.2f}"
            figures[name] |= {
                "cpu_baseline_us": round(cb * 1e6),
                "cpu_ours_us": round(co * 1e6),
                "cpu_ratio": round(co / cb, 2),
            }
        print(line)
    wire = statistics.median(ours / base for ours, base in zip(walls["noop_our_wire"], walls["bare_noop"], strict=True))
    print(f"per call the same no-op tool on our stdio wire / on the SDK's stdio: wall ratio {wire:5.2f}")
    figures["our_wire_vs_sdk_stdio"] = round(wire, 2)
    return figures


# ---- economy --------------------------------------------------------------------------------------------------

ERAS = {"legacy": "legacy", "2026-07-28": "auto"}  # era label -> Client mode (auto negotiates server/discover)
ISSUE_8_BASELINE = {"tools_list_kb": 36.8, "tools": 11, "short_job_requests": 11}
INVOICE_FLOW = "Enter invoices into legacy ERP"
INVOICE_INPUTS = {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}
REPORT_FLOW = "Download monthly sales report"  # runs 600 s in the emulator
REPORT_INPUTS = {"Month": "2026-10", "Region": "EMEA"}
WAIT_CALL_SECONDS, WAIT_MINUTES = 60, 10
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _compact(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class FakeClock:
    """Monotonic time that moves only when the server sleeps; the emulator reads the same clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Wire:
    """Every Dataverse request the server sends, with the fake time it was sent at."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
        import httpx

        self.inner, self.clock = inner, clock
        self.sent: list[tuple[float, httpx.Request]] = []
        outer = self

        class Counting(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                outer.sent.append((outer.clock(), request))
                return await outer.inner.handle_async_request(request)

        self.transport = Counting()

    def lines(self, start: int = 0) -> list[str]:
        """``METHOD path`` under the Web API root, ids as {id} so runs compare across processes."""
        out: list[str] = []
        for _, request in self.sent[start:]:
            path = request.url.path.split("/api/data/v9.2/", 1)[-1]
            out.append(f"{request.method} {GUID.sub('{id}', path)}")
        return out


async def _economy_era(mode: str) -> dict[str, Any]:
    from mcp import Client

    from desktop_flows_mcp.app import App, Clock
    from desktop_flows_mcp.config import Settings
    from desktop_flows_mcp.emulator import Emulator
    from desktop_flows_mcp.server import build_server

    clock = FakeClock()
    wire = _Wire(Emulator(clock=clock).transport(), clock)
    server = build_server(
        App(Settings.from_env({}), clock=Clock(monotonic=clock, sleep=clock.sleep), dataverse_transport=wire.transport)
    )
    async with Client(server, mode=mode, raise_exceptions=True) as client:  # type: ignore[arg-type]
        listed = (await client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
        tools = listed["tools"]
        figures: dict[str, Any] = {
            "tools_list": {
                "tools": len(tools),
                "bytes": _compact({"tools": tools}),
                "result_bytes": _compact(listed),  # with cursor and cache hints, as the whole result
                "per_tool": {tool["name"]: _compact(tool) for tool in tools},
            }
        }
        figures["short_job"] = await _short_job(client, wire)
        figures["waiting"] = await _waiting(client, wire, clock)
    return figures


async def _call(client: Client, wire: _Wire, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    before = len(wire.sent)
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {text}")
    step = {"tool": tool, "result_bytes": len(text.encode()), "requests": wire.lines(before)}
    return step, result.structured_content


async def _short_job(client: Client, wire: _Wire) -> dict[str, Any]:
    start = len(wire.sent)
    steps: list[dict[str, Any]] = []
    step, listed = await _call(client, wire, "list_desktop_flows", {"search": "invoices into"})
    steps.append(step)
    flow = listed["flows"][0]["name"]
    assert flow == INVOICE_FLOW, flow
    steps.append((await _call(client, wire, "get_desktop_flow_schema", {"flow": flow}))[0])
    step, started = await _call(client, wire, "run_desktop_flow", {"flow": flow, "inputs": INVOICE_INPUTS})
    steps.append(step)
    run_id = {"run_id": started["run_id"]}
    step, finished = await _call(client, wire, "wait_for_desktop_flow_run", run_id)
    steps.append(step)
    assert finished["status"] == "Succeeded", finished
    steps.append((await _call(client, wire, "get_desktop_flow_run_outputs", run_id))[0])
    return {
        "requests": len(wire.sent) - start,
        "result_bytes": sum(s["result_bytes"] for s in steps),
        "steps": steps,
    }


async def _waiting(client: Client, wire: _Wire, clock: FakeClock) -> dict[str, Any]:
    start, started_at = len(wire.sent), clock()
    _, started = await _call(client, wire, "run_desktop_flow", {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS})
    run_path = f"flowsessions({started['run_id']})"
    reads_per_call: list[int] = []
    status = started["status"]
    for _ in range(WAIT_MINUTES):
        before = len(wire.sent)
        arguments = {"run_id": started["run_id"], "timeout_seconds": WAIT_CALL_SECONDS}
        _, run = await _call(client, wire, "wait_for_desktop_flow_run", arguments)
        reads = [r for _, r in wire.sent[before:] if r.method == "GET" and r.url.path.endswith(run_path)]
        reads_per_call.append(len(reads))
        status = run["status"]
        if run["is_terminal"]:
            break
    later = reads_per_call[1:]
    return {
        "wait_calls": len(reads_per_call),
        "fake_seconds": round(clock() - started_at, 1),
        "status_reads_per_call": reads_per_call,
        "status_reads_minute_1": reads_per_call[0],
        "status_reads_per_minute_after": round(statistics.mean(later), 2) if later else None,
        "other_requests": [line for line in wire.lines(start) if not line.startswith("GET flowsessions({id})")],
        "final_status": status,
    }


HOSTILE_TEXT = "\x1b[31m\u202egnp.exe\u202c\x07\r\n"


def _hostile_schema(repeat: int) -> str:
    prose = (HOSTILE_TEXT + "x") * repeat
    inputs: dict[str, Any] = {
        f"In{n}": {"type": "string", "title": prose, "description": prose, "value": prose} for n in range(10)
    }
    inputs["Choice"] = {"type": "string", "enum": [f"v{n}{HOSTILE_TEXT}" for n in range(1000)]}
    return json.dumps({"schema": {"type": "object", "properties": inputs}})


async def _hostile_flows(mode: str) -> dict[str, Any]:
    """tools/list bytes with per-flow tools, before and after 10 hostile flows join the allow-list."""
    from mcp import Client

    from desktop_flows_mcp.app import App
    from desktop_flows_mcp.config import Settings
    from desktop_flows_mcp.emulator import Emulator
    from desktop_flows_mcp.server import build_server

    figures: dict[str, Any] = {}
    for label, repeat in (("baseline", 0), ("schemas_5_mb", 4_300), ("prose_200_kb", 140)):
        emulator = Emulator()
        invoice = next(row for row in emulator.store.workflows.values() if row["name"] == INVOICE_FLOW)
        ids = [str(invoice["workflowid"])]
        for n in range(10 if repeat else 0):
            flow_id = f"0e0e0e0e-1111-4222-8333-4444444444{n:02d}"
            schema = _hostile_schema(repeat)
            emulator.store.workflows[flow_id] = {
                **invoice, "workflowid": flow_id, "name": f"Hostile {n}", "description": HOSTILE_TEXT * 1000,
                "inputs": schema, "outputs": schema,
            }  # fmt: skip
            ids.append(flow_id)
        env = {"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": ",".join(ids)}
        server = build_server(App(Settings.from_env(env), dataverse_transport=emulator.transport()))
        async with Client(server, mode=mode, raise_exceptions=True) as client:  # type: ignore[arg-type]
            listed = (await client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
        figures[label] = {"bytes": _compact({"tools": listed["tools"]}), "tools": len(listed["tools"])}
        if repeat:
            figures[label]["schema_bytes"] = len(_hostile_schema(repeat))
    return figures


def _economy_table(figures: dict[str, Any]) -> None:
    eras = list(figures["eras"])
    first = figures["eras"][eras[0]]
    base = ISSUE_8_BASELINE
    print(
        f"economy  issue #8 baseline, measured on the previous main: tools/list {base['tools_list_kb']} KB "
        f"({base['tools']} tools), short job {base['short_job_requests']} Dataverse requests"
    )
    for era in eras:
        tl = figures["eras"][era]["tools_list"]
        print(
            f"tools/list {era:<10} {tl['bytes']:6d} B ({tl['bytes'] / 1024:4.1f} KB) for {tl['tools']} tools"
            f"   whole result {tl['result_bytes']} B"
        )
    print("  per tool (bytes): " + ", ".join(f"{n} {b}" for n, b in first["tools_list"]["per_tool"].items()))
    job = first["short_job"]
    print(f"short job  {job['requests']} Dataverse requests, {job['result_bytes']} B of result text")
    for step in job["steps"]:
        print(f"  {step['tool']:<30} {step['result_bytes']:5d} B  {len(step['requests'])} req  ", end="")
        print("; ".join(step["requests"]) or "-")
    wait = first["waiting"]
    print(
        f"waiting    {wait['wait_calls']} x wait_for_desktop_flow_run(timeout_seconds={WAIT_CALL_SECONDS}) "
        f"on a 600 s run: status reads minute 1 {wait['status_reads_minute_1']}, "
        f"then {wait['status_reads_per_minute_after']}/min over {wait['fake_seconds']:g} fake s, run still "
        f"{wait['final_status']}"
    )
    print(f"  per call {wait['status_reads_per_call']}; other requests: {'; '.join(wait['other_requests']) or '-'}")
    for era in eras[1:]:
        other = figures["eras"][era]
        same = all(other[k] == first[k] for k in ("short_job", "waiting"))
        same = same and other["tools_list"]["per_tool"] == first["tools_list"]["per_tool"]
        print(f"  {era}: per-tool bytes, short job and waiting " + ("same as " + eras[0] if same else "DIFFER"))
    for era, hostile in figures["hostile_flows"].items():
        base = hostile["baseline"]
        line = f"hostile flows {era:<10} tools/list with one per-flow tool {base['bytes']} B"
        for label, name in (("schemas_5_mb", "5 MB schemas"), ("prose_200_kb", "hostile prose")):
            got = hostile[label]
            added = got["bytes"] - base["bytes"]
            line += (
                f"; +10 flows with {name} ({got['schema_bytes'] // 1024} KB each): {got['bytes']} B "
                f"(x{got['bytes'] / base['bytes']:.2f}, {got['tools'] - base['tools']} tools, {added // 10} B a flow)"
            )
        print(line)


def economy(quiet: bool = False) -> dict[str, Any]:
    import anyio

    figures: dict[str, Any] = {
        "issue_8_baseline": {"note": "measured on the previous main", **ISSUE_8_BASELINE},
        "eras": {era: anyio.run(_economy_era, mode) for era, mode in ERAS.items()},
        "hostile_flows": {era: anyio.run(_hostile_flows, mode) for era, mode in ERAS.items()},
    }
    if not quiet:
        _economy_table(figures)
    return figures


# ---- callbacks ------------------------------------------------------------------------------------------------

CALLBACK_STEP = 0.25


class _SteppingClock(FakeClock):
    """A sleep advances in steps; at each the emulator delivers due callbacks and other tasks run until blocked."""

    def __init__(self) -> None:
        super().__init__()
        self.on_step: Any = None

    async def sleep(self, seconds: float) -> None:
        import anyio

        left = seconds
        while left > 0:
            step = min(CALLBACK_STEP, left)
            self.now += step
            left -= step
            if self.on_step is not None:
                await self.on_step()
            await anyio.wait_all_tasks_blocked()


@asynccontextmanager
async def _callback_server(public_url: str | None, mode: str, extensions: list[Any]) -> AsyncGenerator[Any, None]:
    """The server (its HTTP app receiving the emulator's callbacks) and a client, on stepping fake time."""
    import httpx
    from mcp import Client

    from desktop_flows_mcp.app import App, Clock
    from desktop_flows_mcp.config import HttpSettings, Settings
    from desktop_flows_mcp.emulator import Emulator
    from desktop_flows_mcp.server import build_server
    from desktop_flows_mcp.streamable_http import build_http_app

    clock = _SteppingClock()
    apps: list[Any] = []

    async def to_server(request: httpx.Request) -> httpx.Response:
        return await httpx.ASGITransport(app=apps[0]).handle_async_request(request)

    async def no_wait(seconds: float) -> None:
        clock.now += seconds

    emulator = Emulator(clock=clock, sleep=no_wait, callback_transport=httpx.MockTransport(to_server))
    clock.on_step = emulator.deliver_due_callbacks
    wire = _Wire(emulator.transport(), clock)
    env = {"DESKTOP_FLOWS_PUBLIC_URL": public_url} if public_url else {}
    app = App(
        Settings.from_env(env),
        clock=Clock(monotonic=clock, sleep=clock.sleep, now=lambda: datetime.fromtimestamp(clock(), UTC)),
        dataverse_transport=wire.transport,
    )
    server = build_server(app)
    apps.append(build_http_app(server, app, HttpSettings()))
    async with Client(server, mode=mode, extensions=extensions, raise_exceptions=True) as client:  # type: ignore[arg-type]
        yield client, wire, clock, emulator


def _status_reads(wire: _Wire, run_id: str) -> int:
    return sum(1 for _, r in wire.sent if r.method == "GET" and r.url.path.endswith(f"flowsessions({run_id})"))


async def _callback_wait(public_url: str | None) -> dict[str, Any]:
    async with _callback_server(public_url, "legacy", []) as (client, wire, clock, emulator):
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}
        _, started = await _call(client, wire, "run_desktop_flow", arguments)
        started_at = clock()
        _, run = await _call(
            client, wire, "wait_for_desktop_flow_run", {"run_id": started["run_id"], "timeout_seconds": 60}
        )
    return {
        "status_reads": _status_reads(wire, started["run_id"]),
        "latency_s": round(clock() - (started_at + 21.0), 2),
        "final_status": run["status"],
        "callback_url": bool(emulator.store.runs[started["run_id"]].callback_url),
    }


async def _task_polls(public_url: str | None) -> dict[str, Any]:
    """The same 20 s run as an MCP task (2026-07-28 era), polled with tasks/get at its pollIntervalMs."""
    from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
    from mcp_types import Request, RequestParams, Result
    from pydantic import ConfigDict

    class Loose(Result):
        model_config = ConfigDict(extra="allow")

    class Created(Loose):
        result_type: Literal["task"] = "task"
        task_id: str

    class TaskIdParams(RequestParams):
        task_id: str

    class GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
        method: Literal["tasks/get"] = "tasks/get"
        name_param = "taskId"

    class Tasks(ClientExtension):
        identifier = "io.modelcontextprotocol/tasks"

        def claims(self) -> Sequence[ResultClaim[Any]]:
            return [ResultClaim(result_type="task", model=Created, resolve=self._never)]

        async def _never(self, created: Created, ctx: ClaimContext) -> Any:
            raise AssertionError("tasks are polled by the bench itself")

    async with _callback_server(public_url, "auto", [Tasks()]) as (client, wire, clock, emulator):
        arguments = {"flow": REPORT_FLOW, "inputs": REPORT_INPUTS, "timeout_seconds": 20}
        created = await client.session.call_tool("run_desktop_flow", arguments, allow_claimed=True)
        assert isinstance(created, Created), created
        run_id = created.task_id.removeprefix("dfrun-")
        ends_at = clock() + 21.0
        polls = 0
        while True:
            task = await client.session.send_request(GetTask(params=TaskIdParams(task_id=created.task_id)), Loose)
            polls += 1
            fields: dict[str, Any] = task.model_extra or {}
            if fields["status"] == "completed":
                break
            await clock.sleep(fields["pollIntervalMs"] / 1000)
    return {
        "status_reads": _status_reads(wire, run_id),
        "polls": polls,
        "latency_s": round(clock() - ends_at, 2),
        "callback_url": bool(emulator.store.runs[run_id].callback_url),
    }


def callbacks() -> dict[str, Any]:
    import anyio

    base = anyio.run(_callback_wait, None)
    ours = anyio.run(_callback_wait, "https://flows-mcp.contoso.com")
    assert not base["callback_url"] and ours["callback_url"], (base, ours)
    assert base["final_status"] == ours["final_status"] == "TimedOut", (base, ours)
    ratio = ours["status_reads"] / base["status_reads"]
    print(
        f"callbacks  20 s run, one 60 s wait: baseline(polling) {base['status_reads']} status reads, answer "
        f"{base['latency_s']:g} s after the end   ours(callback) {ours['status_reads']} reads, "
        f"{ours['latency_s']:g} s   reads ratio {ratio:4.2f}"
    )
    task_base = anyio.run(_task_polls, None)
    task_ours = anyio.run(_task_polls, "https://flows-mcp.contoso.com")
    assert not task_base["callback_url"] and task_ours["callback_url"], (task_base, task_ours)
    print(
        f"callbacks  20 s run as a task, tasks/get at pollIntervalMs ({task_ours['polls']} polls, completed "
        f"{task_ours['latency_s']:g} s after the end): baseline(polling) {task_base['status_reads']} status reads   "
        f"ours(callback) {task_ours['status_reads']} reads"
    )
    return {
        "baseline": base,
        "ours": ours,
        "reads_ratio": round(ratio, 2),
        "task_polls": {"baseline": task_base, "ours": task_ours},
    }


# ---- listeners --------------------------------------------------------------------------------------------------

LISTENERS, TASKS_EACH, LISTEN_SECONDS = 8, 16, 60.0


async def _listen_reads(budget: bool) -> dict[str, Any]:
    import uuid
    from pathlib import Path

    import anyio
    import httpx
    from mcp import Client

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' virtual time and tasks client
    from tests.fakes.timeline import Timeline
    from tests.tasks_client import TasksClient, listen

    from desktop_flows_mcp.app import App, Clock
    from desktop_flows_mcp.config import Settings
    from desktop_flows_mcp.runs import context
    from desktop_flows_mcp.server import build_server

    timeline = Timeline()
    reads: list[float] = []

    def running(request: httpx.Request) -> httpx.Response:
        reads.append(timeline.now)
        run_id = request.url.path.rsplit("(", 1)[-1].rstrip(")")
        return httpx.Response(200, json={"flowsessionid": run_id, "statuscode": 2, "statecode": 0})

    settings = Settings.from_env({"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"})
    saved = context.BACKGROUND_READS_PER_SECOND, context.BACKGROUND_READ_BURST
    if not budget:
        context.BACKGROUND_READS_PER_SECOND, context.BACKGROUND_READ_BURST = 1e9, 10**9
    try:
        clock = Clock(monotonic=timeline, sleep=timeline.sleep)
        server = build_server(App(settings, clock=clock, dataverse_transport=httpx.MockTransport(running)))
        began = timeline.now
        tasks = TasksClient(timeline.sleep)
        async with Client(server, mode="auto", extensions=[tasks]) as client, anyio.create_task_group() as group:
            for _ in range(LISTENERS):
                group.start_soon(listen, client.session, [f"dfrun-{uuid.uuid4()}" for _ in range(TASKS_EACH)])
            await timeline.run_until(began + LISTEN_SECONDS)
            group.cancel_scope.cancel()
    finally:
        context.BACKGROUND_READS_PER_SECOND, context.BACKGROUND_READ_BURST = saved
    busiest = max(sum(1 for t in reads if s <= t - began < s + 1) for s in range(int(LISTEN_SECONDS)))
    return {"reads": len(reads), "per_second": round(len(reads) / LISTEN_SECONDS, 1), "busiest_second": busiest}


def listeners() -> dict[str, Any]:
    import anyio

    base, ours = anyio.run(_listen_reads, False), anyio.run(_listen_reads, True)
    print(
        f"listeners  {LISTENERS} x {TASKS_EACH} tasks for {LISTEN_SECONDS:g} s: baseline(no budget) "
        f"{base['per_second']}/s (busiest second {base['busiest_second']})   ours {ours['per_second']}/s "
        f"(busiest {ours['busiest_second']})   ratio {ours['reads'] / base['reads']:4.2f}"
    )
    return {"baseline": base, "ours": ours, "ratio": round(ours["reads"] / base["reads"], 2)}


if __name__ == "__main__":
    import contextlib
    import io
    import logging

    logging.basicConfig(level=logging.WARNING)  # before MCPServer() would turn on INFO for every request
    as_json = "--json" in sys.argv[1:]
    names = ("startup", "calls", "economy", "callbacks", "listeners")
    which = [a for a in sys.argv[1:] if a != "--json"] or list(names)
    unknown = set(which) - set(names)
    if unknown:
        sys.exit(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(names)}, and --json")
    report: dict[str, Any] = {}
    sections = {
        "startup": startup,
        "calls": calls,
        "economy": economy,
        "callbacks": callbacks,
        "listeners": listeners,
    }
    for name in names:
        if name in which:
            if as_json:
                with contextlib.redirect_stdout(io.StringIO()):
                    report[name] = sections[name]()
            else:
                sections[name]()
    if as_json:
        print(json.dumps(report, separators=(",", ":")))
