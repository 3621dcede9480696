"""Serve the emulator over real HTTP with uvicorn (for demos and loopback tests)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import anyio
import uvicorn

from .app import Emulator


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    test_api: bool = False,
    ready: Callable[[str], None] | None = None,
    emulator: Emulator | None = None,
) -> None:
    """Serve until cancelled; ``port=0`` picks a free port; ``ready(base_url)`` runs once listening.

    Cancelling the caller's scope shuts uvicorn down gracefully (the lifespan stops the callback
    scheduler) before the cancellation propagates.
    """
    emulator = emulator or Emulator(test_api=test_api)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    display_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{display_host}:{bound_port}"
    emulator.base_url = base_url
    config = uvicorn.Config(emulator.app, lifespan="on", http="h11", log_level=logging.WARNING, access_log=False)
    server = _Server(config, lambda: ready(base_url) if ready else None)
    finished = anyio.Event()

    async def run() -> None:
        with anyio.CancelScope(shield=True):
            try:
                await server.serve(sockets=[sock])
            finally:
                sock.close()
                finished.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        try:
            await finished.wait()
        finally:
            server.should_exit = True
            with anyio.CancelScope(shield=True):
                await finished.wait()
