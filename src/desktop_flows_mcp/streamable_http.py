"""Streamable HTTP: the MCP endpoint at ``/mcp``, ``/health``, a bearer token and DNS-rebinding protection.

Sessions (the 2025 protocol era's ``Mcp-Session-Id``) are capped at ``DESKTOP_FLOWS_HTTP_MAX_SESSIONS``: beyond it a
request that would open one gets 503 until a session ends or idles out (30 minutes); open sessions are unaffected.
A 2026-07-28 request opens no session, so the cap never refuses it.

Only imported when ``--transport streamable-http`` is chosen, so stdio start-up never pays for it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .config import ConfigError, EnvReader, Secret, is_loopback_host

MCP_PATH = "/mcp"
OPEN_PATHS = frozenset({"/health"})
CALLBACKS_PREFIX = "/callbacks/"  # Dataverse sends no bearer token; the path's own token is checked instead
DEFAULT_MAX_SESSIONS = 100


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: Secret | None = None
    allowed_hosts: tuple[str, ...] = ()
    max_sessions: int = DEFAULT_MAX_SESSIONS

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, str | bool | None] | None = None) -> HttpSettings:
        values = EnvReader(env, overrides or {})
        host = values.get("DESKTOP_FLOWS_HOST") or "127.0.0.1"
        port = int(values.number("DESKTOP_FLOWS_PORT", 8000, low=0, high=65535))
        max_sessions = values.number("DESKTOP_FLOWS_HTTP_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, low=1, high=100_000)
        if max_sessions != int(max_sessions):
            raise ConfigError("DESKTOP_FLOWS_HTTP_MAX_SESSIONS", "must be a whole number.", str(DEFAULT_MAX_SESSIONS))
        token = values.get("DESKTOP_FLOWS_HTTP_TOKEN")
        if token is not None and len(token) < 16:
            raise ConfigError("DESKTOP_FLOWS_HTTP_TOKEN", "must be at least 16 characters.", "$(openssl rand -hex 32)")
        if token is None and not is_loopback_host(host):
            raise ConfigError(
                "DESKTOP_FLOWS_HTTP_TOKEN",
                f"is required to listen on {host}, a non-loopback address: without it anyone who can reach the "
                "port could run desktop flows.",
                "$(openssl rand -hex 32)",
            )
        return cls(
            host=host,
            port=port,
            token=Secret(token) if token else None,
            allowed_hosts=values.csv("DESKTOP_FLOWS_HTTP_ALLOWED_HOSTS"),
            max_sessions=int(max_sessions),
        )

    def transport_security(self) -> TransportSecuritySettings:
        """Host/Origin checks against DNS rebinding; on by default for loopback, opt-in by name otherwise."""
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *(f"{h}:*" for h in self.allowed_hosts), *self.allowed_hosts]
        origins = [f"http://{h.split(':')[0]}:*" for h in ("127.0.0.1", "localhost", "[::1]")]
        origins += [f"{scheme}://{h}:*" for h in self.allowed_hosts for scheme in ("http", "https")]
        origins += [f"https://{h}" for h in self.allowed_hosts]
        enabled = is_loopback_host(self.host) or bool(self.allowed_hosts)
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


def build_http_app(mcp: MCPServer[Any], http: HttpSettings) -> ASGIApp:
    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return JSONResponse({"status": "ok", "name": "desktop-flows-mcp", "version": __version__})

    @mcp.custom_route(CALLBACKS_PREFIX + "{token}", methods=["POST"])
    async def callback(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        from .server import live_services

        services = live_services(mcp)
        if services is None or services.callbacks is None:
            return JSONResponse({"status": "unknown"}, status_code=404)
        return await services.callbacks.handle(request)

    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=http.transport_security(),
        host=http.host,
        max_sessions=http.max_sessions,  # beyond it the SDK answers 503 "Too many open sessions" and logs why
    )
    if http.token is not None:
        app = BearerTokenMiddleware(app, http.token)
    return app


async def serve_http(mcp: MCPServer[Any], http: HttpSettings) -> None:
    import uvicorn

    config = uvicorn.Config(build_http_app(mcp, http), host=http.host, port=http.port, log_level="warning")
    await uvicorn.Server(config).serve()
