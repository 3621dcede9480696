"""The stdio wire: stdin and stdout, claimed as soon as the command line is understood, before the MCP SDK is
imported.

Two threads do the blocking work, so the event loop never waits on a pipe: a daemon reader hands each line over
(and never blocks the process's exit), and a writer writes what the loop queued. Before the server runs, the
reader keeps the lines in order for it, and answers a client's opening requests from the start-up snapshot
(``handshake.py``) when it has them; ``stdio.serve_stdio`` then takes the wire with ``attach``.

While serving, fd 0 reads the null device and fd 1 goes to stderr, so stray output cannot corrupt the wire.
Nothing here imports the SDK or anyio: the reader is running while they load.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from .bounds import MAX_MESSAGE_BYTES
from .handshake import MAX_LINE, OPENING, RequestId, Snapshot

log = logging.getLogger("desktop_flows_mcp")

MAX_BACKLOG_BYTES = 8 * 1024 * 1024  # lines kept for a server still starting; the reader waits beyond this
MAX_QUEUED_BYTES = 8 * 1024 * 1024  # answers waiting for a client that does not read; the loop waits beyond this

Deliver = Callable[[bytes | None], None]  # a line for the loop, or None at the end of input; may block


class Cut(bytes):
    """The start of a line longer than ``MAX_MESSAGE_BYTES``; the rest was read and dropped."""


@dataclass(frozen=True)
class EarlyAnswer:
    """A request the snapshot answered before the server ran: the server's own answer to it is checked, then
    dropped."""

    method: str
    params: object
    result: str  # the result as written


@dataclass
class Handover:
    """What the reader kept for the server: the lines so far, in order, and which of them were answered already."""

    lines: list[bytes] = field(default_factory=list[bytes])
    answered: dict[RequestId, EarlyAnswer] = field(default_factory=dict[RequestId, EarlyAnswer])
    ended: bool = False  # stdin closed before the server ran


class StdioWire:
    """A pair of byte streams with a reader thread and a writer thread."""

    def __init__(self, wire_in: BinaryIO, wire_out: BinaryIO, snapshot: Snapshot | None = None) -> None:
        self._in = wire_in
        self._out = wire_out
        self.snapshot = snapshot
        self._lock = threading.Condition()
        self._handover = Handover()
        self._backlog_bytes = 0
        self._deliver: Deliver | None = None
        self._opened = False  # an opening request was answered early: tools/list may be too
        self._well_formed = True  # no line so far was malformed (whose error must not be overtaken)
        self._queue: queue.SimpleQueue[bytes | Callable[[], None] | None] = queue.SimpleQueue()
        self._queued = 0
        self._drained = threading.Condition()
        self.broken = False  # the client has gone: writes are dropped
        self._reader: threading.Thread | None = None
        self._writer = threading.Thread(target=self._write_all, name="stdout writer", daemon=True)

    @classmethod
    @contextmanager
    def claimed(cls, snapshot: Snapshot | None = None) -> Generator[StdioWire]:
        """The process's stdin/stdout, moved to private descriptors and read from now on."""
        wire_in_fd, wire_out_fd = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        # closefd=False: the reader thread may still block on the input when serving ends.
        wire_in = os.fdopen(wire_in_fd, "rb", closefd=False)
        wire_out = os.fdopen(wire_out_fd, "wb")
        wire = cls(cast(BinaryIO, wire_in), cast(BinaryIO, wire_out), snapshot)
        wire.start()
        try:
            yield wire
        finally:
            wire.finish(timeout=2.0)
            os.dup2(wire_in_fd, 0)
            os.dup2(wire_out_fd, 1)
            wire_out.close()

    def start(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_all, name="stdin reader", daemon=True)
            self._writer.start()
            self._reader.start()

    # -- the loop's side --------------------------------------------------------------------------------------------

    def attach(self, deliver: Deliver) -> Handover:
        """From now on each line goes to ``deliver``; returns what came before, for the server to take first."""
        self.start()
        with self._lock:
            self._deliver = deliver
            handover, self._handover = self._handover, Handover()
            self._backlog_bytes = 0
            self._lock.notify_all()
        return handover

    def write(self, data: bytes) -> bool:
        """Queue ``data`` for stdout; False when so much waits unread that the caller should ``wait_drained``."""
        if self.broken or not data:
            return True
        with self._drained:
            self._queued += len(data)
            over = self._queued > MAX_QUEUED_BYTES
        self._queue.put(data)
        return not over

    def after_writes(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the writer thread once what is queued now is written (file writes stay off the loop)."""
        self._queue.put(action)

    def wait_drained(self, timeout: float | None = None) -> bool:
        """Block until every queued byte is written (or the client has gone); False on timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: self._queued <= 0 or self.broken, timeout)

    def finish(self, timeout: float) -> None:
        """Write what is queued and run the queued actions (a snapshot's file), within ``timeout``; then the
        writer stops. It is a daemon thread, so a client that reads nothing cannot hold up the exit."""
        self.wait_drained(timeout)
        self._queue.put(None)
        if self._writer.is_alive():
            self._writer.join(timeout)

    # -- the threads ------------------------------------------------------------------------------------------------

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            if callable(item):
                try:
                    item()
                except Exception:
                    log.debug("stdout writer: a queued action failed", exc_info=True)
                continue
            try:
                if not self.broken:
                    self._out.write(item)
                    self._out.flush()
            except (OSError, ValueError):  # a broken pipe, or the stream was closed under us
                self.broken = True
            with self._drained:
                self._queued -= len(item)
                if self._queued <= 0 or self.broken:
                    self._drained.notify_all()

    def _read_all(self) -> None:
        """Hand each line on; at EOF say so. Never blocks exit (a daemon thread)."""
        try:
            for line in iter(lambda: self._in.readline(MAX_MESSAGE_BYTES + 1), b""):
                if len(line) > MAX_MESSAGE_BYTES:
                    rest = line
                    while rest and not rest.endswith(b"\n"):
                        rest = self._in.readline(MAX_MESSAGE_BYTES + 1)
                    line = Cut(line[:256])
                self._hand_on(line)
            self._hand_on(None)
        except Exception:  # the loop has ended, or the stream was closed after a signal: nothing left to deliver
            log.debug("stdin reader stopped", exc_info=True)

    def _hand_on(self, line: bytes | None) -> None:
        with self._lock:
            while self._deliver is None and self._backlog_bytes > MAX_BACKLOG_BYTES:
                self._lock.wait()
            deliver = self._deliver
            if deliver is None:
                if line is None:
                    self._handover.ended = True
                else:
                    self._handover.lines.append(line)
                    self._backlog_bytes += len(line)
                    self._well_formed = self._answer_early(line)
                return
        deliver(line)

    def _answer_early(self, line: bytes) -> bool:
        """Answer an opening request (and then tools/list) from the snapshot, if it has this very request. False
        when the line is not a JSON-RPC message: its error comes from the server, and nothing after it is answered
        here, so that error is not overtaken."""
        if self.snapshot is None or isinstance(line, Cut) or not self._well_formed:
            return False
        if len(line) > MAX_LINE:
            return True  # a long tools/call, say: the server's, and no opening request
        try:
            message: Any = json.loads(line)
        except (ValueError, RecursionError):
            return False
        if not isinstance(message, dict) or cast(dict[str, object], message).get("jsonrpc") != "2.0":
            return False
        fields = cast(dict[str, object], message)
        method, request_id, params = fields.get("method"), fields.get("id"), fields.get("params")
        if not isinstance(method, str) or not isinstance(request_id, str | int) or isinstance(request_id, bool):
            return True  # a notification, or a client's answer: nothing to answer
        if request_id in self._handover.answered or (method not in OPENING and not self._opened):
            return True  # tools/list before the session opened is the server's to answer (or to refuse)
        result = self.snapshot.answer(method, params)
        if result is None:
            return True
        self._opened = True
        self._handover.answered[request_id] = EarlyAnswer(method, params, result)
        answer = f'{{"jsonrpc":"2.0","id":{json.dumps(request_id, ensure_ascii=False)},"result":{result}}}\n'
        self.write(answer.encode(errors="surrogatepass"))
        log.info("start-up snapshot answered %s (id %.200r)", method, request_id)  # a client's id: capped
        return True
