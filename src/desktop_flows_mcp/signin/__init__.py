"""Sign-in to Dataverse with msal: one ``TokenProvider`` (see ``auth.py``) per ``DATAVERSE_AUTH`` mode.

``build_token_provider`` runs once at start-up. It checks what can be checked without the network (the
certificate file, the token cache directory) so a wrong setting stops the server with a message naming the
variable, and leaves every network call (and the msal import) to the first tool call that needs a token.

    clouds.py          Dataverse host → Entra authority host and Global Discovery URL
    certificates.py    PEM/PFX → msal client credential, validated at start-up
    token_cache.py     the persisted, encrypted user token cache for the person-facing modes
    entra_http.py      the time-limited HTTP client every msal call goes through
    msal_providers.py  the app providers: confidential client, managed identity
    on_behalf_of.py    each HTTP caller's own token, exchanged for theirs (DESKTOP_FLOWS_HTTP_AUTH=entra)
    public_client.py   a person's sign-in: the account, the cache first, the sign-in in the background
    device_code.py     device-code sign-in that surfaces the code through tool results
    interactive.py     the system browser, in the background
    pending.py         a sign-in the person is doing elsewhere, run by a thread
    prompts.py         what the person must do, and the seam to show it through the MCP client
    aadsts.py          Entra's JSON error quoted in an msal exception (worded by errors.entra)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..config.sign_in import SAMPLE_PUBLIC_CLIENT_ID
from ..errors import SignInContext
from .clouds import cloud_for
from .prompts import SignInPresenter, SignInPrompt, SignInRequired, presenting_sign_in_through

if TYPE_CHECKING:
    from ..auth import TokenProvider
    from ..config import Settings
    from .token_cache import OpenedCache

log = logging.getLogger("desktop_flows_mcp.signin")

__all__ = [
    "DelegatedTokenProvider",
    "SignInPresenter",
    "SignInPrompt",
    "SignInRequired",
    "build_on_behalf_of",
    "build_token_provider",
    "presenting_sign_in_through",
    "sign_in_context",
]

DELEGATED_MODES = ("device_code", "interactive")
APP_ONLY_MODES = ("client_secret", "certificate", "managed_identity")


@runtime_checkable
class DelegatedTokenProvider(Protocol):
    """A provider signed in as a person, which can also get tokens for the Global Discovery Service."""

    @property
    def mode(self) -> str: ...

    async def token(self, *, force_refresh: bool = False) -> str: ...

    async def token_for_resource(self, resource: str) -> str: ...


def sign_in_context(settings: Settings) -> SignInContext:
    sign_in = settings.sign_in
    cloud = cloud_for(settings.dataverse_url, sign_in.authority_host)
    return SignInContext(
        mode=sign_in.mode,
        dataverse_url=settings.dataverse_url,
        client_id=sign_in.client_id or sign_in.managed_identity_client_id,
        tenant=sign_in.tenant_id,
        authority_host=cloud.authority_host,
        custom_authority=sign_in.authority_host is not None,
        username=sign_in.username,
    )


def build_token_provider(
    settings: Settings,
    *,
    http_client: Any = None,
    clock: Callable[[], float] = time.monotonic,
    open_cache: Callable[[Settings], OpenedCache] | None = None,
) -> TokenProvider:
    """The provider for ``settings.sign_in.mode`` (not emulator or access_token, which ``server.py`` handles).

    ``http_client`` is handed to msal (a requests-like object; tests route it to a fake Entra ID).
    Raises ConfigError when a setting is unusable (for example a certificate that does not open).
    """
    context = sign_in_context(settings)
    mode = settings.sign_in.mode
    if mode == "client_secret":
        from .msal_providers import ConfidentialClientProvider

        assert settings.sign_in.client_secret is not None  # Settings.from_env requires it
        return ConfidentialClientProvider(context, settings.sign_in.client_secret.reveal(), http_client=http_client)
    if mode == "certificate":
        from .certificates import load_client_certificate
        from .msal_providers import ConfidentialClientProvider

        assert settings.sign_in.client_certificate is not None
        certificate = load_client_certificate(
            settings.sign_in.client_certificate, settings.sign_in.client_certificate_password
        )
        log.warning(
            "certificate thumbprint %s (SHA-1, as Entra lists it), valid until %s",
            certificate.sha1_thumbprint,
            f"{certificate.not_after:%Y-%m-%d}",
        )
        return ConfidentialClientProvider(context, certificate.msal_credential(), http_client=http_client)
    if mode == "managed_identity":
        from .msal_providers import ManagedIdentityProvider

        return ManagedIdentityProvider(
            context, identity_client_id=settings.sign_in.managed_identity_client_id, http_client=http_client
        )
    if mode in DELEGATED_MODES:
        opened = (open_cache or _open_cache)(settings)
        log.warning("sign-in cache: %s", opened.note)
        if context.tenant is None and context.client_id != SAMPLE_PUBLIC_CLIENT_ID:
            log.warning(
                "DATAVERSE_TENANT_ID is not set, so the person signs in through 'organizations'. An app registration "
                "for one organization only (the usual choice) refuses that with AADSTS50194: set DATAVERSE_TENANT_ID "
                "to the app's 'Directory (tenant) ID'."
            )
        if mode == "device_code":
            from .device_code import DeviceCodeProvider

            return DeviceCodeProvider(context, cache=opened.cache, http_client=http_client, clock=clock)
        from .interactive import InteractiveProvider

        return InteractiveProvider(context, cache=opened.cache, http_client=http_client, clock=clock)
    raise ValueError(f"build_token_provider does not handle auth mode {mode!r}")


def build_on_behalf_of(
    settings: Settings,
    *,
    credential: str | dict[str, Any] | None = None,
    http_client: Any = None,
    now: Callable[[], float] = time.time,
) -> TokenProvider:
    """The on-behalf-of provider for ``settings.entra``, the server app's credential loaded and checked now (a
    certificate that does not open stops the start); ``credential`` replaces it (the emulator's demo app)."""
    from .on_behalf_of import OnBehalfOfProvider, federated_assertion

    entra = settings.entra
    assert entra is not None  # Settings.from_env sets it with DESKTOP_FLOWS_HTTP_AUTH=entra
    cloud = cloud_for(settings.dataverse_url, entra.authority_host)
    context = SignInContext(
        mode="on_behalf_of",
        dataverse_url=settings.dataverse_url,
        client_id=entra.client_id,
        tenant=entra.tenant_id,
        authority_host=cloud.authority_host,
        custom_authority=entra.authority_host is not None,
    )
    if credential is None and entra.client_secret is not None:
        credential = entra.client_secret.reveal()
    elif credential is None and entra.client_certificate is not None:
        from .certificates import load_client_certificate

        credential = load_client_certificate(
            entra.client_certificate, entra.client_certificate_password
        ).msal_credential()
    elif credential is None and entra.federated_token_file is not None:
        credential = {"client_assertion": federated_assertion(Path(entra.federated_token_file))}
    if credential is None:
        raise ValueError("build_on_behalf_of needs the server app's credential")
    return OnBehalfOfProvider(context, credential, http_client=http_client, now=now)


def _open_cache(settings: Settings) -> OpenedCache:
    from .token_cache import open_token_cache

    return open_token_cache(settings.sign_in.token_cache_dir, allow_plaintext=settings.sign_in.token_cache_plaintext)
