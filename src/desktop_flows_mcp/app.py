"""The composition root: one ``App`` per server, built from the settings and one ``Clock`` before the MCP server.

The app owns what the tools run on, and its lifetime: ``async with app.running()`` opens it, the SDK's lifespan
only hands its ``Services`` out, and every other entry point (the callback route, task pacing, the per-flow
tools) is given the app when it is built, so none of them looks it up.

settings ─► shared_state (key file, in-process, or Redis: idempotency keys, run window, 429 pauses, cursor key, …)
         ─► token provider (one factory, shared with the CLI's start-up check)
         ─► httpx.AsyncClient (pooled, BearerAuth)  ─► DataverseClient ─► FlowCatalogue, RunService, AccessService,
                                                                                MachineService, DiagnosisService,
                                                                                EstateService
         ─► the Dataverse transport: the network, a caller's (tests), or the embedded emulator (--emulator)
clock    ─► one ``Clock`` (``clock.py``: ``now``, ``monotonic``, ``sleep``) handed whole to every service below
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from . import __version__
from .clock import SYSTEM_CLOCK, Clock
from .config import Settings
from .errors import no_access_token
from .readiness import Readiness
from .telemetry import NO_TELEMETRY, Telemetry

if TYPE_CHECKING:
    import httpx

    from .access import AccessService
    from .approval import ApprovalGate, ApprovalStore
    from .auth import TokenProvider
    from .callback_endpoint import CallbackReceiver
    from .cursors import CursorCodec
    from .diagnosis.machines import MachineService
    from .diagnosis.service import DiagnosisService
    from .estate.service import EstateService
    from .flows import FlowCatalogue
    from .runs import RunService
    from .shared_state import SharedState

log = logging.getLogger("desktop_flows_mcp")


@dataclass(frozen=True, kw_only=True)
class Services:
    """What the tools run on while the app runs."""

    catalogue: FlowCatalogue
    runs: RunService
    access: AccessService
    machines: MachineService
    diagnosis: DiagnosisService
    estate: EstateService
    shared: SharedState  # what the replicas share (in-process without Redis)
    callbacks: CallbackReceiver | None  # POST /callbacks/<token>: only when DESKTOP_FLOWS_PUBLIC_URL is set
    offer_sign_in_prompts: bool  # a local stdio server for one person: show sign-in URLs via the client
    telemetry: Telemetry  # traces and metrics (telemetry/): a no-op unless OpenTelemetry is on
    readiness: Readiness  # /health/ready and the graceful drain
    cursors: CursorCodec  # signs cursors, and the task ids of people signed in on their own (tasks/)


def token_provider_for(
    settings: Settings, *, entra_transport: httpx.AsyncBaseTransport | None = None, clock: Clock = SYSTEM_CLOCK
) -> TokenProvider:
    """The token provider for the configured sign-in mode; msal is imported only for the msal modes. With Entra
    sign-in each caller's token is exchanged for theirs (``entra_transport``: an Entra in this process; on the
    emulator only then, since the emulator's Dataverse takes only its own Entra's tokens)."""
    from .auth import StaticTokenProvider

    if settings.entra is not None and (settings.sign_in.mode == "on_behalf_of" or entra_transport is not None):
        return _on_behalf_of(settings, entra_transport, clock)
    if settings.uses_emulator:
        from .emulator import EMULATOR_TOKEN

        return StaticTokenProvider(EMULATOR_TOKEN, mode="emulator")
    if settings.sign_in.mode != "access_token":
        from .signin import build_token_provider

        return build_token_provider(settings)
    if settings.sign_in.access_token is None:
        raise no_access_token()
    return StaticTokenProvider(settings.sign_in.access_token.reveal())


def _on_behalf_of(settings: Settings, entra_transport: httpx.AsyncBaseTransport | None, clock: Clock) -> TokenProvider:
    from .signin import build_on_behalf_of

    http_client, credential = None, None
    if entra_transport is not None:
        from .signin.entra_http import InProcessEntra

        http_client = InProcessEntra(entra_transport)
    if settings.uses_emulator:
        from .emulator.obo_grant import EMULATOR_CLIENT_SECRET

        credential = EMULATOR_CLIENT_SECRET  # the emulator's demo registration needs no configured credential
    return build_on_behalf_of(
        settings, credential=credential, http_client=http_client, now=lambda: clock.now().timestamp()
    )


def _share_callers_tokens(provider: TokenProvider, shared: SharedState, settings: Settings) -> None:
    """With Redis, the replicas share each caller's Dataverse token when a key to encrypt them is configured."""
    if provider.mode != "on_behalf_of" or settings.shared.redis_url is None:
        return
    from .signin.on_behalf_of import OnBehalfOfProvider

    if shared.obo_tokens is not None and isinstance(provider, OnBehalfOfProvider):
        provider.share_through(shared.obo_tokens)
    elif shared.obo_tokens is None:
        log.warning(
            "each replica exchanges callers' tokens for itself: set DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY (32+ "
            "characters, the same on every replica) to share them through Redis, encrypted"
        )


def approval_gate(settings: Settings, store: ApprovalStore | None, clock: Clock) -> ApprovalGate | None:
    """DESKTOP_FLOWS_APPROVAL's gate, with the replicas' token store (Redis) or this process's; None when nothing
    needs approval (or nothing can run: read-only)."""
    policy = settings.run.approval
    if not policy.configured or settings.run.read_only:
        return None
    from .approval import ApprovalGate, InProcessApprovals

    return ApprovalGate(policy, store or InProcessApprovals(clock))


def with_emulator_defaults(settings: Settings) -> Settings:
    """On the emulator with no connection configured, runs go to the emulator's demo connection."""
    if not settings.uses_emulator or settings.run.connection_name:
        return settings
    from .emulator import DEMO_CONNECTION

    return replace(settings, run=replace(settings.run, connection_name=DEMO_CONNECTION))


class App:
    """One server's services and background tasks, from ``settings`` and ``clock``. ``dataverse_transport``
    replaces the network (the emulator, tests); ``token_provider`` one built ahead (the CLI's start-up check);
    ``telemetry`` receives traces and metrics (``telemetry/``; a no-op by default)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        dataverse_transport: httpx.AsyncBaseTransport | None = None,
        token_provider: TokenProvider | None = None,
        offer_sign_in_prompts: bool = False,
        telemetry: Telemetry = NO_TELEMETRY,
        entra_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.entra_transport = entra_transport  # replaces the network to Entra ID (tests, the emulator's Entra)
        self.demo_tenant = None  # --emulator --http-auth entra: the emulator's Entra, in this process
        if settings.uses_emulator and settings.entra is not None and entra_transport is None:
            from .emulator.demo_tenant import DemoTenant

            self.demo_tenant = DemoTenant.create(settings.entra.client_id, settings.entra.app_id_uri)
            self.entra_transport = self.demo_tenant.entra.transport()
        self.telemetry = telemetry
        self.clock = clock
        self.offer_sign_in_prompts = offer_sign_in_prompts
        self._dataverse_transport = dataverse_transport
        self._token_provider = token_provider
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("The app is not running: serve it, or open it with `async with app.running()`.")
        return self._services

    @property
    def callback_receiver(self) -> CallbackReceiver | None:
        """The endpoint for Dataverse's run callbacks: only while the app runs, and only with a public URL."""
        return self._services.callbacks if self._services is not None else None

    @property
    def readiness(self) -> Readiness | None:
        """What ``/health/ready`` checks: only while the app runs."""
        return self._services.readiness if self._services is not None else None

    async def wait_for_change(self, run_id: str, seconds: float) -> None:
        """Task pacing: ``seconds``, cut short by a verified Dataverse callback for the run."""
        await self.services.runs.wait_for_change(run_id, seconds)

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Services, None]:
        """One pooled HTTP client for the process, the services built on it, and their background tasks."""
        import httpx  # the HTTP stack loads when the server starts serving, not when the CLI parses flags

        from .access import build_access_service
        from .auth import BearerAuth
        from .cursors import CursorCodec
        from .dataverse.client import DataverseClient, default_timeout
        from .dataverse.network import NetworkOnFirstUse
        from .diagnosis.machines import MachineService
        from .diagnosis.service import DiagnosisService
        from .estate.service import EstateService
        from .flows import AllowList, FlowCatalogue
        from .readiness import SignInWatch
        from .runs import RunService
        from .shared_state import open_shared_state

        settings, clock = with_emulator_defaults(self.settings), self.clock
        provider = self._token_provider or token_provider_for(
            settings, entra_transport=self.entra_transport, clock=clock
        )
        telemetry = self.telemetry
        sign_in = SignInWatch(provider, telemetry)
        transport = self._dataverse_transport
        async with (
            anyio.create_task_group() as background,
            open_shared_state(settings, clock=clock, telemetry=telemetry) as shared,
        ):
            _share_callers_tokens(provider, shared, settings)
            if settings.uses_emulator and transport is None:
                transport = self._embedded_emulator(background, settings.public_url)
            async with httpx.AsyncClient(
                transport=transport or NetworkOnFirstUse(max_connections=20, max_keepalive_connections=10),
                auth=BearerAuth(sign_in),
                timeout=default_timeout(),
                headers={"User-Agent": f"desktop-flows-mcp/{__version__}"},
                follow_redirects=False,
            ) as http:
                client = DataverseClient(
                    http,
                    settings.dataverse_url,
                    clock=clock,
                    run_limiter=shared.run_window,
                    pauses=shared.pauses,
                    telemetry=telemetry,
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
                    keys=shared.keys,
                    callbacks=callbacks,
                    wakeups=wakeups,
                    shared_reads=shared.read_budget,
                    approvals=approval_gate(settings, shared.approvals, clock),
                )
                receiver = None
                if callbacks is not None:
                    from .callback_endpoint import CallbackReceiver

                    receiver = CallbackReceiver(
                        callbacks.tokens, runs.wakeups, runs.get_run, background.start_soon, clock=clock
                    )
                self._services = Services(
                    catalogue=catalogue,
                    runs=runs,
                    access=build_access_service(settings, http, client, provider),
                    machines=MachineService(client, cursors, clock),
                    diagnosis=DiagnosisService(
                        client, catalogue, licence_check_seen=runs.licence_check_seen, clock=clock
                    ),
                    estate=EstateService(client, catalogue, clock),
                    shared=shared,
                    callbacks=receiver,
                    offer_sign_in_prompts=self.offer_sign_in_prompts,
                    telemetry=telemetry,
                    readiness=Readiness(sign_in, shared.probe, client.starts),
                    cursors=cursors,
                )
                try:
                    yield self._services
                finally:
                    self._services = None
            background.cancel_scope.cancel()

    def _embedded_emulator(self, background: anyio.abc.TaskGroup, public_url: str | None) -> httpx.AsyncBaseTransport:
        """The emulator in-process: same client code path as production, no port. Callbacks to this server's public
        URL are handed to its endpoint in-process; others are logged, not sent, so a demo never makes outbound
        calls."""
        import httpx

        from .emulator import Emulator

        async def deliver(request: httpx.Request) -> httpx.Response:
            receiver = self.callback_receiver
            if public_url and receiver and str(request.url).startswith(public_url + "/callbacks/"):
                return await httpx.ASGITransport(app=receiver.asgi).handle_async_request(request)
            log.warning("emulator: run finished; a real Dataverse would now POST its callback to %s", request.url)
            return httpx.Response(200)

        signed = self.demo_tenant.signed_tokens if self.demo_tenant is not None else None
        emulator = Emulator(callback_transport=httpx.MockTransport(deliver), signed_tokens=signed)
        background.start_soon(emulator.run_scheduler)
        return emulator.transport()
