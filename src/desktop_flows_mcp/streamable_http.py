"""Streamable HTTP: the MCP endpoint at ``/mcp``, ``/health``, a bearer token and DNS-rebinding protection.

Sessions (the 2025 protocol era's ``Mcp-Session-Id``) are capped at ``DESKTOP_FLOWS_HTTP_MAX_SESSIONS``: beyond it a
request that would open one gets 503 until a session ends or idles out (30 minutes); open sessions are unaffected.
A 2026-07-28 request opens no session, so the cap never refuses it.

A POST body nested deeper than ``bounds.MAX_MESSAGE_DEPTH`` is answered 400 with the JSON-RPC error -32600 (and its
id when the body starts with it) before the SDK parses it; bodies over 4 MiB get the SDK's 413.

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .bounds import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, json_too_deep, leading_id
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


_UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "Missing or wrong bearer token. Send the header 'Authorization: Bearer <DESKTOP_FLOWS_HTTP_TOKEN>' "
    "with the token this server was started with (ask its operator).",
}


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
                body = json.dumps(_UNAUTHORIZED)
                response = Response(
                    body, status_code=401, media_type="application/json", headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class BoundedBodyMiddleware:
    """POST /mcp: the body read (up to the SDK's own size limit) and its nesting checked without recursing."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != MCP_PATH:
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= MAX_MESSAGE_BYTES:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the SDK see it
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not more and json_too_deep(body, MAX_MESSAGE_DEPTH):
            error = {"code": -32600, "message": f"Invalid Request: nested deeper than {MAX_MESSAGE_DEPTH} levels."}
            answer = JSONResponse({"jsonrpc": "2.0", "id": leading_id(body), "error": error}, status_code=400)
            await answer(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}

        await self._app(scope, replay, send)


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
        max_request_body_size=MAX_MESSAGE_BYTES,
    )
    asgi = BoundedBodyMiddleware(asgi)
    if http.token is not None:
        asgi = BearerTokenMiddleware(asgi, http.token)
    return asgi


async def serve_http(mcp: MCPServer[Any], app: App, http: HttpSettings) -> None:
    import uvicorn

    config = uvicorn.Config(build_http_app(mcp, app, http), host=http.host, port=http.port, log_level="warning")
    await uvicorn.Server(config).serve()
