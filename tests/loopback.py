"""Serve an ASGI app (the Streamable HTTP server) with uvicorn on a free loopback port, for end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def serving_on_loopback(app: ASGIApp) -> AsyncGenerator[str, None]:
    """Yields the base URL (``http://127.0.0.1:<port>``) once the server accepts connections; stops it after."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)  # polling a real server's start flag, not a timing assumption
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
