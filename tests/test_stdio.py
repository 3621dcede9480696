"""stdio: bad lines get a JSON-RPC error, signals stop the server in time, and a run start in flight is not lost.

In-process tests feed ``serve_stdio`` byte streams; the signal tests run the real console script, because the
process boundary (signals, exit, stdin EOF) is what they test.
"""

from __future__ import annotations

import io
import json
import logging
import signal
from typing import Any

import anyio
import pytest

from desktop_flows_mcp.app import App
from desktop_flows_mcp.bounds import MAX_MESSAGE_BYTES
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator, serve
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.stdio import serve_stdio
from tests.processes import CONNECTION, RUN_PATH, console, line
from tests.stacks import INVOICE_FLOW

pytestmark = pytest.mark.anyio
INPUTS = {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"}
CLIENT_INFO = {"name": "test", "version": "1"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
RUN = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "run_desktop_flow", "arguments": {"flow": INVOICE_FLOW, "inputs": INPUTS}},
}
LIST: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 8,
    "method": "tools/call",
    "params": {"name": "list_desktop_flows", "arguments": {}},
}


class Gate:
    """The emulator's sleep for a delay fault: the request waits here until the test lets it through."""

    def __init__(self) -> None:
        self.arrived = anyio.Event()
        self.release = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        self.arrived.set()
        await self.release.wait()


def gated_emulator() -> tuple[Emulator, Gate]:
    gate = Gate()
    emulator = Emulator(test_api=True, sleep=gate.sleep)
    emulator.faults.add(RUN_PATH, status=None, delay=1)
    return emulator, gate


async def serve_lines(emulator: Emulator, *lines: bytes, grace_seconds: float = 30) -> list[dict[str, Any]]:
    """Serve the lines (then EOF) in-process; the messages written back, in order."""
    server = build_server(App(Settings.from_env({}), dataverse_transport=emulator.transport()))
    out = io.BytesIO()
    await serve_stdio(
        server, streams=(io.BytesIO(b"".join(lines)), out), grace_seconds=grace_seconds, handle_signals=False
    )
    return [json.loads(text) for text in out.getvalue().splitlines()]


async def test_malformed_lines_get_json_rpc_errors_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "desktop_flows_mcp"):
        answers = await serve_lines(
            Emulator(),
            b"this is not json\n",
            line(INITIALIZE),
            b"\n",  # blank lines are skipped
            line({"jsonrpc": "2.0", "id": 2, "method": 5}),
            line([1, 2]),
            b"\xff\xfe{\n",
            line(INITIALIZED),
            line(LIST),
        )
    # Bad lines are answered in the order they came; an answer to a request may come before or after them.
    assert [(a["id"], a["error"]["code"]) for a in answers if "error" in a] == [
        (None, -32700),
        (2, -32600),  # the id is echoed, so the client waiting on it is not left hanging
        (None, -32600),
        (None, -32700),
    ]
    assert sorted(a["id"] for a in answers if "result" in a) == [1, 8]
    assert answers[-1]["result"]["structuredContent"]["flows"]
    assert len([r for r in caplog.records if r.message.startswith("stdin: ")]) == 4


def nested_call(depth: int, request_id: int) -> bytes:
    """A tools/call line whose argument nests ``depth`` levels: built as text, as no encoder of ours would."""
    head = f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call","params":{{"name":"list_desktop_flows",'
    return (head + '"arguments":{"search":' + "[" * depth + "]" * depth + "}}}\n").encode()


async def test_a_line_nested_or_sized_beyond_the_limits_gets_an_error_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "desktop_flows_mcp"):
        answers = await serve_lines(
            Emulator(),
            line(INITIALIZE),
            nested_call(1_000, 3),  # the depth that killed the server in the invalid-line handler
            nested_call(150, 4),  # under pydantic's own limit: it would parse, and recurse later
            b"[" * 200_000 + b"\n",
            b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"x":"' + b"y" * MAX_MESSAGE_BYTES + b'"}}\n',
            line(INITIALIZED),
            line(LIST),
        )
    by_id = {a["id"]: a for a in answers}  # bad lines are answered at once, maybe before initialize
    assert len(answers) == len(by_id) == 6
    assert {i: a.get("error", {}).get("code") for i, a in by_id.items()} == {
        1: None,
        3: -32600,
        4: -32600,
        None: -32600,
        5: -32600,
        8: None,
    }
    assert "nested deeper than 64 levels" in by_id[3]["error"]["message"]
    assert "over 4194304 bytes" in by_id[5]["error"]["message"]
    assert by_id[8]["result"]["structuredContent"]["flows"]


MODERN: dict[str, Any] = {  # a 2026-07-28 request carries its era in _meta; there is no initialize
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_a_lone_surrogate_in_an_argument_gets_the_tool_error_envelope_and_the_answer_is_valid_json(
    era: str,
) -> None:
    def call(request_id: int, arguments: dict[str, Any]) -> bytes:
        params: dict[str, Any] = {"name": "list_desktop_flows", "arguments": arguments}
        return line({**LIST, "id": request_id, "params": {**params, **({"_meta": MODERN} if era != "legacy" else {})}})

    handshake = [line(INITIALIZE), line(INITIALIZED)] if era == "legacy" else []
    lines = [call(9, {"search": "a\ud800"}), call(10, {"\udfff": 1}), b"[" * 1_000 + b"\n", call(8, {})]
    answers = await serve_lines(Emulator(), *handshake, *lines)
    by_id = {a["id"]: a for a in answers}
    assert {i: a.get("error", {}).get("code") for i, a in by_id.items()} == {
        **({1: None} if era == "legacy" else {}),
        9: None,
        10: None,
        None: -32600,  # the deep line
        8: None,
    }
    for answer in (by_id[9], by_id[10]):
        assert answer["result"]["isError"] is True
        assert answer["result"]["structuredContent"]["error"]["code"] == "invalid_argument"
        assert "lone surrogate" in answer["result"]["structuredContent"]["error"]["message"]
    assert by_id[8]["result"]["structuredContent"]["flows"]


async def test_a_run_start_in_flight_when_stdin_closes_is_answered_and_audited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator, gate = gated_emulator()
    answers: list[dict[str, Any]] = []

    async def serve() -> None:
        answers.extend(await serve_lines(emulator, line(INITIALIZE), line(INITIALIZED), line(RUN)))

    with caplog.at_level(logging.INFO, "desktop_flows_mcp.audit"):
        async with anyio.create_task_group() as group:
            group.start_soon(serve)
            await gate.arrived.wait()  # stdin is at EOF and Dataverse has the run request
            gate.release.set()
    run_id = answers[-1]["result"]["structuredContent"]["run_id"]
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run started")]
    assert len(started) == 1
    assert f"run_id={run_id}" in started[0]


async def test_a_run_start_still_running_at_the_deadline_is_cancelled_and_leaves_an_audit_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator, _ = gated_emulator()  # never released
    with caplog.at_level(logging.INFO, "desktop_flows_mcp"):
        answers = await serve_lines(emulator, line(INITIALIZE), line(INITIALIZED), line(RUN), grace_seconds=0)
    assert [(a["id"], "error" in a) for a in answers] == [(1, False), (7, True)]  # the SDK: "Connection closed"
    audit = [r for r in caplog.records if r.name == "desktop_flows_mcp.audit"]
    assert [r.getMessage() for r in audit] == [
        f"run start cut short by shutdown; a run may have started flow={INVOICE_FLOW!r} request_id=7"
    ]


# ---- the real console script --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_garbage_is_answered_and_a_signal_stops_the_console_script_within_two_seconds(
    signal_number: signal.Signals,
) -> None:
    async with console("--emulator") as server:
        await server.send(b"{not json\n", line(INITIALIZE))
        garbage, initialized = await server.message(), await server.message()
        server.process.send_signal(signal_number)  # stdin stays open: only the signal can stop it
        code = await server.stops_within(2)
    assert garbage["error"]["code"] == -32700
    assert initialized["result"]["serverInfo"]["name"] == "desktop-flows-mcp"
    assert code == 0


@pytest.mark.slow
async def test_sigterm_during_a_run_start_still_answers_it_and_writes_the_audit_line() -> None:
    emulator, gate = gated_emulator()
    urls: list[str] = []
    ready = anyio.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: serve("127.0.0.1", 0, emulator=emulator, ready=on_ready))
        await ready.wait()
        env = {
            "DATAVERSE_URL": urls[0],
            "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN,
            "DESKTOP_FLOWS_CONNECTION": CONNECTION,
        }
        async with console("--log-level", "INFO", **env) as server:
            await server.send(line(INITIALIZE), line(INITIALIZED))
            await server.message()
            await server.send(line(RUN))
            with anyio.fail_after(10):
                await gate.arrived.wait()
            server.process.send_signal(signal.SIGTERM)
            stopping = await server.stderr_line_with("SIGTERM: stopping")
            gate.release.set()  # Dataverse answers only now, after the signal
            answer = await server.message()
            audit = await server.stderr_line_with("run started")
            code = await server.stops_within(2)
        group.cancel_scope.cancel()
        assert "1 request(s) in flight" in stopping
        run_id: str = answer["result"]["structuredContent"]["run_id"]
        assert f"run_id={run_id}" in audit
        assert code == 0
