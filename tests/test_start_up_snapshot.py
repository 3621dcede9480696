"""The start-up snapshot: a second start answers a client's opening requests and tools/list from the server's own
earlier answers, before the SDK is imported; the server checks them and records any that moved."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.handshake import MAX_ANSWERS, Snapshot, request_key, save, settings_fingerprint
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.stdio import serve_stdio
from desktop_flows_mcp.wire import StdioWire
from tests.node_tools import inspector2
from tests.processes import console, line

pytestmark = pytest.mark.anyio
CLIENT_INFO = {"name": "host", "version": "1"}
LEGACY: list[dict[str, Any]] = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO},
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}
MODERN = [
    {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": META}},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": META}},
]
ERAS = {"legacy": LEGACY, "2026-07-28": MODERN}
CALL = {"name": "list_desktop_flows", "arguments": {"search": "invoice"}}


def call(era: str) -> dict[str, Any]:
    params: dict[str, Any] = {**CALL, "_meta": META} if era == "2026-07-28" else CALL
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


async def start(cache: Path, era: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One start of the console script on the emulator: the answers to the era's opening, tools/list and one
    tools/call, in the order written; and the start-up snapshot's lines on stderr."""
    errors: list[bytes] = []
    answers: list[dict[str, Any]] = []
    server_started = console("--emulator", "--log-level", "INFO", XDG_CACHE_HOME=str(cache))
    async with server_started as server, anyio.create_task_group() as group:
        group.start_soon(read_all, server.stderr, errors)
        await server.send(*(line(message) for message in [*ERAS[era], call(era)]))
        answers += [await server.message() for _ in range(3)]
        await server.stdin.aclose()
        assert await server.stops_within(10) == 0
    lines = b"".join(errors).decode().splitlines()
    return answers, [text.split(" desktop_flows_mcp: ", 1)[1] for text in lines if "start-up snapshot" in text]


async def read_all(stream: BufferedByteReceiveStream, into: list[bytes]) -> None:
    with suppress(anyio.EndOfStream):
        while True:
            into.append(await stream.receive())


@pytest.mark.slow
@pytest.mark.parametrize("era", ERAS)
async def test_a_second_start_answers_the_handshake_from_the_snapshot_with_the_servers_own_answers(
    tmp_path: Path, era: str
) -> None:
    first, first_log = await start(tmp_path, era)
    second, second_log = await start(tmp_path, era)
    assert not [text for text in first_log if "answered" in text]
    assert second_log == [
        f"start-up snapshot answered {ERAS[era][0]['method']} (id 1)",
        "start-up snapshot answered tools/list (id 2)",
    ]
    assert second[:2] == first[:2]  # the same answers, to the byte once encoded again
    assert "desktop-flows-mcp" in json.dumps(second[0]["result"])  # serverInfo (legacy) or its _meta (2026)
    assert len(second[1]["result"]["tools"]) >= 10
    assert second[2]["id"] == 3 and second[2]["result"]["structuredContent"]["flows"]  # then the server serves
    assert not [text for text in second_log if "differs" in text]


@pytest.mark.slow
@pytest.mark.parametrize("era", ERAS)
async def test_a_stale_snapshot_is_corrected_by_the_server_and_a_moved_tool_list_is_announced(
    tmp_path: Path, era: str
) -> None:
    await start(tmp_path, era)
    (file,) = (tmp_path / "desktop-flows-mcp" / "start-up").iterdir()
    stored = json.loads(file.read_bytes())
    key = request_key("tools/list", ERAS[era][-1].get("params"))
    stale = json.loads(stored["answers"][key])
    stale["tools"] = stale["tools"][:1]
    stored["answers"][key] = json.dumps(stale, separators=(",", ":"))
    file.write_text(json.dumps(stored))

    async with console("--emulator", XDG_CACHE_HOME=str(tmp_path)) as server:
        await server.send(*(line(message) for message in ERAS[era]))
        answers = [await server.message() for _ in range(2)]
        assert len(answers[1]["result"]["tools"]) == 1  # what the snapshot held was given
        warning = await server.stderr_line_with("start-up snapshot")
        if answers[0]["result"]["capabilities"]["tools"]["listChanged"]:
            assert await server.message() == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        await server.stdin.aclose()
        assert await server.stops_within(10) == 0
    assert "the answer given to tools/list differs from the server's" in warning
    again, _ = await start(tmp_path, era)
    assert len(again[1]["result"]["tools"]) > 1  # the server's answer was recorded for the next start


@pytest.mark.slow
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_inspector_2_gets_the_same_tool_list_from_the_snapshot_as_from_the_server(
    tmp_path: Path, era: str
) -> None:
    """A client nobody here wrote, started twice as a host does: the second start's handshake and tools/list come
    from the snapshot, and the Inspector's --strict lint judges them as it judged the server's own."""
    command, env = inspector2()  # the server gets the test's own HOME, so its own cache folder
    server = [sys.executable, "-m", "desktop_flows_mcp", "--emulator", "--log-level", "INFO"]
    runs: list[tuple[Any, list[str]]] = []
    for _ in range(2):
        result = await anyio.run_process(
            [*command, "--protocol-era", era, "--method", "tools/list", "--strict", "--", *server], env=env, check=False
        )
        assert result.returncode == 0, result.stderr.decode()[-4000:]
        logged = [text for text in result.stderr.decode().splitlines() if "start-up snapshot" in text]
        runs.append((json.loads(result.stdout), logged))
    (first, first_log), (second, second_log) = runs
    assert second == first and len(second["tools"]) >= 10
    assert not first_log
    # Inspector 2 asks tools/list at once in the legacy era; in the 2026 era it first opens subscriptions/listen,
    # and its tools/list may come after the server is up (then the server answers it).
    answered = [text.split(" answered ", 1)[1].split(" ", 1)[0] for text in second_log]
    assert answered[0] == ("server/discover" if era == "modern" else "initialize")
    assert era == "modern" or answered == ["initialize", "tools/list"]


async def test_input_that_ends_before_the_server_runs_is_answered_early_then_served(tmp_path: Path) -> None:
    """In process: a first serve records the answers; on the second, stdin has ended before the server runs (a
    host that writes its requests and closes), and still every request is answered, the handshake from the file."""
    listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": CALL}
    outputs: list[list[dict[str, Any]]] = []
    for _ in range(2):
        server = build_server(App(Settings.from_env({}), dataverse_transport=Emulator().transport()))
        out = io.BytesIO()
        wire = StdioWire(io.BytesIO(b"".join(line(message) for message in [*LEGACY, listing])), out, loaded(tmp_path))
        wire.start()
        assert wire._reader is not None  # pyright: ignore[reportPrivateUsage]
        wire._reader.join(10)  # pyright: ignore[reportPrivateUsage]  # the input has ended; no server yet
        await serve_stdio(server, wire=wire, handle_signals=False)
        wire.finish(timeout=10)  # and the recorded answers are saved
        outputs.append([json.loads(text) for text in out.getvalue().splitlines()])
    first, second = outputs
    assert [answer["id"] for answer in second] == [1, 2, 3]  # the early two first, then the server's
    assert second[:2] == first[:2] and second[2]["result"]["structuredContent"]["flows"]


def test_the_early_path_imports_neither_the_sdk_nor_the_network_stack(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from desktop_flows_mcp import cli, wire\n"
        "from desktop_flows_mcp.handshake import Snapshot\n"
        f"Snapshot.load({str(tmp_path)!r}, {{}}, flow_tools=False)\n"
        "print(sorted(m for m in ('mcp', 'mcp_types', 'anyio', 'httpx', 'msal', 'desktop_flows_mcp.server') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- the snapshot file ------------------------------------------------------------------------------------------


def loaded(folder: Path, env: dict[str, str] | None = None, *, flow_tools: bool = False) -> Snapshot:
    return Snapshot.load(
        str(folder), env or {"DATAVERSE_URL": "https://contoso.crm.dynamics.com"}, flow_tools=flow_tools
    )


def test_answers_are_kept_per_settings_without_secrets_and_dropped_when_the_code_moves(tmp_path: Path) -> None:
    token = "eyJ-a-very-secret-token"
    env = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": token, "HOME": "/x"}
    snapshot = loaded(tmp_path, env)
    assert snapshot.record("initialize", {"protocolVersion": "2025-11-25"}, '{"serverInfo":{}}')
    assert not snapshot.record("initialize", {"protocolVersion": "2025-11-25"}, '{"serverInfo":{}}')  # unchanged
    assert snapshot.path is not None
    saved(snapshot)
    assert token not in snapshot.path.read_text() and token not in snapshot.path.name
    if sys.platform != "win32":
        assert (snapshot.path.stat().st_mode & 0o777, snapshot.path.parent.stat().st_mode & 0o777) == (0o600, 0o700)

    again = loaded(tmp_path, {**env, "DATAVERSE_ACCESS_TOKEN": "another-token", "HOME": "/y"})
    assert again.answer("initialize", {"protocolVersion": "2025-11-25"}) == '{"serverInfo":{}}'
    assert again.answer("initialize", {"protocolVersion": "2024-11-05"}) is None  # other params: the SDK answers
    read_only = loaded(tmp_path, {**env, "DESKTOP_FLOWS_READ_ONLY": "true"})
    assert read_only.path != snapshot.path and read_only.answer("initialize", {"protocolVersion": "2025-11-25"}) is None
    assert settings_fingerprint({"DATAVERSE_ACCESS_TOKEN": "a"}) == settings_fingerprint(
        {"DATAVERSE_ACCESS_TOKEN": "b"}
    )

    package = tmp_path / "package"
    package.mkdir()
    (package / "tools.py").write_text("x = 1\n")
    before = Snapshot.load(str(tmp_path), env, flow_tools=False, package_dir=package, site_dirs=[])
    before.record("initialize", {}, "{}")
    assert before.path is not None
    saved(before)
    (package / "tools.py").write_text("x = 22\n")  # an edit, or an upgrade
    after = Snapshot.load(str(tmp_path), env, flow_tools=False, package_dir=package, site_dirs=[])
    assert after.answer("initialize", {}) is None


def test_a_damaged_or_missing_snapshot_is_an_empty_one_and_it_keeps_a_bounded_number_of_answers(
    tmp_path: Path,
) -> None:
    snapshot = loaded(tmp_path)
    assert snapshot.path is not None
    snapshot.path.parent.mkdir(parents=True, exist_ok=True)
    for damaged in (b"{not json", b"[]", b'{"format": 1, "fingerprint": 5, "answers": []}'):
        snapshot.path.write_bytes(damaged)
        assert loaded(tmp_path).answer("initialize", {}) is None
    assert Snapshot.load(None, {}, flow_tools=False).path is None  # no home: nothing kept, nothing fails
    (tmp_path / "a-file").write_text("")
    save(tmp_path / "a-file" / "x.json", "f", {"k": "{}"})  # a file where the folder should be: no exception
    assert (tmp_path / "a-file").read_text() == ""
    snapshot.path.unlink()
    for n in range(MAX_ANSWERS + 5):
        snapshot.record("initialize", {"n": n}, "{}")
    saved(snapshot)
    kept = loaded(tmp_path)
    assert kept.answer("initialize", {"n": 0}) is None and kept.answer("initialize", {"n": MAX_ANSWERS + 4})
    assert loaded(tmp_path, flow_tools=True).methods == {"initialize", "server/discover"}  # per-flow tools move


def test_two_servers_of_the_same_settings_saving_at_once_keep_each_others_answers(tmp_path: Path) -> None:
    """A host may start a server only to probe it (one answer recorded) beside the one it keeps (two)."""
    probe, kept = loaded(tmp_path), loaded(tmp_path)
    kept.record("server/discover", {}, '{"a":1}')
    kept.record("tools/list", {}, '{"tools":[]}')
    probe.record("server/discover", {}, '{"a":1}')
    saved(kept)
    saved(probe)  # last: it read nothing of tools/list at its start, and must not lose it
    again = loaded(tmp_path)
    assert (again.answer("server/discover", {}), again.answer("tools/list", {})) == ('{"a":1}', '{"tools":[]}')
    again.forget("tools/list", {})
    saved(again)
    assert loaded(tmp_path).answer("tools/list", {}) is None


def saved(snapshot: Snapshot) -> None:
    saving = snapshot.saving()
    assert saving is not None
    saving()
    assert snapshot.saving() is None  # nothing new since


# ---- the wire before the server runs ----------------------------------------------------------------------------


def snapshot_with_handshake(folder: Path) -> Snapshot:
    snapshot = loaded(folder)
    snapshot.record("initialize", LEGACY[0]["params"], '{"protocolVersion":"2025-11-25"}')
    snapshot.record("tools/list", None, '{"tools":[]}')
    return snapshot


def test_the_wire_answers_an_opened_handshake_and_never_ahead_of_a_malformed_line(tmp_path: Path) -> None:
    snapshot = snapshot_with_handshake(tmp_path)
    assert handed_over(snapshot, *LEGACY).answered.keys() == {1, 2}
    # garbage first: its error must come first, so nothing is answered ahead of the server
    assert handed_over(snapshot, b"{not json\n", *LEGACY).answered == {}
    # tools/list before any opening request is the server's to answer (a legacy session is not open yet)
    assert handed_over(snapshot, LEGACY[2], LEGACY[0]).answered.keys() == {1}
    # a request the server must answer (a long-lived listen, a call) does not hold up the next answers
    listen: dict[str, Any] = {"jsonrpc": "2.0", "id": "listen:0", "method": "subscriptions/listen", "params": {}}
    assert handed_over(snapshot, LEGACY[0], listen, LEGACY[2]).answered.keys() == {1, 2}
    other = {**LEGACY[0], "params": {**LEGACY[0]["params"], "protocolVersion": "2024-11-05"}}
    assert handed_over(snapshot, other, LEGACY[2]).answered == {}


def handed_over(snapshot: Snapshot, *messages: object) -> Any:
    """Feed the lines to a wire with no server yet; what it hands over (lines and early answers)."""
    out = io.BytesIO()
    wire = StdioWire(io.BytesIO(b"".join(m if isinstance(m, bytes) else line(m) for m in messages)), out, snapshot)
    ended = threading.Event()
    wire.start()
    assert wire._reader is not None  # pyright: ignore[reportPrivateUsage]
    wire._reader.join(10)  # pyright: ignore[reportPrivateUsage]
    handover = wire.attach(lambda line: ended.set() if line is None else None)
    wire.finish(timeout=10)
    written = [json.loads(text)["id"] for text in out.getvalue().splitlines()]
    assert written == list(handover.answered) and handover.ended
    assert len(handover.lines) == len(messages)  # every line still goes to the server
    return handover


def test_a_clients_request_id_reaches_the_log_capped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    snapshot = snapshot_with_handshake(tmp_path)
    long_id = "\u202e" + "x" * 10_000
    with caplog.at_level("INFO", "desktop_flows_mcp"):
        handed_over(snapshot, {**LEGACY[0], "id": long_id})
    (logged,) = [r.getMessage() for r in caplog.records if "snapshot answered" in r.getMessage()]
    assert len(logged) < 260 and "\u202e" not in logged
