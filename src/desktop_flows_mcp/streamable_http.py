"""Streamable HTTP: the MCP endpoint at ``/mcp``, health probes, a bearer token or Entra ID sign-in (``inbound``),
and DNS-rebinding protection.

``/health``, ``/health/live`` (the process answers) and ``/health/ready`` (503 while Redis, when configured, does
not answer, the last sign-in failed, or the replica drains) need no token: probes cannot sign in, and they say
nothing secret. ``/metrics`` (Prometheus text, when ``OTEL_METRICS_EXPORTER`` names prometheus) needs the token, or
with Entra sign-in a signed-in caller.
SIGTERM drains (``draining``): not ready at once, calls in flight finish, callbacks are still answered.

Sessions (the 2025 protocol era's ``Mcp-Session-Id``) are capped at ``DESKTOP_FLOWS_HTTP_MAX_SESSIONS``: beyond it a
request that would open one gets 503 until a session ends or idles out (30 minutes); open sessions are unaffected.
A 2026-07-28 request opens no session, so the cap never refuses it.

A POST body nested deeper than ``bounds.MAX_MESSAGE_DEPTH`` is answered 400 with the JSON-RPC error -32600 (and its
id when the body starts with it) before the SDK parses it; bodies over 4 MiB get the SDK's 413.

Only imported when ``--transport streamable-http`` is chosen, so stdio start-up never pays for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .bounds import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, json_too_deep, leading_id
from .call_scope import CALLER_KEY
from .config import HttpSettings, Secret
from .config.urls import is_loopback_host
from .draining import MCP_PATH, Drain, is_mcp_post, signals

if TYPE_CHECKING:
    import uvicorn

    from .app import App
    from .inbound.resource import ResourceServer

log = logging.getLogger("desktop_flows_mcp")

OPEN_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
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
    """Every request but the health probes needs ``Authorization: Bearer <DESKTOP_FLOWS_HTTP_TOKEN>``. The caller
    it lets in is named on audit lines as ``token:<first 8 hex digits of the token's SHA-256>``: which token, never
    the token."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self._app = app
        self._expected = f"Bearer {token.reveal()}".encode()
        self._caller = "token:" + hashlib.sha256(token.reveal().encode()).hexdigest()[:8]

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
            scope[CALLER_KEY] = self._caller
        await self._app(scope, receive, send)


class BoundedBodyMiddleware:
    """POST /mcp: the body read (up to the SDK's own size limit) and its nesting checked without recursing."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_mcp_post(scope):
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


def build_http_app(mcp: MCPServer[Any], app: App, http: HttpSettings, drain: Drain | None = None) -> ASGIApp:
    """``mcp`` at ``/mcp``, and the routes outside MCP: the health probes, ``/metrics``, and ``app``'s callback
    endpoint; ``drain`` gates ``/mcp`` while the server shuts down."""
    drain = drain or Drain(http.drain_seconds)
    entra = _resource_server(mcp, app)

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return JSONResponse({"status": "ok", "name": "desktop-flows-mcp", "version": __version__})

    @mcp.custom_route("/health/live", methods=["GET"])
    async def live(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return JSONResponse({"status": "live"})

    @mcp.custom_route("/health/ready", methods=["GET"])
    async def ready(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        readiness = app.readiness
        problems = {"server": "starting"} if readiness is None else {}
        if drain.draining:
            problems["draining"] = "shutting down: finishing the calls in flight"
        elif readiness is not None:
            problems.update(await readiness.problems())
        if problems:
            return JSONResponse({"status": "not_ready", "checks": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @mcp.custom_route("/metrics", methods=["GET"])
    async def metrics(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        if entra is not None and not entra.signed_in(request):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": entra.challenge("invalid_token", "Authentication required")},
            )
        registry: Any = getattr(app.telemetry, "prometheus", None)
        if registry is None:
            return JSONResponse(
                {"error": "not_found", "message": "Set OTEL_METRICS_EXPORTER=prometheus (with [otel])."}, 404
            )
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @mcp.custom_route(CALLBACKS_PREFIX + "{token}", methods=["POST"])
    async def callback(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        receiver = app.callback_receiver
        if receiver is None:
            return JSONResponse({"status": "unknown"}, status_code=404)
        response = await receiver.handle(request)
        app.telemetry.callback_received(response.status_code)
        return response

    if app.demo_tenant is not None:  # the emulator's Entra at this address: the demo's people sign in here
        for route in app.demo_tenant.entra.routes:
            mcp.custom_route(route.path, methods=sorted(route.methods or ()))(route.endpoint)

    asgi: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=_transport_security(http),
        host=http.host,
        max_sessions=http.max_sessions,  # beyond it the SDK answers 503 "Too many open sessions" and logs why
        max_request_body_size=MAX_MESSAGE_BYTES,
    )
    asgi = BoundedBodyMiddleware(asgi)
    if app.settings.entra is not None:  # on the caller's behalf, Entra may ask them to sign in again (claims_http)
        from .claims_http import ClaimsChallengeMiddleware

        asgi = ClaimsChallengeMiddleware(asgi)
    asgi = drain.gate(asgi)  # outside the body check: a draining server refuses before reading the body
    if entra is not None:
        from .inbound.resource import EntraGate

        asgi = EntraGate(asgi, entra)
    elif http.token is not None:
        asgi = BearerTokenMiddleware(asgi, http.token)
    return asgi


def _resource_server(mcp: MCPServer[Any], app: App) -> ResourceServer | None:
    """With Entra sign-in: the resource server ``build_server`` configured the SDK for (same URL, same metadata)."""
    auth = mcp.settings.auth
    if app.settings.entra is None or auth is None or auth.resource_server_url is None:
        return None
    from .inbound.resource import resource_server

    return resource_server(app.settings, str(auth.resource_server_url))


async def serve_http(
    mcp: MCPServer[Any],
    app: App,
    http: HttpSettings,
    *,
    drain: Drain | None = None,
    signal_source: Callable[[], AsyncIterator[int]] = signals,
) -> None:
    """Serve until a signal: the first drains (``draining``), a second stops at once."""
    import uvicorn

    drain = drain or Drain(http.drain_seconds)
    config = uvicorn.Config(
        build_http_app(mcp, app, http, drain),
        host=http.host,
        port=http.port,
        log_level="warning",
        timeout_graceful_shutdown=2,  # the drain has already waited for the calls that matter
    )
    server = _server_without_signal_handlers(config)

    async def on_signals() -> None:
        async for _ in signal_source():
            if drain.draining:
                log.warning("second signal: stopping now")
                server.force_exit = server.should_exit = True
                return
            drain.begin()

    async def drain_then_stop() -> None:
        await drain.begun()
        await drain.finish(lambda: app.readiness.starts if app.readiness is not None else None)
        server.should_exit = True

    async with anyio.create_task_group() as group:
        group.start_soon(on_signals)
        group.start_soon(drain_then_stop)
        await server.serve()
        group.cancel_scope.cancel()


def _server_without_signal_handlers(config: uvicorn.Config) -> uvicorn.Server:
    """uvicorn's server, minus its own signal handlers: SIGTERM drains here instead of closing the listener."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return Server(config)
