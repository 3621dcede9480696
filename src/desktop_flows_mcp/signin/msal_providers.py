"""One ``TokenProvider`` per msal sign-in mode.

    client_secret, certificate   ConfidentialClientProvider   app-only, scope <url>/.default
    managed_identity             ManagedIdentityProvider      app-only, resource <url>
    interactive                  InteractiveProvider          a person, system browser, scope <url>/user_impersonation
    device_code                  DeviceCodeProvider           a person, code on another device (device_code.py)

Every provider asks msal's cache first (msal renews a token that is within five minutes of expiry, or past
the ``refresh_in`` Entra suggested); ``force_refresh`` (after a 401) skips the cached access token. msal
blocks on HTTP, so each acquisition runs in a worker thread, one at a time per provider: concurrent callers
queue on the lock and then find the token in the cache, and a forced refresh that another caller already
did while we waited is not repeated. msal is imported on first use, never at start-up.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any, cast

import anyio
import anyio.to_thread

from ..errors import DesktopFlowsError, ErrorCode
from .aadsts import SignInContext, entra_error

log = logging.getLogger("desktop_flows_mcp.signin")


def msal_module() -> Any:
    """msal has no type information; it is handled as ``Any`` behind this one door."""
    return importlib.import_module("msal")


class MsalTokenProvider:
    """The shared part: one acquisition at a time, off the event loop, errors mapped for the agent."""

    def __init__(self, context: SignInContext) -> None:
        self.context = context
        self._lock = anyio.Lock()
        self._forced_refreshes = 0

    @property
    def mode(self) -> str:
        return self.context.mode

    async def token(self, *, force_refresh: bool = False) -> str:
        seen = self._forced_refreshes
        async with self._lock:
            if force_refresh and self._forced_refreshes != seen:
                force_refresh = False  # another caller refreshed while this one waited for the lock
            result = await anyio.to_thread.run_sync(self._acquire_checked, force_refresh)
            if force_refresh:
                self._forced_refreshes += 1
        return result

    def _acquire_checked(self, force_refresh: bool) -> str:
        return self._access_token(self._call(lambda: self._acquire(force_refresh)))

    def _call(self, action: Any) -> dict[str, Any]:
        """Run an msal call; network and authority failures become DesktopFlowsError."""
        try:
            return cast(dict[str, Any], action())
        except DesktopFlowsError:
            raise
        except OSError as exc:  # requests' exceptions are OSErrors
            raise self._unreachable(exc) from None
        except ValueError as exc:
            # msal's text can quote requests and responses, so it is never passed on.
            text = str(exc).lower()
            if "authority" in text or "tenant" in text:  # the tenant's OpenID configuration could not be read
                raise entra_error(
                    {"error": "invalid_tenant", "error_codes": [90002], "error_description": "Tenant not found."},
                    self.context,
                ) from None
            raise DesktopFlowsError(
                ErrorCode.UNAUTHENTICATED,
                f"msal could not use the {self.mode} sign-in settings ({type(exc).__name__}).",
                hint="Check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential variables, then restart.",
            ) from None
        except Exception as exc:  # msal's own errors (MsalServiceError on an unexpected HTTP status, ...)
            log.warning("msal failed: %s", type(exc).__name__)
            raise DesktopFlowsError(
                ErrorCode.DATAVERSE_UNAVAILABLE,
                f"Entra ID answered the {self.mode} sign-in unexpectedly ({type(exc).__name__}).",
                hint="Retry in a few seconds; if it persists, check DATAVERSE_AUTHORITY_HOST and the network proxy.",
                retryable=True,
            ) from None

    def _access_token(self, result: Mapping[str, Any]) -> str:
        token = result.get("access_token")
        if isinstance(token, str) and token:
            return token
        raise entra_error(result, self.context)

    def _unreachable(self, exc: OSError) -> DesktopFlowsError:
        return DesktopFlowsError(
            ErrorCode.DATAVERSE_UNAVAILABLE,
            f"Could not reach Entra ID at {self.context.authority_host} ({type(exc).__name__}).",
            hint="Check the network, a proxy (HTTPS_PROXY) and DATAVERSE_AUTHORITY_HOST, then retry.",
            retryable=True,
        )

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work (device code polling); tokens in memory are dropped with the object."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r}, client_id={self.context.client_id!r})"


class ConfidentialClientProvider(MsalTokenProvider):
    """client_secret and certificate: the app's own identity (a Dataverse application user)."""

    def __init__(self, context: SignInContext, credential: str | dict[str, Any], *, http_client: Any = None) -> None:
        super().__init__(context)
        self._credential = credential
        self._http_client = http_client
        self._scopes = [f"{context.dataverse_url}/.default"]
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is None:  # constructing it reads the tenant's OpenID configuration over HTTP
            extra = {"http_client": self._http_client} if self._http_client is not None else {}
            self._app = msal_module().ConfidentialClientApplication(
                self.context.client_id,
                authority=f"{self.context.authority_host}/{self.context.tenant}",
                client_credential=self._credential,
                token_cache=msal_module().TokenCache(),
                **extra,
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
        self._http_client = http_client
        self._client: Any = None

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        msal = msal_module()
        if self._http_client is None:
            self._http_client = importlib.import_module("requests").Session()
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

    def _unreachable(self, exc: OSError) -> DesktopFlowsError:
        return DesktopFlowsError(
            ErrorCode.UNAUTHENTICATED,
            f"Could not reach the managed identity endpoint ({type(exc).__name__}).",
            hint="DATAVERSE_AUTH=managed_identity works only on an Azure resource (VM, App Service, Functions, "
            "Container Apps, Arc) that has a managed identity. Enable one on the resource, or use another mode.",
        )


class PublicClientProvider(MsalTokenProvider):
    """A person's delegated sign-in; the account and its refresh token live in the persisted cache."""

    def __init__(self, context: SignInContext, *, cache: Any, http_client: Any = None) -> None:
        super().__init__(context)
        self._cache = cache
        self._http_client = http_client
        self._scopes = [f"{context.dataverse_url}/user_impersonation"]
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is None:
            extra = {"http_client": self._http_client} if self._http_client is not None else {}
            self._app = msal_module().PublicClientApplication(
                self.context.client_id,
                authority=f"{self.context.authority_host}/{self.context.tenant or 'organizations'}",
                token_cache=self._cache,
                **extra,
            )
        return self._app

    def _silent(self, scopes: list[str], force_refresh: bool) -> dict[str, Any] | None:
        """A token from the cache or the refresh token; None (no account) or msal's last error result."""
        app = self._application()
        last: dict[str, Any] | None = None
        for account in app.get_accounts():
            result = app.acquire_token_silent_with_error(scopes, account=account, force_refresh=force_refresh)
            if result and "access_token" in result:
                return cast(dict[str, Any], result)
            last = cast(dict[str, Any], result) if result else last
        return last

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        result = self._silent(self._scopes, force_refresh)
        if result is not None and "access_token" in result:
            return result
        return self._sign_in()  # no account yet, or its refresh token no longer works

    def _sign_in(self) -> dict[str, Any]:
        raise NotImplementedError

    async def token_for_resource(self, resource: str) -> str:
        """A token for another Dataverse-family API (the Global Discovery Service) for the same person."""
        await self.token()  # signs the person in first if needed
        scopes = [f"{resource.rstrip('/')}/user_impersonation"]
        async with self._lock:
            result = await anyio.to_thread.run_sync(lambda: self._call(lambda: self._silent(scopes, False) or {}))
        if "access_token" in result:
            return cast(str, result["access_token"])
        if "error" in result:
            raise entra_error(result, self.context)
        raise DesktopFlowsError(
            ErrorCode.UNAUTHENTICATED,
            f"No signed-in account could get a token for {resource}.",
            hint="Call check_access to sign in again, then retry.",
        )


class InteractiveProvider(PublicClientProvider):
    """The system browser with msal's loopback redirect (http://localhost on a free port)."""

    def __init__(
        self, context: SignInContext, *, cache: Any, http_client: Any = None, timeout_seconds: int = 300
    ) -> None:
        super().__init__(context, cache=cache, http_client=http_client)
        self._timeout_seconds = timeout_seconds

    def _sign_in(self) -> dict[str, Any]:
        def announce(**_: Any) -> None:
            log.warning("Opening the system browser to sign in to Dataverse (%s).", self.context.dataverse_url)

        result = cast(
            dict[str, Any],
            self._application().acquire_token_interactive(
                self._scopes,
                prompt="select_account",
                timeout=self._timeout_seconds,
                on_before_launching_ui=announce,
            ),
        )
        if "access_token" not in result and result.get("error") in ("timeout", "access_denied", None):
            raise DesktopFlowsError(
                ErrorCode.UNAUTHENTICATED,
                "The browser sign-in did not finish.",
                hint="A browser window opened on the machine running this server; ask the person to finish signing "
                "in there and call the tool again. Without a browser, use DATAVERSE_AUTH=device_code.",
            )
        return result
