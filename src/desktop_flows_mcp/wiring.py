"""Wiring: the one place that assembles what the tools run on.

settings ─► shared_state (in-process, or Redis: idempotency keys, run window, 429 pauses, cursor key, callbacks)
         ─► token provider (one factory, shared with the CLI's start-up check)
         ─► httpx.AsyncClient (pooled, BearerAuth)  ─► DataverseClient ─► FlowCatalogue, RunService, AccessService,
                                                                                MachineService, DiagnosisService,
                                                                                EstateService
         ─► the Dataverse transport: the network, a caller's (tests), or the embedded emulator (--emulator)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from . import __version__
from .config import Settings
from .errors import DesktopFlowsError, ErrorCode

if TYPE_CHECKING:
    import httpx

    from .access import AccessService
    from .auth import TokenProvider
    from .callback_endpoint import CallbackReceiver
    from .diagnosis.machines import MachineService
    from .diagnosis.service import DiagnosisService
    from .estate.service import EstateService
    from .flows import FlowCatalogue
    from .runs import RunService
    from .shared_state import SharedState

log = logging.getLogger("desktop_flows_mcp")


@dataclass
class Services:
    catalogue: FlowCatalogue
    runs: RunService
    access: AccessService | None = None
    offer_sign_in_prompts: bool = False  # a local stdio server for one person: show sign-in URLs via the client
    machines: MachineService | None = None
    diagnosis: DiagnosisService | None = None
    callbacks: CallbackReceiver | None = None  # POST /callbacks/<token>, when DESKTOP_FLOWS_PUBLIC_URL is set
    shared: SharedState | None = None  # what the replicas share (in-process without Redis)
    estate: EstateService | None = None


def token_provider_for(settings: Settings) -> TokenProvider:
    """The token provider for the configured sign-in mode; msal is imported only for the msal modes."""
    from .auth import StaticTokenProvider

    if settings.uses_emulator:
        from .emulator import EMULATOR_TOKEN

        return StaticTokenProvider(EMULATOR_TOKEN, mode="emulator")
    if settings.sign_in.mode != "access_token":
        from .signin import build_token_provider

        return build_token_provider(settings)
    if settings.sign_in.access_token is None:
        raise DesktopFlowsError(ErrorCode.UNAUTHENTICATED, "No access token is configured.")
    return StaticTokenProvider(settings.sign_in.access_token.reveal())


def with_emulator_defaults(settings: Settings) -> Settings:
    """On the emulator with no connection configured, runs go to the emulator's demo connection."""
    if not settings.uses_emulator or settings.run.connection_name:
        return settings
    from .emulator import DEMO_CONNECTION

    return replace(settings, run=replace(settings.run, connection_name=DEMO_CONNECTION))


@asynccontextmanager
async def connect(
    settings: Settings,
    *,
    dataverse_transport: httpx.AsyncBaseTransport | None = None,
    token_provider: TokenProvider | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    offer_sign_in_prompts: bool = False,
) -> AsyncGenerator[Services, None]:
    """One pooled HTTP client for the process, and the services built on it."""
    import httpx  # the HTTP stack loads when the server starts serving, not when the CLI parses flags

    from .access import build_access_service
    from .auth import BearerAuth
    from .cursors import CursorCodec
    from .dataverse.client import DataverseClient, default_timeout
    from .diagnosis.machines import MachineService
    from .diagnosis.service import DiagnosisService
    from .estate.service import EstateService
    from .flows import AllowList, FlowCatalogue
    from .runs import RunService
    from .shared_state import open_shared_state

    settings = with_emulator_defaults(settings)
    provider = token_provider or token_provider_for(settings)
    receivers: list[CallbackReceiver] = []  # filled below; the embedded emulator delivers callbacks to it
    async with (
        anyio.create_task_group() as background,
        open_shared_state(settings, clock=clock, sleep=sleep, now=now) as shared,
    ):
        if settings.uses_emulator and dataverse_transport is None:
            dataverse_transport = _embedded_emulator(background, settings.public_url, receivers)
        async with httpx.AsyncClient(
            transport=dataverse_transport,
            auth=BearerAuth(provider),
            timeout=default_timeout(),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": f"desktop-flows-mcp/{__version__}"},
            follow_redirects=False,
        ) as http:
            client = DataverseClient(
                http,
                settings.dataverse_url,
                clock=clock,
                sleep=sleep,
                run_limiter=shared.run_window,
                pauses=shared.pauses,
            )
            cursors = CursorCodec(shared.cursor_key)
            catalogue = FlowCatalogue(
                client,
                AllowList(settings.run.allowed_flows),
                cursors,
                clock=clock,
                read_only=settings.run.read_only,
            )
            callbacks, wakeups = None, None
            if settings.public_url:
                from .run_callbacks import InProcessCallbackTokens, InProcessWakeups, RunCallbacks

                tokens = shared.callback_tokens or InProcessCallbackTokens(clock)
                wakeups = shared.wakeups or InProcessWakeups()
                callbacks = RunCallbacks(settings.public_url, tokens, clock)
            runs = RunService(
                client,
                catalogue,
                settings,
                cursors,
                clock=clock,
                sleep=sleep,
                now=now,
                keys=shared.keys,
                callbacks=callbacks,
                wakeups=wakeups,
            )
            if callbacks is not None:
                from .callback_endpoint import CallbackReceiver

                receivers.append(
                    CallbackReceiver(callbacks.tokens, runs.wakeups, runs.get_run, background.start_soon, clock=clock)
                )
            access = build_access_service(settings, http, client, provider)
            machines = MachineService(client, cursors, now)
            diagnosis = DiagnosisService(
                client, catalogue, licence_check_seen=runs.licence_check_seen, now=now, clock=clock
            )
            yield Services(
                catalogue,
                runs,
                access,
                offer_sign_in_prompts,
                machines,
                diagnosis,
                receivers[0] if receivers else None,
                shared,
                EstateService(client, catalogue, now),
            )
        background.cancel_scope.cancel()


def _embedded_emulator(
    background: anyio.abc.TaskGroup, public_url: str | None, receivers: list[CallbackReceiver]
) -> httpx.AsyncBaseTransport:
    """The emulator in-process: same client code path as production, no port. Callbacks to this server's public
    URL are handed to its endpoint in-process; others are logged, not sent, so a demo never makes outbound calls."""
    import httpx

    from .emulator import Emulator

    async def deliver(request: httpx.Request) -> httpx.Response:
        if public_url and receivers and str(request.url).startswith(public_url + "/callbacks/"):
            return await httpx.ASGITransport(app=receivers[0].asgi).handle_async_request(request)
        log.warning("emulator: run finished; a real Dataverse would now POST its callback to %s", request.url)
        return httpx.Response(200)

    emulator = Emulator(callback_transport=httpx.MockTransport(deliver))
    background.start_soon(emulator.run_scheduler)
    return emulator.transport()
