"""This server as an OAuth 2.1 resource server for Entra ID (DESKTOP_FLOWS_HTTP_AUTH=entra), by the SDK's own means.

- ``MCPServer(auth=AuthSettings(...), token_verifier=EntraTokenVerifier)``: the SDK installs its bearer middleware,
  ``RequireAuthMiddleware`` on ``/mcp`` (401 ``invalid_token`` / 403 ``insufficient_scope`` for a token without
  Flows.Read, each with ``WWW-Authenticate: Bearer ... resource_metadata="<server>/.well-known/oauth-protected-
  resource/mcp"``), ``get_access_token()`` for tools, and binds each session to the principal that opened it.
- The RFC 9728 metadata at that URL, built with the SDK's model and handler, says ``resource`` = the Application ID
  URI and ``scopes_supported`` = ``<uri>/Flows.Read``, ``<uri>/Flows.Run``: Entra refuses a sign-in whose
  ``resource`` differs from the scopes' (AADSTS9010010), and the SDK's own route would name the server URL, so
  ``EntraGate`` serves ours in front of it.
- ``EntraGate`` adds ``scope="<uri>/Flows.Read <uri>/Flows.Run"`` to the SDK's 401 and 403 challenges (the spec
  says a challenge SHOULD name the scopes to ask for), and answers 503 (``Retry-After``), not 401, while the
  tenant's signing keys cannot be fetched: the token may be fine, and a 401 would send the client to sign in again.
- ``/health*`` and ``/callbacks/*`` stay open; ``/metrics`` needs a signed-in caller (``ResourceServer.signed_in``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url, cors_middleware
from mcp.server.auth.settings import AuthSettings
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import HttpSettings, Settings
from ..config.entra import READ_SCOPE, EntraSettings
from ..signin.clouds import cloud_for
from .outage import KeysOutage, keys_outage

MCP_PATH = "/mcp"
RETRY_AFTER_SECONDS = 5


class EntraResourceMetadata(ProtectedResourceMetadata):
    """RFC 9728 metadata whose ``resource`` may be an ``api://`` Application ID URI (the SDK's model takes http(s)
    only; RFC 9728 allows any URI the authorization server knows the resource by)."""

    resource: str  # pyright: ignore[reportIncompatibleVariableOverride]  # widened on purpose: api:// URIs


@dataclass(frozen=True)
class ResourceServer:
    """What the SDK and ``EntraGate`` are given: the auth settings, and the metadata document and its path."""

    auth: AuthSettings
    metadata: EntraResourceMetadata
    metadata_url: str

    @property
    def metadata_path(self) -> str:
        return "/" + self.metadata_url.split("://", 1)[1].split("/", 1)[1]

    @staticmethod
    def signed_in(request: Request) -> bool:
        """The request carries a token the verifier accepted (the SDK's bearer middleware put its user there)."""
        return isinstance(request.scope.get("user"), AuthenticatedUser)

    @property
    def scope_parameter(self) -> str:
        """``scope="<uri>/Flows.Read <uri>/Flows.Run"``: what a challenged client asks Entra for."""
        return f'scope="{" ".join(self.metadata.scopes_supported or ())}"'

    def challenge(self, error: str, description: str) -> str:
        return (
            f'Bearer error="{error}", error_description="{description}", resource_metadata="{self.metadata_url}", '
            + self.scope_parameter
        )


def server_url(settings: Settings, http: HttpSettings) -> str:
    """Where clients reach ``/mcp``: under DESKTOP_FLOWS_PUBLIC_URL when set, else the address listened on."""
    base = settings.public_url or f"http://{_host_for_url(http.host)}:{http.port}"
    return base.rstrip("/") + MCP_PATH


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def authority_of(entra: EntraSettings, dataverse_url: str) -> str:
    """The home tenant's authority in the right cloud (public, GCC High, DoD, China, or DATAVERSE_AUTHORITY_HOST)."""
    return f"{cloud_for(dataverse_url, entra.authority_host).authority_host}/{entra.tenant_id}/v2.0"


def resource_server(settings: Settings, url: str) -> ResourceServer:
    """The resource server for ``settings.entra`` whose MCP endpoint is at ``url`` (``server_url``)."""
    entra = settings.entra
    assert entra is not None
    authority = authority_of(entra, settings.dataverse_url)
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(authority),
        resource_server_url=AnyHttpUrl(url),
        required_scopes=[READ_SCOPE],  # Flows.Run grants it too (verifier.granted_scopes)
        validate_token_resource=False,  # the verifier checks the audience itself (api:// is no URL the SDK takes)
    )
    metadata = EntraResourceMetadata(
        resource=entra.app_id_uri,
        authorization_servers=[AnyHttpUrl(authority)],
        scopes_supported=list(entra.scopes),
        resource_name="desktop-flows-mcp",
    )
    return ResourceServer(auth, metadata, str(build_resource_metadata_url(AnyHttpUrl(url))))


class EntraGate:
    """Outermost: the metadata document (in front of the SDK's route), and 401 → 503 during a keys outage."""

    def __init__(self, app: ASGIApp, server: ResourceServer) -> None:
        self._app = app
        self._path = server.metadata_path
        self._scope = server.scope_parameter.encode()
        self._metadata = cors_middleware(ProtectedResourceMetadataHandler(server.metadata).handle, ["GET", "OPTIONS"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if scope.get("path") == self._path:
            await self._metadata(scope, receive, send)
            return
        outage = KeysOutage()
        reset = keys_outage.set(outage)
        replaced = False

        async def send_or_replace(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 401 and outage.seen:
                replaced = True
                await _unavailable(scope, receive, send)
                return
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                message = {**message, "headers": self._with_scope(message.get("headers", []))}
            if replaced:
                return  # the 401's body: already answered
            await send(message)

        try:
            await self._app(scope, receive, send_or_replace)
        finally:
            keys_outage.reset(reset)

    def _with_scope(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The SDK's challenge plus the scopes to ask for, as the MCP authorization spec advises (other challenges,
        such as a claims challenge, are left as they are)."""
        return [
            (name, value + b", " + self._scope if _sdk_challenge(name, value) else value) for name, value in headers
        ]


def _sdk_challenge(name: bytes, value: bytes) -> bool:
    return (
        name.lower() == b"www-authenticate"
        and value.startswith((b'Bearer error="invalid_token"', b'Bearer error="insufficient_scope"'))
        and b"scope=" not in value
    )


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    body: dict[str, Any] = {
        "error": "temporarily_unavailable",
        "error_description": "Entra ID's signing keys could not be fetched, so the token could not be checked; "
        f"retry in {RETRY_AFTER_SECONDS} seconds.",
    }
    response = Response(
        json.dumps(body),
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    await response(scope, receive, send)
