"""``DATAVERSE_AUTH=on_behalf_of``: each caller's Dataverse token, got from Entra ID with the caller's own token.

The HTTP server checks the caller's Entra token (the inbound auth); this provider exchanges it (the user assertion)
for a Dataverse token naming the same person, with msal's on-behalf-of grant. One msal confidential app serves the
process, per tenant its callers come from (its credential: a client secret, a certificate, or a federated token
read from a file each time).

    the caller          ``UserAssertion`` from the request's verified token (``caller``, by default the SDK's
                        ``get_access_token()``); background work started by a call carries the call's context,
                        so it acts for the caller who started it, never for whoever calls next; work for a person
                        outside their request (``call_scope.call_audit`` names them: a callback for their run)
                        uses the freshest token they sent this process, or the replicas' shared one
    a cached token      per caller, until the earlier of its own expiry and the caller's token's: a Dataverse
                        token never outlives the sign-in it was got for
    then msal           ``acquire_token_silent`` on the account ``<oid>.<tid>`` (msal's OBO always calls Entra;
                        its cache, refresh token included, is only reached this way), then
                        ``acquire_token_on_behalf_of``
    one lock a caller   a caller's concurrent calls exchange once; other callers never wait for them
    bounded             at most ``MAX_CALLERS`` callers remembered; the least recently used is forgotten, its
                        account removed from msal's cache too (about 10 KB each: ~10 MB at the cap)
    ``shared``          optional (Redis): each caller's token shared by the replicas, encrypted (``shared_tokens``)

How Entra's refusals reach the caller:

    invalid_grant with ``claims`` (Conditional Access, MFA)   the HTTP request is answered 401
                                                              ``Bearer error="insufficient_claims", claims="…"``
    AADSTS65001 (no admin consent)                            unauthenticated, naming the admin-consent step
    Entra unreachable, or the call's sign-in budget spent     dataverse_unavailable, retryable (never a 500)
    the caller's token expired (background work)              unauthenticated: call again
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import anyio
import anyio.to_thread

from ..call_scope import call_audit, claims_challenge_slot
from ..errors import (
    ENTRA_NETWORK_HINT,
    DesktopFlowsError,
    SignInContext,
    aadsts_codes,
    caller_token_expired,
    claims_challenge,
    entra_error,
    no_caller_token,
    on_behalf_of_consent_missing,
    sign_in_unreachable,
)
from .aadsts import entra_body_in
from .entra_http import current_budget, current_deadline, msal_http_client
from .msal_providers import MsalTokenProvider, msal_module

MAX_CALLERS = 1000
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
EARLY = 30.0  # seconds: a token this close to its end (or its caller's) is not handed out
OBO_MODE = "on_behalf_of"


@dataclass(frozen=True)
class UserAssertion:
    """A caller's verified token for this server: the user assertion of the exchange. Never printed."""

    token: str = field(repr=False)
    expires_at: float  # the token's ``exp``, seconds since the epoch
    tenant_id: str
    object_id: str

    @property
    def account(self) -> str:
        """msal's ``home_account_id`` for this person, and the key of every cache here."""
        return f"{self.object_id}.{self.tenant_id}"


CallerSource = Callable[[], "UserAssertion | None"]


def caller_from_sdk() -> UserAssertion | None:
    """The caller of the request in progress, from the SDK's auth context (set by its bearer-auth middleware)."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    access = get_access_token()
    claims = access.claims or {} if access is not None else {}
    tenant, person = claims.get("tid"), claims.get("oid")
    if access is None or access.expires_at is None or not isinstance(tenant, str) or not isinstance(person, str):
        return None
    return UserAssertion(access.token, float(access.expires_at), tenant.lower(), person.lower())


def acting_account() -> str | None:
    """The msal account of the person the work in progress is for (``call_scope.call_audit``, ``entra:<tid>/<oid>``):
    their tool call, or work done for them outside it (a callback for their run). None for anyone else."""
    call = call_audit.get()
    kind, _, person = call.caller.partition(":") if call is not None else ("", "", "")
    tenant, _, oid = person.partition("/")
    return f"{oid}.{tenant}" if kind == "entra" and tenant and oid else None


def federated_assertion(path: Path) -> Callable[[], str]:
    """A client assertion read from ``path`` at each use: workload identity rewrites the file before it expires."""
    return lambda: path.read_text(encoding="utf-8").strip()


class SharedTokens(Protocol):
    """Each caller's Dataverse token, shared by the replicas (``shared_tokens.RedisTokens``)."""

    async def get(self, account: str) -> tuple[str, float] | None: ...

    async def put(self, account: str, token: str, until: float) -> None: ...


@dataclass
class _Caller:
    latest: UserAssertion  # the freshest token this caller has sent: background work may outlive the one it had
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    busy: threading.Lock = field(default_factory=threading.Lock)  # msal work for this caller, even abandoned
    token: str | None = field(default=None, repr=False)
    until: float = 0.0
    forced: int = 0


class OnBehalfOfProvider(MsalTokenProvider):
    """A ``TokenProvider`` whose token is the current caller's. ``credential`` is msal's client credential."""

    def __init__(
        self,
        context: SignInContext,
        credential: str | dict[str, Any],
        *,
        caller: CallerSource = caller_from_sdk,
        http_client: Any = None,
        now: Callable[[], float] = time.time,
        max_callers: int = MAX_CALLERS,
        shared: SharedTokens | None = None,
    ) -> None:
        super().__init__(context)
        self._credential = credential
        self._caller = caller
        self._http_client = msal_http_client(http_client)
        self._now = now
        self._max_callers = max_callers
        self._shared = shared
        self._scopes = [f"{context.dataverse_url}/.default"]
        self._callers: OrderedDict[str, _Caller] = OrderedDict()
        self._apps: dict[str, Any] = {}  # tenant → msal app: one, unless a multi-tenant app serves other tenants
        self._app_lock = threading.Lock()

    async def check_credential(self) -> None:
        """The server app's own credential as Entra sees it, with no person (``doctor``): an app-only token request
        for Dataverse in the app's tenant. Raises what a refusal or an unreachable Entra raises for a caller."""

        def request() -> dict[str, Any]:
            return self._call(
                lambda: self._application(self.context.tenant or "organizations").acquire_token_for_client(
                    scopes=self._scopes
                )
            )

        async def work() -> None:
            self._access_token(await anyio.to_thread.run_sync(request, abandon_on_cancel=True))

        await self._within_budget(work)

    def share_through(self, shared: SharedTokens) -> None:
        """From now on each caller's token is also kept in ``shared`` (Redis), for the other replicas."""
        self._shared = shared

    @property
    def callers(self) -> int:
        """How many callers are remembered (bounded by ``max_callers``)."""
        return len(self._callers)

    async def token(self, *, force_refresh: bool = False) -> str:
        token = await self._token(force_refresh)
        slot = claims_challenge_slot.get()
        if slot is not None:
            slot.spent = True
        return token

    async def _token(self, force_refresh: bool) -> str:
        assertion, acting = self._caller(), acting_account()
        if assertion is not None and acting not in (None, assertion.account):
            raise no_caller_token()  # a request acts as its own caller only, never lends or borrows an identity
        if assertion is not None:
            entry = self._entry(assertion)
        elif acting is not None and acting in self._callers:  # work for a caller outside its request
            entry = self._callers[acting]
        elif acting is not None and self._shared is not None:  # one another replica served
            found = await self._shared.get(acting)
            if found is None or found[1] <= self._now() + EARLY:
                raise no_caller_token()
            return found[0]
        else:
            raise no_caller_token()
        if entry.latest.expires_at <= self._now() + EARLY:
            raise caller_token_expired()
        if not force_refresh and self._usable(entry):
            return cast(str, entry.token)
        seen = entry.forced

        async def acquire() -> str:
            nonlocal force_refresh
            async with entry.lock:
                if force_refresh and entry.forced != seen:
                    force_refresh = False  # another call of this caller refreshed while this one waited
                if not force_refresh and self._usable(entry):
                    return cast(str, entry.token)
                if not force_refresh and await self._from_shared(entry):
                    return cast(str, entry.token)
                return await self._exchange(entry, force_refresh)

        return await self._within_budget(acquire)

    def _entry(self, assertion: UserAssertion) -> _Caller:
        entry = self._callers.get(assertion.account)
        if entry is None:
            entry = self._callers[assertion.account] = _Caller(assertion)
            self._forget_beyond_cap()
        else:
            self._callers.move_to_end(assertion.account)
            if assertion.expires_at > entry.latest.expires_at:
                entry.latest = assertion
        return entry

    def _forget_beyond_cap(self) -> None:
        """The least recently used callers go, with their tokens in msal's cache; a caller mid-exchange stays."""
        idle = [key for key, entry in self._callers.items() if not entry.lock.locked()]
        for key in idle[: max(0, len(self._callers) - self._max_callers)]:
            del self._callers[key]
            for app in list(self._apps.values()):
                for account in app.get_accounts():
                    if account.get("home_account_id") == key:
                        app.remove_account(account)

    def _usable(self, entry: _Caller) -> bool:
        return entry.token is not None and entry.until > self._now() + EARLY

    async def _from_shared(self, entry: _Caller) -> bool:
        if self._shared is None:
            return False
        found = await self._shared.get(entry.latest.account)
        if found is None:
            return False
        entry.token, entry.until = found[0], min(found[1], entry.latest.expires_at)
        return self._usable(entry)

    async def _exchange(self, entry: _Caller, force_refresh: bool) -> str:
        assertion = entry.latest
        result = await anyio.to_thread.run_sync(
            self._exclusively_for, entry, assertion, force_refresh, abandon_on_cancel=True
        )
        token = self._access_token(result)
        expires_in = result.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        entry.token, entry.until = token, min(self._now() + lifetime, assertion.expires_at)
        if force_refresh:
            entry.forced += 1
        if self._shared is not None:
            await self._shared.put(assertion.account, token, entry.until)
        return token

    def _exclusively_for(self, entry: _Caller, assertion: UserAssertion, force_refresh: bool) -> dict[str, Any]:
        deadline = current_deadline()
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not entry.busy.acquire(timeout=wait):  # a thread an earlier call of this caller abandoned is in msal
            raise self._stalled(current_budget().seconds)
        try:
            return self._call(lambda: self._silent_then_exchange(assertion, force_refresh))
        finally:
            entry.busy.release()

    def _silent_then_exchange(self, assertion: UserAssertion, force_refresh: bool) -> dict[str, Any]:
        app = self._application(assertion.tenant_id)
        account = next((a for a in app.get_accounts() if a.get("home_account_id") == assertion.account), None)
        if account is not None:
            found = app.acquire_token_silent_with_error(self._scopes, account, force_refresh=force_refresh)
            if found and "access_token" in found:
                return cast(dict[str, Any], found)
        return cast(dict[str, Any], app.acquire_token_on_behalf_of(assertion.token, self._scopes))

    def _application(self, tenant: str) -> Any:
        """The msal app for a caller's tenant (Entra exchanges a token in the tenant that issued it)."""
        with self._app_lock:  # callers exchange side by side; each app is built once
            app = self._apps.get(tenant)
            if app is None:  # constructing it reads the tenant's OpenID configuration over HTTP
                msal = msal_module()
                app = self._apps[tenant] = msal.ConfidentialClientApplication(
                    self.context.client_id,
                    authority=f"{self.context.authority_host or PUBLIC_AUTHORITY}/{tenant}",
                    client_credential=self._credential,
                    token_cache=msal.TokenCache(),
                    http_client=self._http_client,
                    # The authority comes from checked settings (the callers' tokens were just verified against it),
                    # so msal's instance discovery (one more request, and a lookup of aliases) adds nothing.
                    instance_discovery=False,
                )
            return app

    def _refused_settings(self, exc: ValueError) -> DesktopFlowsError:
        """msal could not read the tenant's configuration. The caller's token was just checked against the same
        tenant's keys, so the settings are right and Entra is failing: retryable, unless Entra said why."""
        body = entra_body_in(exc)
        if body is not None:
            return entra_error(body, self.context)
        return sign_in_unreachable(self._endpoint(), type(exc).__name__, ENTRA_NETWORK_HINT)

    def _access_token(self, result: Mapping[str, Any]) -> str:
        token = result.get("access_token")
        if isinstance(token, str) and token:
            return token
        raise self._refusal(result)

    def _refusal(self, result: Mapping[str, Any]) -> DesktopFlowsError:
        codes = aadsts_codes(result)
        claims = result.get("claims")
        if result.get("error") in ("invalid_grant", "interaction_required") and isinstance(claims, str) and claims:
            slot = claims_challenge_slot.get()
            answered = slot is not None and not slot.spent
            if slot is not None and answered:
                slot.claims = claims
            return claims_challenge(status_sent=answered)
        if 65001 in codes:
            return on_behalf_of_consent_missing(self.context.client_id or "(not set)", self.context.dataverse_url)
        return entra_error(result, self.context)

    def __repr__(self) -> str:
        return f"OnBehalfOfProvider(client_id={self.context.client_id!r}, callers={len(self._callers)})"
