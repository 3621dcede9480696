"""Graceful drain of the HTTP server: what SIGTERM starts, so a rolling update loses no call and no run.

| moment                       | what happens                                                                   |
|------------------------------|--------------------------------------------------------------------------------|
| SIGTERM (or SIGINT)          | ``/health/ready`` answers 503 at once; a new MCP request gets 503 + Retry-After |
|                              | (the load balancer sends it to another replica); callbacks and health go on    |
| calls in flight              | get up to ``DESKTOP_FLOWS_DRAIN_SECONDS`` (default 20) to answer               |
| that deadline                | no new run start is sent; one already sent is waited for until Dataverse       |
|                              | answers (its audit line is written), then the server stops                     |
| a second signal              | stop at once                                                                   |

Only imported with ``--transport streamable-http``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .readiness import StartsInFlight

log = logging.getLogger("desktop_flows_mcp")

MCP_PATH = "/mcp"


def is_mcp_post(scope: Scope) -> bool:
    """An HTTP POST to the MCP endpoint (a JSON-RPC message), as the middlewares around it tell it."""
    return scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path") == MCP_PATH


class Drain:
    """The drain's state, and an ASGI gate that counts MCP requests in flight and refuses new ones while draining."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False
        self._begun = anyio.Event()
        self._in_flight = 0
        self._idle = anyio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self, reason: str = "SIGTERM") -> None:
        if self.draining:
            return
        self.draining = True
        self._begun.set()
        log.warning(
            "%s: draining; %d MCP request(s) in flight get up to %.0f s to finish",
            reason,
            self._in_flight,
            self.grace_seconds,
        )

    async def begun(self) -> None:
        await self._begun.wait()

    async def finish(self, starts: Callable[[], StartsInFlight | None]) -> None:
        """Wait for the calls in flight (up to the grace period), then for any run start already sent."""
        with anyio.move_on_after(self.grace_seconds):
            await self._idle.wait()
        in_flight = starts()
        if in_flight is not None:
            in_flight.close()
            if in_flight.count:
                log.warning("drain: waiting for %d run start(s) sent to Dataverse to be answered", in_flight.count)
            await in_flight.none_left()
        if self._in_flight:
            log.warning("drain: stopping with %d MCP request(s) still in flight; they are cut", self._in_flight)

    def gate(self, app: ASGIApp) -> ASGIApp:
        async def gated(scope: Scope, receive: Receive, send: Send) -> None:
            if not is_mcp_post(scope):
                await app(scope, receive, send)
                return
            if self.draining:
                await _refuse(send)
                return
            self._in_flight += 1
            if self._in_flight == 1:
                self._idle = anyio.Event()
            try:
                await app(scope, receive, send)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()

        return gated


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {"error": "draining", "message": "This replica is shutting down; send the request again (another replica)."}
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def signals() -> AsyncIterator[int]:
    """SIGTERM and SIGINT as they come (none on Windows, where the loop cannot take signals)."""
    import signal

    try:
        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
    except NotImplementedError:  # pragma: no cover - Windows
        await anyio.sleep_forever()
        return
    with receiver as numbers:
        async for number in numbers:
            yield number
