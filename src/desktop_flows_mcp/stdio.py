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

Why not the SDK's transport: it drops a bad line without a word, and reads stdin in a worker thread that
nothing can cancel, so Ctrl-C waited for the next line of input. Here a daemon thread reads stdin.

A run start in flight keeps its audit line: ``runs/starting.py`` writes it, with no await in between, as soon as
Dataverse answers; the grace period lets that answer arrive, and a start cut off before it is logged here.
While serving, fd 0 reads the null device and fd 1 goes to stderr, so stray output cannot corrupt the wire.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Generator
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO, cast

import anyio
import anyio.lowlevel
import mcp_types as types
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import MCPServer
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from .bounds import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, json_too_deep, leading_id
from .sdk_seams import lowlevel_server

GRACE_SECONDS = 1.2  # with the teardown, well inside the 2 s a supervisor gives before SIGKILL
log = logging.getLogger("desktop_flows_mcp")
audit = logging.getLogger("desktop_flows_mcp.audit")

RequestId = str | int


class _Cut(bytes):
    """The start of a line longer than ``MAX_MESSAGE_BYTES``; the rest was read and dropped."""


async def serve_stdio(
    server: MCPServer[Any],
    *,
    streams: tuple[BinaryIO, BinaryIO] | None = None,
    grace_seconds: float = GRACE_SECONDS,
    handle_signals: bool = True,
) -> None:
    """Serve ``server`` on stdin/stdout (or ``streams``: input, output) until EOF or a signal."""
    lowlevel = lowlevel_server(server)  # MCPServer has no public way to serve a pair of streams
    with _claimed_std_streams() if streams is None else _given(streams) as (wire_in, wire_out):
        to_server_send, to_server = anyio.create_memory_object_stream[SessionMessage](0)
        outgoing_send, outgoing = anyio.create_memory_object_stream[SessionMessage](0)
        lines_send, lines = anyio.create_memory_object_stream[bytes](0)
        errors_out = outgoing_send.clone()  # answers to bad lines share the server's way out, in order
        connection = _Connection(wire_out, grace_seconds)
        token = anyio.lowlevel.current_token()
        threading.Thread(target=_read_lines, args=(wire_in, lines_send, token), daemon=True).start()
        async with anyio.create_task_group() as group:
            if handle_signals:
                await group.start(connection.stop_on_signals, group.cancel_scope)
            group.start_soon(connection.write_out, outgoing)
            async with anyio.create_task_group() as serving:
                serving.start_soon(lowlevel.run, to_server, outgoing_send, lowlevel.create_initialization_options())
                async with to_server_send, errors_out:  # closing them is the server's EOF
                    await connection.read_in(lines, to_server_send, errors_out)
                    with anyio.move_on_after(grace_seconds):
                        await connection.idle()
                    connection.log_cut_short()
            connection.stop_watching_signals()


class _Connection:
    """Relays lines between the wire and the server, remembering which requests still await an answer."""

    def __init__(self, wire_out: BinaryIO, grace_seconds: float) -> None:
        self._wire_out = wire_out
        self._grace_seconds = grace_seconds
        self._pending: dict[RequestId, types.JSONRPCRequest] = {}
        self._changed = anyio.Event()
        self._reading = anyio.CancelScope()
        self._signals = anyio.CancelScope()
        self._wire_broken = False

    async def read_in(
        self,
        lines: MemoryObjectReceiveStream[bytes],
        to_server: MemoryObjectSendStream[SessionMessage],
        errors_out: MemoryObjectSendStream[SessionMessage],
    ) -> None:
        with self._reading, lines:
            async for line in lines:
                if not line.strip():
                    continue
                message = _message(line)
                if isinstance(message, types.JSONRPCError):
                    await errors_out.send(SessionMessage(message))
                    continue
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

    def _answered(self, request_id: RequestId) -> None:
        if self._pending.pop(request_id, None) is not None:
            self._changed.set()
            self._changed = anyio.Event()

    async def idle(self) -> None:
        while self._pending:
            await self._changed.wait()

    async def write_out(self, outgoing: MemoryObjectReceiveStream[SessionMessage]) -> None:
        async with outgoing:
            async for item in outgoing:
                message = item.message
                if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) and message.id is not None:
                    self._answered(message.id)
                if self._wire_broken:
                    continue  # the client has gone; keep draining so the server never blocks on a write
                data = _encoded(message)
                try:
                    await anyio.to_thread.run_sync(self._write, data, abandon_on_cancel=True)
                except (OSError, ValueError):  # a broken pipe, or the stream was closed under us
                    self._wire_broken = True

    def _write(self, data: bytes) -> None:
        self._wire_out.write(data)
        self._wire_out.flush()

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
    if isinstance(line, _Cut) or json_too_deep(line, MAX_MESSAGE_DEPTH):
        why = (
            f"over {MAX_MESSAGE_BYTES} bytes"
            if isinstance(line, _Cut)
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


def _read_lines(source: BinaryIO, lines: MemoryObjectSendStream[bytes], token: anyio.lowlevel.EventLoopToken) -> None:
    """The daemon thread: hand each line to the event loop; at EOF close the stream. Never blocks exit."""
    try:
        for line in iter(lambda: source.readline(MAX_MESSAGE_BYTES + 1), b""):
            if len(line) > MAX_MESSAGE_BYTES:
                rest = line
                while rest and not rest.endswith(b"\n"):
                    rest = source.readline(MAX_MESSAGE_BYTES + 1)
                line = _Cut(line[:256])
            anyio.from_thread.run(lines.send, line, token=token)
        anyio.from_thread.run_sync(lines.close, token=token)
    except Exception:  # the loop has ended, or the stream was closed after a signal: nothing left to deliver
        log.debug("stdin reader stopped", exc_info=True)


@contextmanager
def _given(streams: tuple[BinaryIO, BinaryIO]) -> Generator[tuple[BinaryIO, BinaryIO]]:
    yield streams


@contextmanager
def _claimed_std_streams() -> Generator[tuple[BinaryIO, BinaryIO]]:
    """Move the wire to private descriptors; fd 0 reads the null device and fd 1 writes to stderr meanwhile."""
    wire_in_fd, wire_out_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    # closefd=False: the reader thread may still block on the input when serving ends.
    wire_in = os.fdopen(wire_in_fd, "rb", closefd=False)
    wire_out = os.fdopen(wire_out_fd, "wb")
    try:
        yield cast(BinaryIO, wire_in), cast(BinaryIO, wire_out)
    finally:
        os.dup2(wire_in_fd, 0)
        os.dup2(wire_out_fd, 1)
        wire_out.close()
