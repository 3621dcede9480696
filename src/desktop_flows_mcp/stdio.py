"""MCP over stdio, with the edges a long-lived child process needs.

| event                                   | what happens                                                            |
|-----------------------------------------|-------------------------------------------------------------------------|
| a line that is not JSON                 | JSON-RPC error -32700 (id null) on stdout, a warning on stderr          |
| JSON that is not a JSON-RPC message     | JSON-RPC error -32600, with the line's id when it has one               |
| a line nested deeper than 64 levels, or | JSON-RPC error -32600 before any parsing (``bounds``), with the id when |
| longer than 4 MiB                       | the line starts with it; the rest of a long line is read and dropped    |
| a lone surrogate escape (``\\ud800``)   | parsed anyway, so that the tool answers invalid_argument, not -32600    |
| SIGINT, SIGTERM, or stdin closes        | nothing more is read; requests in flight get ``GRACE_SECONDS`` to       |
|                                         | answer, then the rest are cancelled and the server stops (exit code 0)  |
| a run start cancelled at that deadline  | one line on the audit log: the run may have started                     |
| a second signal                         | stop at once                                                            |
| an opening request the start-up         | already answered by ``wire.StdioWire``; the server answers it again,    |
| snapshot answered                       | the answers are compared, and a different one is recorded (warning)     |

Why not the SDK's transport: it drops a bad line without a word, reads stdin in a worker thread that nothing can
cancel (so Ctrl-C waited for the next line of input), and sends every line through a worker thread both ways. Here
the wire's own threads read and write, and the event loop neither waits for a write nor for the reader.

A run start in flight keeps its audit line: ``runs/starting.py`` writes it, with no await in between, as soon as
Dataverse answers; the grace period lets that answer arrive, and a start cut off before it is logged here.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Generator
from contextlib import ExitStack, contextmanager, suppress
from functools import partial
from typing import Any, BinaryIO, cast

import anyio
import anyio.lowlevel
import mcp_types as types
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import MCPServer
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from . import handshake
from .bounds import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, json_too_deep, leading_id
from .handshake import OPENING, Snapshot
from .sdk_seams import lowlevel_server
from .wire import Cut, Deliver, EarlyAnswer, StdioWire

GRACE_SECONDS = 1.2  # with the teardown, well inside the 2 s a supervisor gives before SIGKILL
LINES_AHEAD = 16  # lines the reader may hand over before the server has taken the earlier ones
log = logging.getLogger("desktop_flows_mcp")
audit = logging.getLogger("desktop_flows_mcp.audit")

RequestId = str | int
_TOOLS_CHANGED = types.JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed")


async def serve_stdio(
    server: MCPServer[Any],
    *,
    streams: tuple[BinaryIO, BinaryIO] | None = None,
    wire: StdioWire | None = None,
    grace_seconds: float = GRACE_SECONDS,
    handle_signals: bool = True,
) -> None:
    """Serve ``server`` on ``wire`` (claimed by the caller, maybe answering already), else on ``streams`` (input,
    output), else on stdin/stdout, until EOF or a signal."""
    lowlevel = lowlevel_server(server)  # MCPServer has no public way to serve a pair of streams
    with ExitStack() as owned:
        if wire is None:
            wire = owned.enter_context(StdioWire.claimed() if streams is None else _over(streams))
        to_server_send, to_server = anyio.create_memory_object_stream[SessionMessage](0)
        outgoing_send, outgoing = anyio.create_memory_object_stream[SessionMessage](0)
        lines_send, lines = anyio.create_memory_object_stream[bytes](LINES_AHEAD)
        slots = threading.Semaphore(LINES_AHEAD)  # released as the loop takes each line
        errors_out = outgoing_send.clone()  # answers to bad lines share the server's way out, in order
        handover = wire.attach(_deliverer(lines_send, slots, anyio.lowlevel.current_token()))
        if handover.ended:
            lines_send.close()
        connection = _Connection(wire, grace_seconds, handover.answered)
        async with anyio.create_task_group() as group:
            if handle_signals:
                await group.start(connection.stop_on_signals, group.cancel_scope)
            group.start_soon(connection.write_out, outgoing)
            async with anyio.create_task_group() as serving:
                serving.start_soon(lowlevel.run, to_server, outgoing_send, lowlevel.create_initialization_options())
                async with to_server_send, errors_out:  # closing them is the server's EOF
                    await connection.read_in(handover.lines, lines, slots, to_server_send, errors_out)
                    with anyio.move_on_after(grace_seconds):
                        await connection.idle()
                    connection.log_cut_short()
            connection.stop_watching_signals()
        await anyio.to_thread.run_sync(wire.wait_drained, grace_seconds, abandon_on_cancel=True)


@contextmanager
def _over(streams: tuple[BinaryIO, BinaryIO]) -> Generator[StdioWire]:
    wire = StdioWire(*streams)
    try:
        yield wire
    finally:
        wire.finish(timeout=0)


def _deliverer(
    lines: MemoryObjectSendStream[bytes], slots: threading.Semaphore, token: anyio.lowlevel.EventLoopToken
) -> Deliver:
    """For the reader thread: a line into the loop's stream without waiting for the loop to take it (a round trip
    through the loop per line cost a call ~80 µs); it waits only when ``LINES_AHEAD`` lines are still untaken."""
    native: Any = token.native_token
    soon: Callable[..., object] = getattr(native, "call_soon_threadsafe", None) or native.run_sync_soon

    def put(line: bytes) -> None:
        # Serving has stopped reading (a signal): the line is dropped, as it would be unread.
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            lines.send_nowait(line)

    def deliver(line: bytes | None) -> None:
        if line is None:
            soon(lines.close)
            return
        slots.acquire()
        soon(put, line)

    return deliver


class _Connection:
    """Relays lines between the wire and the server, remembering which requests still await an answer."""

    def __init__(self, wire: StdioWire, grace_seconds: float, answered_early: dict[RequestId, EarlyAnswer]) -> None:
        self._wire = wire
        self._grace_seconds = grace_seconds
        self._pending: dict[RequestId, types.JSONRPCRequest] = {}
        self._early = answered_early
        self._tools_change_notices = False  # the client was told tools/list may change
        self._changed = anyio.Event()
        self._reading = anyio.CancelScope()
        self._signals = anyio.CancelScope()

    async def read_in(
        self,
        backlog: list[bytes],
        lines: MemoryObjectReceiveStream[bytes],
        slots: threading.Semaphore,
        to_server: MemoryObjectSendStream[SessionMessage],
        errors_out: MemoryObjectSendStream[SessionMessage],
    ) -> None:
        with self._reading, lines:
            for line in backlog:
                await self._relay(line, to_server, errors_out)
            async for line in lines:
                slots.release()
                await self._relay(line, to_server, errors_out)

    async def _relay(
        self,
        line: bytes,
        to_server: MemoryObjectSendStream[SessionMessage],
        errors_out: MemoryObjectSendStream[SessionMessage],
    ) -> None:
        if not line.strip():
            return
        message = _message(line)
        if isinstance(message, types.JSONRPCError):
            await errors_out.send(SessionMessage(message))
            return
        # Pending before it is sent: the answer may be written before send() returns here.
        request_id = self._track(message)
        try:
            await to_server.send(SessionMessage(message))
        except BaseException:
            if request_id is not None:
                self._answered(request_id)
            raise

    def _track(self, message: types.JSONRPCMessage) -> RequestId | None:
        if isinstance(message, types.JSONRPCRequest):
            self._pending[message.id] = message
            return message.id
        if isinstance(message, types.JSONRPCNotification) and message.method == "notifications/cancelled":
            request_id: object = (message.params or {}).get("requestId")
            if isinstance(request_id, str | int):
                self._answered(request_id)
        return None

    def _answered(self, request_id: RequestId) -> types.JSONRPCRequest | None:
        request = self._pending.pop(request_id, None)
        if request is not None:
            self._changed.set()
            self._changed = anyio.Event()
        return request

    async def idle(self) -> None:
        while self._pending:
            await self._changed.wait()

    async def write_out(self, outgoing: MemoryObjectReceiveStream[SessionMessage]) -> None:
        async with outgoing:
            async for item in outgoing:
                message = item.message
                data = _encoded(message)
                if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) and message.id is not None:
                    request = self._answered(message.id)
                    early = self._early.pop(message.id, None)
                    snapshot = self._wire.snapshot
                    if early is not None and snapshot is not None:
                        self._check_early(snapshot, early, message, data)
                        continue  # the client has this answer already
                    if snapshot is not None and request is not None and request.method in snapshot.methods:
                        self._learn(snapshot, request.method, request.params, message, data)
                if not self._wire.write(data):  # the client is not reading: wait rather than pile up answers
                    await anyio.to_thread.run_sync(self._wire.wait_drained, abandon_on_cancel=True)

    def _learn(
        self, snapshot: Snapshot, method: str, params: object, message: types.JSONRPCMessage, data: bytes
    ) -> str | None:
        """Record the server's answer to an opening request or tools/list, for the next start."""
        result = _result_text(message, data)
        if result is None:
            return None
        if method in OPENING:
            self._tools_change_notices = _announces_tool_changes(result)
        if snapshot.record(method, params, result) and snapshot.path is not None:
            self._wire.after_writes(partial(handshake.save, snapshot.path, snapshot.encoded()))
        return result

    def _check_early(self, snapshot: Snapshot, early: EarlyAnswer, message: types.JSONRPCMessage, data: bytes) -> None:
        """The server's own answer to a request the snapshot answered: the same is the rule; a different one is
        recorded for next time, and a tool list that moved is announced when the client may hear of it."""
        if early.method in OPENING:
            self._tools_change_notices = _announces_tool_changes(early.result)
        result = _result_text(message, data)
        if result == early.result:
            return
        log.warning(
            "start-up snapshot: the answer given to %s differs from the server's; recorded the server's for the next "
            "start",
            early.method,
        )
        if result is None:  # the server refused it
            snapshot.forget(early.method, early.params)
            if snapshot.path is not None:
                self._wire.after_writes(partial(handshake.save, snapshot.path, snapshot.encoded()))
            return
        self._learn(snapshot, early.method, early.params, message, data)
        if early.method == "tools/list" and self._tools_change_notices:
            self._wire.write(_encoded(_TOOLS_CHANGED))

    async def stop_on_signals(
        self, everything: anyio.CancelScope, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """First SIGINT/SIGTERM: stop reading and let requests in flight finish; the second: stop at once."""
        with self._signals, ExitStack() as stack:
            try:
                signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
            except NotImplementedError:  # Windows: Ctrl-C raises KeyboardInterrupt instead
                task_status.started()
                return
            task_status.started()
            async for number in signals:
                name = signal.Signals(number).name
                if self._reading.cancel_called:
                    log.warning("%s again: stopping now", name)
                    everything.cancel()
                    return
                log.info(
                    "%s: stopping; %d request(s) in flight get up to %.1f s to finish",
                    name,
                    len(self._pending),
                    self._grace_seconds,
                )
                self._reading.cancel()

    def stop_watching_signals(self) -> None:
        self._signals.cancel()

    def log_cut_short(self) -> None:
        for request in self._pending.values():
            params: dict[str, Any] = request.params or {}
            arguments: object = params.get("arguments")
            if request.method == "tools/call" and params.get("name") == "run_desktop_flow":
                flow = cast(dict[str, Any], arguments).get("flow") if isinstance(arguments, dict) else None
                audit.warning(
                    "run start cut short by shutdown; a run may have started flow=%.200r request_id=%r",
                    flow,
                    request.id,
                )
        if self._pending:
            log.warning("stopping: cancelled %d request(s) still running", len(self._pending))


def _message(line: bytes) -> types.JSONRPCMessage | types.JSONRPCError:
    """The line's message, or the error that answers it. Limits first: nothing below recurses on a deep line."""
    if isinstance(line, Cut) or json_too_deep(line, MAX_MESSAGE_DEPTH):
        why = (
            f"over {MAX_MESSAGE_BYTES} bytes"
            if isinstance(line, Cut)
            else f"nested deeper than {MAX_MESSAGE_DEPTH} levels"
        )
        request_id = leading_id(line)
        log.warning("stdin: a line %s was refused (id %r)", why, request_id)
        return _error(request_id, types.INVALID_REQUEST, f"Invalid Request: the message is {why}; send a smaller one.")
    try:
        return types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError:
        return _invalid_line_error(line)


def _invalid_line_error(line: bytes) -> types.JSONRPCMessage | types.JSONRPCError:
    try:
        parsed: object = json.loads(line)
    except ValueError:
        log.warning("stdin: a line that is not JSON was answered with a parse error (%d bytes)", len(line))
        return _error(None, types.PARSE_ERROR, "Parse error: each line must be one JSON-RPC 2.0 message in JSON.")
    try:  # pydantic's parser refuses lone surrogate escapes, which the standard one reads: the tool refuses them
        return types.jsonrpc_message_adapter.validate_python(parsed, by_name=False)
    except ValidationError:
        pass
    request_id: object = cast(dict[str, Any], parsed).get("id") if isinstance(parsed, dict) else None
    known_id = request_id if isinstance(request_id, str | int) and not isinstance(request_id, bool) else None
    log.warning("stdin: JSON that is not a JSON-RPC 2.0 message was refused (id %r)", known_id)
    return _error(
        known_id, types.INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 request, notification or response."
    )


def _encoded(message: types.JSONRPCMessage) -> bytes:
    """One line of JSON; an answer that cannot be encoded (a lone surrogate in it) becomes an error for its id."""
    try:
        return (message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode()
    except ValueError:
        request_id = message.id if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) else None
        log.warning("stdout: an answer that is not valid Unicode was replaced by an error (id %r)", request_id)
        if request_id is None:
            return b""
        failed = _error(request_id, types.INTERNAL_ERROR, "Internal error: the answer was not valid Unicode text.")
        return (failed.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode()


def _error(request_id: RequestId | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))


def _result_text(message: types.JSONRPCMessage, data: bytes) -> str | None:
    """A response's ``result`` exactly as written (the line is ``{"jsonrpc":"2.0","id":…,"result":…}``)."""
    if not isinstance(message, types.JSONRPCResponse):
        return None
    at = data.find(b',"result":')
    if at < 0 or not data.endswith(b"}\n"):
        return None
    return data[at + len(b',"result":') : -2].decode()


def _announces_tool_changes(result: str) -> bool:
    try:
        answer: Any = json.loads(result)
        return answer["capabilities"]["tools"]["listChanged"] is True
    except (ValueError, KeyError, TypeError):
        return False
