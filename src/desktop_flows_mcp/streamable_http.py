"""Streamable HTTP: the MCP endpoint at ``/mcp``, ``/health``, a bearer token and DNS-rebinding protection.

Sessions (the 2025 protocol era's ``Mcp-Session-Id``) are capped at ``DESKTOP_FLOWS_HTTP_MAX_SESSIONS``: beyond it a
request that would open one gets 503 until a session ends or idles out (30 minutes); open sessions are unaffected.
A 2026-07-28 request opens no session, so the cap never refuses it.

Only imported when ``--transport streamable-http`` is chosen, so stdio start-up never pays for it.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .config import HttpSettings, Secret
from .config.urls import is_loopback_host

if TYPE_CHECKING:
    from .app import App

MCP_PATH = "/mcp"
OPEN_PATHS = frozenset({"/health"})
CALLBACKS_PREFIX = "/callbacks/"  # Dataverse sends no bearer token; the path's own token is checked instead


def _transport_security(http: HttpSettings) -> TransportSecuritySettings:
    """Host/Origin checks against DNS rebinding; on by default for loopback, opt-in by name otherwise."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *(f"{h}:*" for h in http.allowed_hosts), *http.allowed_hosts]
    origins = [f"http://{h.split(':')[0]}:*" for h in ("127.0.0.1", "localhost", "[::1]")]
    origins += [f"{scheme}://{h}:*" for h in http.allowed_hosts for scheme in ("http", "https")]
    origins += [f"https://{h}" for h in http.allowed_hosts]
    enabled = is_loopback_host(http.host) or bool(http.allowed_hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=enabled, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerTokenMiddleware:
    """Every request but /health needs ``Authorization: Bearer <DESKTOP_FLOWS_HTTP_TOKEN>``."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self._app = app
        self._expected = f"Bearer {token.reveal()}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith(CALLBACKS_PREFIX):
            presented = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(presented, self._expected):
                body = json.dumps({"error": "unauthorized", "message": "Send Authorization: Bearer <token>."})
                response = Response(
                    body, status_code=401, media_type="application/json", headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def build_http_app(mcp: MCPServer[Any], app: App, http: HttpSettings) -> ASGIApp:
    """``mcp`` at ``/mcp``, and the routes outside MCP: ``/health``, and ``app``'s callback endpoint."""

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return JSONResponse({"status": "ok", "name": "desktop-flows-mcp", "version": __version__})

    @mcp.custom_route(CALLBACKS_PREFIX + "{token}", methods=["POST"])
    async def callback(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        receiver = app.callback_receiver
        if receiver is None:
            return JSONResponse({"status": "unknown"}, status_code=404)
        return await receiver.handle(request)

    asgi: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=_transport_security(http),
        host=http.host,
        max_sessions=http.max_sessions,  # beyond it the SDK answers 503 "Too many open sessions" and logs why
    )
    if http.token is not None:
        asgi = BearerTokenMiddleware(asgi, http.token)
    return asgi


async def serve_http(mcp: MCPServer[Any], app: App, http: HttpSettings) -> None:
    import uvicorn

    config = uvicorn.Config(build_http_app(mcp, app, http), host=http.host, port=http.port, log_level="warning")
    await uvicorn.Server(config).serve()
