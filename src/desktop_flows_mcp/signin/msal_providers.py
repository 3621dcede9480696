"""One ``TokenProvider`` per msal sign-in mode.

    client_secret, certificate   ConfidentialClientProvider   app-only, scope <url>/.default
    managed_identity             ManagedIdentityProvider      app-only, resource <url>
    interactive                  InteractiveProvider          a person, system browser (interactive.py)
    device_code                  DeviceCodeProvider           a person, code on another device (device_code.py)

Every provider asks msal's cache first (msal renews a token that is within five minutes of expiry, or past
the ``refresh_in`` Entra suggested); ``force_refresh`` (after a 401) skips the cached access token. msal
blocks on HTTP, so each acquisition runs in a worker thread, one at a time per provider: concurrent callers
queue on the lock and then find the token in the cache, and a forced refresh that another caller already
did while we waited is not repeated. Every HTTP call has a time limit and all sign-in work of a tool call
shares one budget (entra_http.py): when it runs out the call ends with a retryable error and the lock is
released; a worker thread left behind still holds ``_busy``, so the next one waits for it (within its own
budget) instead of running msal beside it. msal is imported on first use, never at start-up.

How a failure reaches the agent:

    Entra's error answer (AADSTS code)         unauthenticated, the code's hint (errors.entra)
    network failure or timeout (OSError)       dataverse_unavailable, retryable
    the tool call's sign-in budget ran out      dataverse_unavailable, retryable, names the time limit
    authority that serves no configuration     unauthenticated, names the host; no AADSTS code is made up
    anything else msal raises                  dataverse_unavailable, retryable
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from ..errors import (
    ENTRA_NETWORK_HINT,
    MANAGED_IDENTITY_NETWORK_HINT,
    DesktopFlowsError,
    SignInContext,
    authority_unreadable,
    entra_error,
    managed_identity_unusable,
    msal_failed,
    settings_unusable,
    sign_in_stalled,
    sign_in_unreachable,
)
from .aadsts import entra_body_in
from .entra_http import SignInTimeLimit, current_budget, current_deadline, msal_http_client, spending

log = logging.getLogger("desktop_flows_mcp.signin")

T = TypeVar("T")


def msal_module() -> Any:
    """msal has no type information; it is handled as ``Any`` behind this one door."""
    return importlib.import_module("msal")


def authority_options(context: SignInContext) -> dict[str, Any]:
    """msal checks an authority host it does not know with Microsoft first; a configured host is taken as is."""
    return {"instance_discovery": False} if context.custom_authority else {}


class MsalTokenProvider:
    """The shared part: one acquisition at a time, off the event loop, errors mapped for the agent."""

    def __init__(self, context: SignInContext) -> None:
        self.context = context
        self._lock = anyio.Lock()
        self._busy = threading.Lock()  # held by the worker thread running msal, even one a timed-out call left
        self._forced_refreshes = 0

    @property
    def mode(self) -> str:
        return self.context.mode

    async def token(self, *, force_refresh: bool = False) -> str:
        seen = self._forced_refreshes

        async def acquire() -> str:
            nonlocal force_refresh
            async with self._lock:
                if force_refresh and self._forced_refreshes != seen:
                    force_refresh = False  # another caller refreshed while this one waited for the lock
                result = await self._in_worker(self._acquire_checked, force_refresh)
                if force_refresh:
                    self._forced_refreshes += 1
            return result

        return await self._within_budget(acquire)

    async def _within_budget(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work`` charged to the tool call's sign-in budget; running out of it is a retryable error."""
        budget = current_budget()
        try:
            with spending(budget) as seconds, anyio.move_on_after(seconds):
                return await work()
        except SignInTimeLimit:
            pass
        raise self._stalled(budget.seconds)

    async def _in_worker(self, work: Callable[..., T], *args: Any) -> T:
        """Blocking msal work in a worker thread the call abandons (it ends at its own time limits) on timeout."""
        return await anyio.to_thread.run_sync(self._exclusively, work, *args, abandon_on_cancel=True)

    def _exclusively(self, work: Callable[..., T], *args: Any) -> T:
        deadline = current_deadline()
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._busy.acquire(timeout=wait):  # a thread an earlier call abandoned is still in msal
            raise self._stalled(current_budget().seconds)
        try:
            return work(*args)
        finally:
            self._busy.release()

    def _acquire_checked(self, force_refresh: bool) -> str:
        return self._access_token(self._call(lambda: self._acquire(force_refresh)))

    def _call(self, action: Callable[[], Any]) -> dict[str, Any]:
        """Run an msal call; network and authority failures become DesktopFlowsError."""
        try:
            return cast(dict[str, Any], action())
        except DesktopFlowsError:
            raise
        except OSError as exc:  # requests' exceptions, timeouts included, are OSErrors
            raise self._unreachable(exc) from None
        except ValueError as exc:
            raise self._refused_settings(exc) from None
        except Exception as exc:  # msal's own errors (MsalServiceError on an unexpected HTTP status, ...)
            log.warning("msal failed: %s", type(exc).__name__)
            raise msal_failed(self.mode, type(exc).__name__) from None

    def _refused_settings(self, exc: ValueError) -> DesktopFlowsError:
        """msal raises ValueError when the authority or a setting is unusable; its text is never passed on."""
        body = entra_body_in(exc)
        if body is not None:  # Entra answered with its own error (an unknown tenant: AADSTS90002)
            return entra_error(body, self.context)
        text = str(exc).lower()
        if "authority" in text or "oidc" in text or "openid" in text:
            host = self.context.authority_host or "Entra ID"
            hint = (
                f"DATAVERSE_AUTHORITY_HOST ({host}) does not look like an Entra ID sign-in host: it must serve "
                f"{self.context.authority}/v2.0/.well-known/openid-configuration. Fix or unset it, check "
                "DATAVERSE_TENANT_ID, then restart."
                if self.context.custom_authority
                else "Check DATAVERSE_TENANT_ID (the 'Directory (tenant) ID' GUID or the primary domain), then restart."
            )
            return authority_unreadable(self.context.authority, hint)
        return settings_unusable(self.mode, type(exc).__name__)

    def _access_token(self, result: Mapping[str, Any]) -> str:
        token = result.get("access_token")
        if isinstance(token, str) and token:
            return token
        raise entra_error(result, self.context)

    def _unreachable(self, exc: OSError) -> DesktopFlowsError:
        if isinstance(exc, SignInTimeLimit):
            return self._stalled(current_budget().seconds)
        return sign_in_unreachable(self._endpoint(), type(exc).__name__, self._network_hint)

    def _endpoint(self) -> str:
        return f"Entra ID at {self.context.authority_host}"

    _network_hint = ENTRA_NETWORK_HINT

    def _stalled(self, seconds: float) -> DesktopFlowsError:
        return sign_in_stalled(self._endpoint(), seconds, self._network_hint)

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work (a pending sign-in); tokens in memory are dropped with the object."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r}, client_id={self.context.client_id!r})"


class ConfidentialClientProvider(MsalTokenProvider):
    """client_secret and certificate: the app's own identity (a Dataverse application user)."""

    def __init__(self, context: SignInContext, credential: str | dict[str, Any], *, http_client: Any = None) -> None:
        super().__init__(context)
        self._credential = credential
        self._http_client = msal_http_client(http_client)
        self._scopes = [f"{context.dataverse_url}/.default"]
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is None:  # constructing it reads the tenant's OpenID configuration over HTTP
            self._app = msal_module().ConfidentialClientApplication(
                self.context.client_id,
                authority=self.context.authority,
                client_credential=self._credential,
                token_cache=msal_module().TokenCache(),
                http_client=self._http_client,
                **authority_options(self.context),
            )
        return self._app

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        app = self._application()
        if force_refresh:
            app.remove_tokens_for_client()  # acquire_token_for_client has no force_refresh
        return cast(dict[str, Any], app.acquire_token_for_client(scopes=self._scopes))


class ManagedIdentityProvider(MsalTokenProvider):
    """The Azure resource's own identity: system-assigned, or user-assigned by client id."""

    def __init__(self, context: SignInContext, *, identity_client_id: str | None, http_client: Any = None) -> None:
        super().__init__(context)
        self._identity_client_id = identity_client_id
        self._given_http_client = http_client
        self._http_client: Any = None
        self._client: Any = None

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        msal = msal_module()
        if self._http_client is None:
            self._http_client = msal_http_client(self._given_http_client)
        if self._client is None or force_refresh:  # a fresh cache is the only way to skip a cached token
            identity = (
                msal.UserAssignedManagedIdentity(client_id=self._identity_client_id)
                if self._identity_client_id
                else msal.SystemAssignedManagedIdentity()
            )
            self._client = msal.ManagedIdentityClient(
                identity, http_client=self._http_client, token_cache=msal.TokenCache()
            )
        return cast(dict[str, Any], self._client.acquire_token_for_client(resource=self.context.dataverse_url))

    def _endpoint(self) -> str:
        return "the managed identity endpoint"

    _network_hint = MANAGED_IDENTITY_NETWORK_HINT

    def _refused_settings(self, exc: ValueError) -> DesktopFlowsError:
        """This mode has no tenant or app settings: a ValueError is the endpoint's answer, or msal's own check."""
        # JSONDecodeError: something that is not Azure's token service answered
        return managed_identity_unusable(type(exc).__name__, not_a_token=isinstance(exc, json.JSONDecodeError))
