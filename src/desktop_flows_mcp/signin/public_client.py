"""A person's delegated sign-in (device_code, interactive): which account, the shared cache first, and the
sign-in itself in the background so no tool call waits for the person.

Every call, whatever is pending:

    1. the cache   a token for the chosen account (msal renews it) → return it and stop any pending sign-in:
                   another process sharing the cache, or an earlier attempt, may have signed the person in
    2. nothing     start a sign-in in the background (subclass: a device code, a browser window) and raise
                   ``SignInRequired`` at once with what the person must do
    3. pending     the same ``SignInRequired`` (the same code), until the attempt ends or its time runs out
    4. ended       its token; or its error with the AADSTS hint (the next call starts over); an expired device
                   code is replaced by a fresh one

The account is explicit: ``DATAVERSE_USERNAME`` when set, else the only account in the cache; several accounts
and no username is an error naming them. Only quick, time-limited work (the cache, one request to Entra) runs
under the provider's lock. When the server lent a presenter (prompts.py), a new prompt is also offered to the
person through the MCP client, and an accepted offer lets this call wait for the sign-in instead of failing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import anyio
import anyio.to_thread

from ..errors import (
    SignInContext,
    aadsts_codes,
    entra_error,
    no_token_for_resource,
    several_cached_accounts,
    sign_in_network_failed,
    wrong_account,
)
from .entra_http import msal_http_client
from .msal_providers import MsalTokenProvider, authority_options, msal_module
from .pending import PendingSignIn
from .prompts import SignInPrompt, SignInRequired, current_presenter

log = logging.getLogger("desktop_flows_mcp.signin")

# Entra's "the saved sign-in has ended" codes: the refresh token is dead for every resource.
_SAVED_SIGN_IN_ENDED = frozenset({70008, 700082, 70043, 50173})


class PublicClientProvider(MsalTokenProvider):
    """The account and its refresh token live in the persisted cache; subclasses start the sign-in itself."""

    def __init__(
        self,
        context: SignInContext,
        *,
        cache: Any,
        http_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        offer_wait_seconds: float = 50.0,
    ) -> None:
        super().__init__(context)
        self._cache = cache
        self._http_client = msal_http_client(http_client)
        self._clock = clock
        self._scopes = [f"{context.dataverse_url}/user_impersonation"]
        self._app: Any = None
        self._pending: PendingSignIn | None = None
        self._offered: set[str] = set()
        self._offer_wait = offer_wait_seconds  # after the person accepted an offer; under most clients' 60 s

    def _application(self) -> Any:
        if self._app is None:
            self._app = msal_module().PublicClientApplication(
                self.context.client_id,
                authority=self.context.authority,
                token_cache=self._cache,
                http_client=self._http_client,
                **authority_options(self.context),
            )
        return self._app

    @property
    def pending_prompt(self) -> SignInPrompt | None:
        """What the person is being asked to do right now, if anything."""
        pending = self._pending
        return pending.prompt if pending is not None else None

    async def token(self, *, force_refresh: bool = False) -> str:
        async def settled() -> str:
            pending = self._pending
            if pending is not None:  # a device code asks Entra now, so "I'm done" is seen at once; no lock held
                await anyio.to_thread.run_sync(pending.settle, abandon_on_cancel=True)
            return await MsalTokenProvider.token(self, force_refresh=force_refresh)

        try:
            return await self._within_budget(settled)
        except SignInRequired as needed:
            return await self._offer(needed)

    async def wait_for_sign_in(self, timeout: float) -> bool:
        """Wait, without the lock, until the pending sign-in ends; True when nothing is pending any more."""
        pending = self._pending
        if pending is None:
            return True
        return await anyio.to_thread.run_sync(pending.wait, timeout, abandon_on_cancel=True)

    async def _offer(self, needed: SignInRequired) -> str:
        """Show the prompt through the client when one was lent; else, or when declined, raise ``needed``."""
        presenter = current_presenter()
        prompt = needed.prompt
        if presenter is None or prompt.url is None:
            raise needed
        if prompt.elicitation_id in self._offered:  # once per attempt; concurrent calls get the error at once
            raise needed
        self._offered.add(prompt.elicitation_id)
        try:
            accepted = await presenter.offer(prompt)
        except Exception as exc:  # the client could not show it; the error-with-hint still can
            log.warning("could not offer the sign-in through the MCP client: %s", type(exc).__name__)
            accepted = False
        if not accepted or not await self.wait_for_sign_in(self._offer_wait):
            raise needed
        token = await MsalTokenProvider.token(self)
        try:
            await presenter.finished(prompt)
        except Exception as exc:
            log.warning("could not tell the MCP client the sign-in finished: %s", type(exc).__name__)
        return token

    # ---- under the lock, in a worker thread ------------------------------------------------------------------

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        result = self._silent(self._scopes, force_refresh)
        if result is not None and "access_token" in result:
            self._drop_pending()
            return result
        if result is not None and _SAVED_SIGN_IN_ENDED.intersection(aadsts_codes(result)):
            self._forget_account()  # else it stays beside whoever signs in next: "the cache holds 2 accounts"
        pending = self._pending
        if pending is None:
            return self._begin()
        outcome = pending.outcome()
        if outcome is None:
            raise self._required(pending)
        self._drop_pending()
        if "access_token" in outcome:
            return self._check_account(outcome)
        return self._ended(outcome)

    def _begin(self) -> dict[str, Any]:
        """Start a sign-in (``self._pending``) and raise its ``SignInRequired``."""
        self._pending = self._start()
        self._pending.start()
        raise self._required(self._pending)

    def _start(self) -> PendingSignIn:
        raise NotImplementedError

    def _required(self, pending: PendingSignIn) -> SignInRequired:
        raise NotImplementedError

    def _ended(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """The attempt ended without a token: Entra's refusal, with its hint (subclasses may start over)."""
        if outcome.get("error") == "network_error":
            raise sign_in_network_failed(self.context.authority_host, outcome.get("error_description"))
        raise entra_error(outcome, self.context)

    def _drop_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.stop()

    def _new_id(self) -> str:
        return f"dataverse-sign-in-{uuid.uuid4().hex}"

    def _silent(self, scopes: list[str], force_refresh: bool) -> dict[str, Any] | None:
        """A token from the cache or the refresh token; None (no account) or msal's error result."""
        app = self._application()
        account = self._account(app)
        if account is None:
            return None
        result = app.acquire_token_silent_with_error(scopes, account=account, force_refresh=force_refresh)
        return cast(dict[str, Any], result) if result else None

    def _account(self, app: Any) -> dict[str, Any] | None:
        accounts = cast(list[dict[str, Any]], app.get_accounts())
        wanted = self.context.username
        if wanted:
            return next((acc for acc in accounts if str(acc.get("username", "")).lower() == wanted.lower()), None)
        names = sorted({str(account.get("username", "")) for account in accounts})
        if len(names) > 1:
            raise several_cached_accounts(names)
        return accounts[0] if accounts else None

    def _check_account(self, result: dict[str, Any]) -> dict[str, Any]:
        """A finished sign-in must be the configured person; anyone else's token is not used."""
        wanted = self.context.username
        claims = cast(dict[str, Any], result.get("id_token_claims") or {})
        signed_in = str(claims.get("preferred_username") or "")
        if wanted and signed_in.lower() != wanted.lower():
            raise wrong_account(signed_in, wanted)
        return result

    async def token_for_resource(self, resource: str) -> str:
        """A token for another Dataverse-family API (the Global Discovery Service) for the same person."""
        await self.token()  # signs the person in first if needed
        scopes = [f"{resource.rstrip('/')}/user_impersonation"]

        async def silent() -> dict[str, Any]:
            async with self._lock:
                return await self._in_worker(lambda: self._call(lambda: self._silent(scopes, False) or {}))

        result = await self._within_budget(silent)
        if "access_token" in result:
            return cast(str, result["access_token"])
        if "error" in result:
            if _SAVED_SIGN_IN_ENDED.intersection(aadsts_codes(result)):

                async def forget() -> None:
                    async with self._lock:  # so the next call asks the person again, as the hint says
                        await self._in_worker(self._forget_account)

                await self._within_budget(forget)
            raise entra_error(result, self.context)
        raise no_token_for_resource(resource)

    def _forget_account(self) -> None:
        app = self._application()
        account = self._account(app)
        if account is not None:
            app.remove_account(account)

    def close(self) -> None:
        self._drop_pending()
