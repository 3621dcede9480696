"""Sign-in settings (DATAVERSE_AUTH and the credentials of each mode): the mode chosen or inferred, each variable
the mode needs checked, and nothing secret ever repeated in an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, cast
from urllib.parse import urlsplit

from .values import ConfigError, EnvReader, Secret, user_folder

AuthMode = Literal[
    "access_token",
    "emulator",
    "client_secret",
    "certificate",
    "device_code",
    "interactive",
    "managed_identity",
    "on_behalf_of",
]

AUTH_MODES: tuple[str, ...] = (
    "client_secret",
    "certificate",
    "device_code",
    "interactive",
    "managed_identity",
    "access_token",
    "on_behalf_of",
)


# Variables that only make sense with a real environment; one of them without DATAVERSE_URL is a mistake.
CREDENTIAL_VARIABLES = (
    "DATAVERSE_ACCESS_TOKEN",
    "DATAVERSE_CLIENT_ID",
    "DATAVERSE_CLIENT_SECRET",
    "DATAVERSE_CLIENT_CERTIFICATE",
    "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",
)
# App credentials that must not be configured next to an access token (two identities for one server).
_APP_CREDENTIALS = ("DATAVERSE_CLIENT_CERTIFICATE", "DATAVERSE_CLIENT_SECRET", "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID")
# The credential variables each mode reads; the others are reported as ignored when the mode is explicit.
_USED_BY: dict[str, tuple[str, ...]] = {
    "access_token": ("DATAVERSE_ACCESS_TOKEN",),
    "client_secret": ("DATAVERSE_CLIENT_SECRET",),
    "certificate": ("DATAVERSE_CLIENT_CERTIFICATE",),
    "managed_identity": ("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",),
}
_USERNAME = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
EXAMPLE_GUID = "00000000-1111-2222-3333-444444444444"
SAMPLE_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"  # Microsoft's sample app in the Dataverse docs
_SHARED_TENANTS = ("common", "organizations", "consumers")


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def _infer_mode(values: EnvReader) -> tuple[str, str]:
    """The sign-in mode when DATAVERSE_AUTH is unset, in this order, and why (for the start-up line).

    1. DATAVERSE_ACCESS_TOKEN                access_token
    2. DATAVERSE_CLIENT_CERTIFICATE          certificate
    3. DATAVERSE_CLIENT_SECRET               client_secret
    4. DATAVERSE_MANAGED_IDENTITY_CLIENT_ID  managed_identity (user-assigned)
    5. DATAVERSE_CLIENT_ID alone             device_code (a person, works without a browser)

    An access token next to app credentials (2-4) never gets here: ``_refuse_two_identities``.
    """
    for variable, mode in (
        ("DATAVERSE_ACCESS_TOKEN", "access_token"),
        ("DATAVERSE_CLIENT_CERTIFICATE", "certificate"),
        ("DATAVERSE_CLIENT_SECRET", "client_secret"),
        ("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID", "managed_identity"),
        ("DATAVERSE_CLIENT_ID", "device_code"),
    ):
        if values.get(variable):
            return mode, f"DATAVERSE_AUTH is not set; chose {mode} because {variable} is set"
    raise ConfigError(
        "DATAVERSE_AUTH",
        "is not set and no credentials were found; choose how to sign in to Dataverse: "
        + ", ".join(AUTH_MODES)
        + " (see the README's Sign-in section).",
        f"device_code (with DATAVERSE_CLIENT_ID={SAMPLE_PUBLIC_CLIENT_ID} or your own app's id)",
    )


def _refuse_two_identities(values: EnvReader) -> None:
    """An access token next to app credentials is two identities for one server: a start-up error, always.

    Even with DATAVERSE_AUTH set: a leftover token (often a person's, pasted for a quick test) or a credential an
    MCP host template fills in would otherwise decide who runs the flows, noted only on stderr that a stdio user
    never sees. Neither value is repeated.
    """
    app_credentials = [name for name in _APP_CREDENTIALS if values.get(name)]
    if values.get("DATAVERSE_ACCESS_TOKEN") and app_credentials:
        raise ConfigError(
            "DATAVERSE_ACCESS_TOKEN",
            f"is set next to {app_credentials[0]}: two identities for one server, and neither is picked silently. "
            "Unset the one you do not mean (DATAVERSE_AUTH, if set, must name the mode you keep).",
            f"(unset, to sign in with {app_credentials[0]})",
        )


@dataclass(frozen=True)
class SignIn:
    """How to get tokens: the mode, why it was chosen (for the start-up line), and that mode's settings."""

    mode: AuthMode
    reason: str
    authority_host: str | None = None
    access_token: Secret | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    client_certificate: str | None = None
    client_certificate_password: Secret | None = None
    managed_identity_client_id: str | None = None
    username: str | None = None  # the person to sign in as (person modes)
    token_cache_dir: str | None = None
    token_cache_plaintext: bool = False


def read_sign_in(
    values: EnvReader, dataverse_url: str, env: Mapping[str, str], platform: str, *, entra: bool = False
) -> SignIn:
    """The sign-in fields of Settings for the chosen mode, each required variable checked. ``entra``: callers sign
    in with Entra ID (DESKTOP_FLOWS_HTTP_AUTH=entra), so Dataverse is called on their behalf and only then."""
    explicit = values.choice("DATAVERSE_AUTH", AUTH_MODES, None)
    _refuse_two_identities(values)
    _check_on_behalf_of(explicit, entra=entra)
    if entra and explicit is None:
        mode, reason = (
            "on_behalf_of",
            "DATAVERSE_AUTH is not set; chose on_behalf_of because DESKTOP_FLOWS_HTTP_AUTH=entra",
        )
    else:
        mode, reason = (explicit, f"DATAVERSE_AUTH={explicit}") if explicit else _infer_mode(values)
    ignored = [name for name in ("DATAVERSE_ACCESS_TOKEN", *_APP_CREDENTIALS) if values.get(name)]
    ignored = [name for name in ignored if (explicit or entra) and name not in _USED_BY.get(mode, ())]
    if ignored:  # an explicit mode wins, and the start-up line says what it leaves unused
        reason += f"; {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored"
    base = SignIn(
        mode=cast(AuthMode, mode),
        reason=reason,
        authority_host=read_authority_host(values),
    )
    if mode == "access_token":
        example = f"eyJ0eXAiOiJKV1Qi... (a bearer token for {dataverse_url})"
        return replace(base, access_token=Secret(_require(values, "DATAVERSE_ACCESS_TOKEN", mode, example)))
    if mode in ("client_secret", "certificate"):
        base = replace(
            base, tenant_id=_tenant(values, confidential=True), client_id=_guid(values, "DATAVERSE_CLIENT_ID", mode)
        )
        if mode == "client_secret":
            return replace(base, client_secret=Secret(_require(values, "DATAVERSE_CLIENT_SECRET", mode, "Abc8Q~...")))
        password = values.get("DATAVERSE_CLIENT_CERTIFICATE_PASSWORD")
        return replace(
            base,
            client_certificate=_require(values, "DATAVERSE_CLIENT_CERTIFICATE", mode, "/etc/desktop-flows-mcp/app.pem"),
            client_certificate_password=Secret(password) if password else None,
        )
    if mode == "on_behalf_of":  # the app's credential is the Entra settings' (config/entra.py)
        return base
    if mode in ("device_code", "interactive"):
        return replace(
            base,
            tenant_id=_tenant(values, confidential=False),
            client_id=_guid(values, "DATAVERSE_CLIENT_ID", mode, example=SAMPLE_PUBLIC_CLIENT_ID),
            username=_username(values),
            token_cache_dir=values.get("DATAVERSE_TOKEN_CACHE_DIR") or default_token_cache_dir(env, platform),
            token_cache_plaintext=values.flag("DATAVERSE_TOKEN_CACHE_PLAINTEXT"),
        )
    # managed_identity
    identity = values.get("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID")
    if identity is None and values.get("DATAVERSE_CLIENT_ID"):
        raise ConfigError(
            "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",
            "is not set, but DATAVERSE_CLIENT_ID is: a user-assigned identity's client id goes in "
            "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID; unset DATAVERSE_CLIENT_ID to use the system-assigned identity.",
            EXAMPLE_GUID,
        )
    return replace(
        base,
        managed_identity_client_id=_guid(
            values, "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID", mode, what="the user-assigned identity's 'Client ID'"
        )
        if identity
        else None,
    )


def _check_on_behalf_of(explicit: str | None, *, entra: bool) -> None:
    """on_behalf_of needs callers who signed in with Entra ID, and such callers allow no other mode."""
    if explicit == "on_behalf_of" and not entra:
        raise ConfigError(
            "DATAVERSE_AUTH",
            "on_behalf_of acts for the person who called, so it needs DESKTOP_FLOWS_HTTP_AUTH=entra (with "
            "--transport streamable-http).",
            "on_behalf_of (with DESKTOP_FLOWS_HTTP_AUTH=entra)",
        )
    if entra and explicit not in (None, "on_behalf_of"):
        why = (
            "a person signing in on the server would act for every caller"
            if explicit in ("device_code", "interactive")
            else "every caller would act as the one identity it names"
        )
        raise ConfigError(
            "DATAVERSE_AUTH",
            f"cannot be {explicit} with DESKTOP_FLOWS_HTTP_AUTH=entra: {why}; with entra each person runs flows as "
            "themselves (on_behalf_of, or leave it unset).",
            "on_behalf_of",
        )


def _require(values: EnvReader, name: str, mode: str, example: str) -> str:
    value = values.get(name)
    if value is None:
        raise ConfigError(name, f"is required when DATAVERSE_AUTH={mode}.", example)
    return value


def _guid(
    values: EnvReader,
    name: str,
    mode: str,
    *,
    example: str = EXAMPLE_GUID,
    what: str = "the app's 'Application (client) ID'",
) -> str:
    value = _require(values, name, mode, example)
    if not _GUID.match(value):
        # The value is not repeated: a secret pasted into the wrong field must not reach a log.
        raise ConfigError(name, f"must be a GUID, {what} (the value set has {len(value)} characters).", example)
    return value.lower()


def _tenant(values: EnvReader, *, confidential: bool) -> str | None:
    example = f"{EXAMPLE_GUID} (the 'Directory (tenant) ID') or contoso.onmicrosoft.com"
    value = values.get("DATAVERSE_TENANT_ID")
    if value is None:
        if confidential:
            raise ConfigError(
                "DATAVERSE_TENANT_ID", "is required for app sign-in (client_secret, certificate).", example
            )
        return None
    if not (_GUID.match(value) or (_TENANT.match(value) and ("." in value or value.lower() in _SHARED_TENANTS))):
        raise ConfigError("DATAVERSE_TENANT_ID", "must be a tenant GUID or domain (the value set is neither).", example)
    if confidential and value.lower() in _SHARED_TENANTS:
        raise ConfigError("DATAVERSE_TENANT_ID", f"cannot be {value!r} for app sign-in; use your tenant.", example)
    return value.lower()


def _username(values: EnvReader) -> str | None:
    value = values.get("DATAVERSE_USERNAME")
    if value is not None and not _USERNAME.match(value):
        raise ConfigError(
            "DATAVERSE_USERNAME", "must be the person's sign-in name (user principal name).", "ada@contoso.com"
        )
    return value.lower() if value else None


def read_authority_host(values: EnvReader) -> str | None:
    """DATAVERSE_AUTHORITY_HOST normalised (scheme and host); None when unset: the Dataverse URL's cloud decides."""
    raw = values.get("DATAVERSE_AUTHORITY_HOST")
    return _authority_host(raw) if raw is not None else None


def _authority_host(raw: str) -> str:
    example = "https://login.microsoftonline.us"
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text if "://" in text else "https://" + text)
        _ = parts.port  # reading it validates it
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.path or parts.query or parts.username:
        raise ConfigError("DATAVERSE_AUTHORITY_HOST", f"must be an https host such as {example}.", example)
    return f"https://{parts.netloc.lower()}"


def default_token_cache_dir(env: Mapping[str, str], platform: str) -> str | None:
    """The per-user cache directory for this platform, from the environment; None when there is no home."""
    return user_folder(env, platform, darwin="Library/Caches", xdg=("XDG_CACHE_HOME", ".cache"))
