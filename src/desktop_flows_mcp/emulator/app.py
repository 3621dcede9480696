"""The Emulator object and its ASGI app: authentication, fault injection, routing, the scheduler."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from . import handlers as h
from .bearer import SignedTokens
from .callbacks import CallbackDispatcher, Sleep
from .errors import NOT_AUTHENTICATED, DataverseError, error_response
from .faults import Fault, Faults
from .odata import SERVICE_PATH
from .principals import DEFAULT_TOKENS, DEMO_USER, TENANT_ID, Principal
from .routes import route
from .run_request import RunRequest, parse_run_request
from .state import Store

SCHEDULER_INTERVAL = 0.25
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LateStart:
    """A run start answered with a failure whose run Dataverse creates all the same, at ``at``."""

    at: float
    flow_id: str
    request: RunRequest
    principal: Principal


class Emulator:
    """An in-memory Dataverse environment with desktop flows. See the package docstring."""

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        tokens: Mapping[str, Principal] | None = None,
        test_api: bool = False,
        sleep: Sleep | None = None,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        base_url: str = "http://emulator.local",
        signed_tokens: SignedTokens | None = None,
    ) -> None:
        self.clock = clock or time.time
        self.signed_tokens = signed_tokens
        self.offset = 0.0
        self.tokens = dict(DEFAULT_TOKENS if tokens is None else tokens)
        self.test_api = test_api
        self.sleep: Sleep = sleep or anyio.sleep
        self.base_url = base_url.rstrip("/")
        self.faults = Faults(enabled=test_api)
        self._callback_transport = callback_transport
        self.reset()
        self.app = EmulatorApp(self)

    def reset(self) -> None:
        """Back to the seeded state: fresh tables, no faults, no clock offset, empty logs."""
        self.offset = 0.0
        # The seeded history is the first token's principal's; behind Entra, the demo user's (an administrator's),
        # so each person signed in sees only the runs they start.
        owner = DEMO_USER.user_id if self.signed_tokens is not None else ""
        if self.signed_tokens is None and self.tokens:
            owner = next(iter(self.tokens.values())).user_id
        self.store = Store(self.now(), owner)
        self.callbacks = CallbackDispatcher(self._callback_transport, self.sleep)
        self.faults.clear()
        self.request_count = 0
        self.late_starts: list[LateStart] = []

    def now(self) -> float:
        return self.clock() + self.offset

    async def start_late(self, request: Request, after: float) -> None:
        """A run start that will be answered with a failure: check it as RunDesktopFlow would, then create its
        run ``after`` seconds from now (at once for 0). Refused starts create nothing, as they would."""
        match = re.search(
            r"workflows\(([0-9a-fA-F-]{36})\)/Microsoft\.Dynamics\.CRM\.RunDesktopFlow$", request.url.path
        )
        if match is None:
            return
        try:
            principal = self.principal_for(request)
            run_request = parse_run_request(await request.body())
            if request.headers.get("MSCRM.IncludeUnpublished", "").strip().lower() != "true":
                self.store.workflow(match.group(1).lower(), include_unpublished=False)
        except DataverseError:
            return
        self.late_starts.append(LateStart(self.now() + after, match.group(1).lower(), run_request, principal))
        self.create_due_runs()

    def create_due_runs(self) -> None:
        """Create the late runs whose time has come, each as of its own time (its ``createdon``)."""
        due = sorted((late for late in self.late_starts if late.at <= self.now()), key=lambda late: late.at)
        for late in due:
            self.late_starts.remove(late)
            try:
                run = self.store.start_run(late.flow_id, late.request, late.principal, late.at)
            except DataverseError:  # throttled or gone by then: Dataverse would not create it either
                continue
            self.callbacks.watch(run)

    async def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward, then deliver the callbacks that became due."""
        if seconds < 0:
            raise ValueError("The clock only moves forward.")
        self.offset += seconds
        self.create_due_runs()
        await self.deliver_due_callbacks()

    async def deliver_due_callbacks(self) -> None:
        await self.callbacks.deliver_due(self.store.runs, self.now())

    async def run_scheduler(self, interval: float = SCHEDULER_INTERVAL) -> None:
        """Deliver callbacks as runs finish on the real clock, until cancelled."""
        while True:
            try:
                await self.deliver_due_callbacks()
            except Exception:  # the scheduler must outlive any one bad delivery
                logger.exception("Delivering desktop flow callbacks failed")
            await anyio.sleep(interval)

    def transport(self) -> httpx.ASGITransport:
        """An in-process transport for ``httpx.AsyncClient(base_url=emulator.base_url)``."""
        return httpx.ASGITransport(app=self.app)

    def principal_for(self, request: Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        if self.signed_tokens is not None and bearer:  # behind Entra: no fixed token is taken
            return self.signed_tokens.principal(bearer)
        principal = self.tokens.get(bearer) if self.signed_tokens is None else None
        if principal is None:
            base = f"{request.url.scheme}://{request.url.netloc}/"
            challenge = (
                f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT_ID}/oauth2/authorize, "
                f"resource_id={base}"
            )
            raise DataverseError(
                401,
                NOT_AUTHENTICATED,
                "The user is not authenticated. Send a valid bearer token in the Authorization header.",
                {"WWW-Authenticate": challenge},
            )
        return principal

    async def handle_discovery(self, request: Request) -> Response:
        """``/api/discovery/v2.0/Instances``, the Global Discovery Service, answered by this emulator."""
        try:
            call = h.Call(request, self.principal_for(request), self.now(), self.store, self.callbacks)
            return h.discovery_instances(call)
        except DataverseError as error:
            return error_response(error)

    async def handle_api(self, request: Request) -> Response:
        self.create_due_runs()
        try:
            principal = self.principal_for(request)
            call = h.Call(request, principal, self.now(), self.store, self.callbacks)
            handler = route(request.method, request.url.path.removeprefix(SERVICE_PATH.rstrip("/")).lstrip("/"))
            result = handler(call)
            return await result if isinstance(result, Awaitable) else result
        except DataverseError as error:
            return error_response(error)


def create_app(
    clock: Callable[[], float] | None = None,
    tokens: Mapping[str, Principal] | None = None,
    test_api: bool = False,
    sleep: Sleep | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "http://emulator.local",
) -> EmulatorApp:
    """The Starlette ASGI app of a new ``Emulator`` (``app.emulator`` reaches the Emulator)."""
    return Emulator(clock, tokens, test_api, sleep, callback_transport, base_url).app


class EmulatorApp(Starlette):
    """Starlette app whose entry point applies armed faults before any routing or middleware."""

    def __init__(self, emulator: Emulator) -> None:
        from .testapi import test_routes

        self.emulator = emulator
        routes = [
            Route(
                f"{SERVICE_PATH}{{path:path}}",
                emulator.handle_api,
                methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"],
            ),
            Route("/api/discovery/v2.0/Instances", emulator.handle_discovery, methods=["GET"]),
        ]
        if emulator.test_api:
            routes += test_routes(emulator)
        super().__init__(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncGenerator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(self.emulator.run_scheduler)
            yield
            group.cancel_scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        fault = None
        if str(scope["path"]).startswith(SERVICE_PATH):
            self.emulator.request_count += 1
            fault = self.emulator.faults.take(str(scope["method"]), str(scope["path"]))
        if fault is not None and fault.creates_run_after is not None:
            await self.emulator.start_late(Request(scope, receive), fault.creates_run_after)
        if fault is not None and fault.delay:
            await self.emulator.sleep(fault.delay)
        if fault is not None and fault.body == "drop":
            await drop_connection(send)
        elif fault is not None and fault.status is not None:
            await fault_response(fault)(scope, receive, send)
        else:
            await super().__call__(scope, receive, with_odata_version(send))


def with_odata_version(send: Send) -> Send:
    """Every response says ``OData-Version: 4.0``, as Dataverse's do."""

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"odata-version" for name, _ in headers):
                headers.append((b"odata-version", b"4.0"))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_header


def fault_response(fault: Fault) -> Response:
    content, media_type = fault.content()
    headers = {"OData-Version": "4.0"}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    return Response(content, fault.status or 500, headers, media_type=media_type)


async def drop_connection(send: Send) -> None:
    """Close the connection without answering.

    Under uvicorn (h11) the transport is aborted; in-process (``httpx.ASGITransport``) the
    exception httpx raises for a server that hung up is raised instead.
    """
    cycle: Any = getattr(send, "__self__", None)
    transport: Any = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        for _ in range(20):  # let the server notice the closed socket before it tries to answer
            if getattr(cycle, "disconnected", True):
                return
            await anyio.sleep(0)
        return
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
