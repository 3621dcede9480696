"""How HTTP callers prove who they are (DESKTOP_FLOWS_HTTP_AUTH), and, for ``entra``, the server's app registration.

    DESKTOP_FLOWS_HTTP_AUTH   token   one shared bearer token (DESKTOP_FLOWS_HTTP_TOKEN): everyone is one identity
                              entra   each person signs in with Entra ID; Dataverse is called on their behalf
                              unset   ``token`` when DESKTOP_FLOWS_HTTP_TOKEN is set, else no auth (loopback only)

With ``entra``: DESKTOP_FLOWS_ENTRA_TENANT_ID and _CLIENT_ID (GUIDs), _APP_ID_URI (default ``api://<client id>``),
_ALLOWED_TENANTS (other tenants' GUIDs, for a multi-tenant app) and exactly one credential of the app for the
on-behalf-of exchange: _CLIENT_SECRET, _CLIENT_CERTIFICATE (+ _CLIENT_CERTIFICATE_PASSWORD) or _FEDERATED_TOKEN_FILE
(a managed identity's / workload identity's federated token, as AKS and Container Apps mount it). With Redis,
_TOKEN_CACHE_KEY (32+ characters, the same on every replica) lets the replicas share each caller's Dataverse token.
On the emulator the tenant and client default to the emulator's demo registration and no credential is needed. The
cloud (authority host) follows the Dataverse URL, as for every sign-in; DATAVERSE_AUTHORITY_HOST overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .sign_in import EXAMPLE_GUID, is_guid
from .values import ConfigError, EnvReader, Secret

HttpAuth = Literal["none", "token", "entra"]
HTTP_AUTH_MODES: tuple[str, ...] = ("token", "entra")
READ_SCOPE = "Flows.Read"
RUN_SCOPE = "Flows.Run"
# The emulator's demo registration (its fake Entra signs tokens for any tenant and app it is asked about).
EMULATOR_TENANT_ID = "6b1e3c52-2f0d-4a8e-9c41-5d7f0e2a9b13"
EMULATOR_CLIENT_ID = "0f4c7b1e-9a2d-4e58-b6c3-5d1e8f2a7c90"
_CREDENTIALS = (
    "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET",
    "DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE",
    "DESKTOP_FLOWS_ENTRA_FEDERATED_TOKEN_FILE",
)


@dataclass(frozen=True)
class EntraSettings:
    """The server's app registration in Entra ID: who may call (tenants, audience) and the app's own credential."""

    tenant_id: str  # the app's home tenant: its authority, and the first tenant whose tokens are accepted
    client_id: str
    app_id_uri: str  # the Application ID URI: tokens' v1 audience, the metadata's ``resource``, the scopes' prefix
    allowed_tenants: tuple[str, ...] = ()  # more tenants whose users may call (a multi-tenant app)
    client_secret: Secret | None = None
    client_certificate: str | None = None  # PEM or PFX path, loaded by signin.certificates
    client_certificate_password: Secret | None = None
    federated_token_file: str | None = None  # a client assertion re-read from this file before each exchange
    authority_host: str | None = None  # DATAVERSE_AUTHORITY_HOST when set; else the Dataverse URL's cloud decides
    token_cache_key: Secret | None = None  # with Redis: the key that encrypts each caller's Dataverse token there

    @property
    def tenants(self) -> tuple[str, ...]:
        """Every tenant whose tokens are accepted, the home tenant first."""
        return (self.tenant_id, *(t for t in self.allowed_tenants if t != self.tenant_id))

    @property
    def scopes(self) -> tuple[str, str]:
        """The delegated scopes a client asks Entra for: read, and run (which implies read)."""
        return (f"{self.app_id_uri}/{READ_SCOPE}", f"{self.app_id_uri}/{RUN_SCOPE}")

    @property
    def credential(self) -> Literal["client_secret", "certificate", "federated_token", "none"]:
        if self.client_secret is not None:
            return "client_secret"
        if self.client_certificate is not None:
            return "certificate"
        return "federated_token" if self.federated_token_file is not None else "none"


def read_http_auth(values: EnvReader) -> str | None:
    """DESKTOP_FLOWS_HTTP_AUTH as given (``token``, ``entra``), or None when unset."""
    return values.choice("DESKTOP_FLOWS_HTTP_AUTH", HTTP_AUTH_MODES, None)


def read_entra(values: EnvReader, *, emulator: bool, authority_host: str | None) -> EntraSettings:
    """The ``entra`` settings, each variable checked; secrets are never repeated."""
    tenant = _guid(values, "DESKTOP_FLOWS_ENTRA_TENANT_ID", "the 'Directory (tenant) ID'", EMULATOR_TENANT_ID, emulator)
    client = _guid(values, "DESKTOP_FLOWS_ENTRA_CLIENT_ID", "the server app's 'Application (client) ID'",
                   EMULATOR_CLIENT_ID, emulator)  # fmt: skip
    allowed = tuple(dict.fromkeys(_tenant_list(values)))
    given = [name for name in _CREDENTIALS if values.get(name)]
    if len(given) > 1:
        raise ConfigError(
            given[1],
            f"is set next to {given[0]}: the server app needs exactly one credential; unset the one you do not mean.",
            "(unset)",
        )
    if not given and not emulator:
        raise ConfigError(
            "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET",
            "is required with DESKTOP_FLOWS_HTTP_AUTH=entra, or DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE, or "
            "DESKTOP_FLOWS_ENTRA_FEDERATED_TOKEN_FILE: the server app's credential for the on-behalf-of exchange.",
            "Abc8Q~... (Entra ID > App registrations > your server app > Certificates & secrets)",
        )
    secret = values.get("DESKTOP_FLOWS_ENTRA_CLIENT_SECRET")
    password = values.get("DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE_PASSWORD")
    return EntraSettings(
        tenant_id=tenant,
        client_id=client,
        app_id_uri=_app_id_uri(values, client),
        allowed_tenants=tuple(t for t in allowed if t != tenant),
        client_secret=Secret(secret) if secret else None,
        client_certificate=values.get("DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE"),
        client_certificate_password=Secret(password) if password else None,
        federated_token_file=values.get("DESKTOP_FLOWS_ENTRA_FEDERATED_TOKEN_FILE"),
        authority_host=authority_host,
        token_cache_key=_token_cache_key(values),
    )


def _token_cache_key(values: EnvReader) -> Secret | None:
    """DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY: the replicas share each caller's Dataverse token in Redis, encrypted with
    a key derived from it (shared_state/redis_tokens.py); the same value on every replica."""
    name = "DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY"
    value = values.get(name)
    if value is not None and len(value) < 32:
        raise ConfigError(
            name, f"must be at least 32 characters (the value set has {len(value)}).", "$(openssl rand -base64 32)"
        )
    return Secret(value) if value else None


def _guid(values: EnvReader, name: str, what: str, emulator_default: str, emulator: bool) -> str:
    value = values.get(name)
    if value is None:
        if emulator:
            return emulator_default
        raise ConfigError(name, f"is required with DESKTOP_FLOWS_HTTP_AUTH=entra: {what}.", EXAMPLE_GUID)
    if not is_guid(value):
        # Not repeated: a secret pasted into the wrong field must not reach a log. Tokens name tenants by GUID.
        raise ConfigError(name, f"must be a GUID, {what} (the value set has {len(value)} characters).", EXAMPLE_GUID)
    return value.lower()


def _tenant_list(values: EnvReader) -> tuple[str, ...]:
    name = "DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS"
    tenants = values.csv(name)
    for tenant in tenants:
        if not is_guid(tenant):
            raise ConfigError(
                name,
                "must be tenant GUIDs separated by commas (a domain or 'common' cannot be checked against a token's "
                f"issuer; an entry has {len(tenant)} characters).",
                f"{EXAMPLE_GUID},{EMULATOR_TENANT_ID}",
            )
    return tuple(t.lower() for t in tenants)


def _app_id_uri(values: EnvReader, client_id: str) -> str:
    name = "DESKTOP_FLOWS_ENTRA_APP_ID_URI"
    value = values.get(name)
    if value is None:
        return f"api://{client_id}"
    uri = value.rstrip("/")
    scheme, _, rest = uri.partition("://")
    if scheme.lower() not in ("api", "https") or not rest or any(c.isspace() for c in uri) or "?" in uri or "#" in uri:
        raise ConfigError(
            name,
            "must be the app's Application ID URI as shown under Expose an API: api://... or https://... (the "
            "value set is neither).",
            f"api://{client_id}",
        )
    return uri
