"""The network under the Dataverse client, built by its first request.

Building httpx's network transport loads httpcore and the certificate store (about 90 ms), which a server's
start-up need not wait for: the first request pays it once. Proxies from the environment stay httpx's own mounts,
as with a client built without a transport. A failure to build it (a bad ``SSL_CERT_FILE``) is that request's
failure, so the tool call answers it as a structured error instead of the server failing to start.
"""

from __future__ import annotations

import httpx


class NetworkOnFirstUse(httpx.AsyncBaseTransport):
    """``httpx.AsyncHTTPTransport(limits=...)``, made when the first request is sent."""

    def __init__(self, *, max_connections: int, max_keepalive_connections: int) -> None:
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
        )
        self._network: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._network is None:
            self._network = httpx.AsyncHTTPTransport(limits=self._limits)
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        if self._network is not None:
            await self._network.aclose()
