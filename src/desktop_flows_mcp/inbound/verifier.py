"""The SDK's ``TokenVerifier`` for Entra ID access tokens issued to this server's app.

A token is accepted only when all of these hold (anything else: ``None``, which the SDK answers 401
``invalid_token``; the refusal's reason is logged at INFO, never the token or its claims):

    header      ``alg`` RS256 (not none, not HS256), a ``kid`` the tenant publishes (``keys.SigningKeys``)
    signature   valid under that key
    aud         the Application ID URI (v1 tokens) or the client id (v2): a Graph or Dataverse token is refused,
                so no token meant for another API passes through this server
    tid         the app's tenant or one of DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS
    iss         that tenant's issuer, in the form Entra uses for the token's version and cloud
    exp / nbf   present, with ``LEEWAY`` seconds either way for clocks that drift
    oid         a GUID: with ``tid`` it names the caller (``call_scope``), stable across apps (``sub`` is not)
    scp / roles a person's delegated scopes, or an app's roles; an app-only token (``idtyp=app``, or no ``scp``)
                is accepted only when its roles grant Flows.Read or Flows.Run

The ``AccessToken`` handed to the SDK (and to tools through ``get_access_token()``): ``token`` the raw JWT (the
on-behalf-of exchange's user assertion), ``subject`` the oid, ``client_id`` the calling app (``azp``/``appid``),
``expires_at`` the exp, ``scopes`` what ``scp`` and ``roles`` grant (Flows.Run also grants Flows.Read), ``resource``
the Application ID URI, ``claims`` the token's claims (tid, oid, upn/preferred_username, iss, ...).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import jwt
from mcp.server.auth.provider import AccessToken

from ..config.entra import READ_SCOPE, RUN_SCOPE, EntraSettings
from ..config.sign_in import is_guid
from ..signin.clouds import cloud_for
from .keys import KeysUnavailable, SigningKeys
from .outage import keys_outage

log = logging.getLogger("desktop_flows_mcp")

LEEWAY = 60.0
MAX_TOKEN_CHARS = 16_384  # Entra's tokens are a few KB; a bigger one is not parsed
_V1_STS = {"china": "https://sts.chinacloudapi.cn"}
_DEFAULT_V1_STS = "https://sts.windows.net"


class Refused(Exception):
    """Why a token was refused, in words safe for a log (never a claim's value)."""


def granted_scopes(claims: dict[str, Any]) -> list[str]:
    """What ``scp`` and ``roles`` grant, with Flows.Run implying Flows.Read."""
    scp = claims.get("scp")
    roles = claims.get("roles")
    granted = scp.split() if isinstance(scp, str) else []
    if isinstance(roles, list):
        granted += [role for role in cast(list[Any], roles) if isinstance(role, str)]
    if RUN_SCOPE in granted and READ_SCOPE not in granted:
        granted.append(READ_SCOPE)
    return list(dict.fromkeys(granted))


class EntraTokenVerifier:
    """Checks Entra access tokens for the app ``entra`` describes; keys come from its home tenant's JWKS in the
    cloud of ``dataverse_url`` (or DATAVERSE_AUTHORITY_HOST)."""

    def __init__(
        self,
        entra: EntraSettings,
        dataverse_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        cloud = cloud_for(dataverse_url, entra.authority_host)
        self.authority = cloud.authority_host
        self.entra = entra
        self._clock = clock
        self._audiences = {entra.app_id_uri, entra.client_id}
        sts = _V1_STS.get(cloud.name, _DEFAULT_V1_STS)
        self._issuers = {
            tenant: {f"{self.authority}/{tenant}/v2.0", f"{self.authority}/{tenant}/", f"{sts}/{tenant}/"}
            for tenant in entra.tenants
        }
        self.keys = SigningKeys(
            f"{self.authority}/{entra.tenant_id}/discovery/v2.0/keys", transport=transport, clock=monotonic
        )

    @property
    def issuer_url(self) -> str:
        """The home tenant's authority: what the protected-resource metadata names as authorization server."""
        return f"{self.authority}/{self.entra.tenant_id}/v2.0"

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return await self._verify(token)
        except Refused as refused:
            log.info("bearer token refused: %s", refused)
        except KeysUnavailable:
            outage = keys_outage.get()
            if outage is not None:  # EntraGate answers 503 instead of the SDK's 401
                outage.seen = True
        return None

    async def _verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise Refused("longer than any Entra token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refused("not a JWT") from None
        if header.get("alg") != "RS256":
            raise Refused("not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Refused("no key id")
        key = await self.keys.key(kid)  # KeysUnavailable propagates: the caller answers 503
        if key is None:
            raise Refused("signed with a key the tenant does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=list(self._audiences),
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": ["aud", "iss"]},
            )
        except jwt.InvalidAudienceError:
            raise Refused("issued for another audience") from None
        except jwt.PyJWTError as error:
            raise Refused(f"invalid ({type(error).__name__})") from None
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        tid = claims.get("tid")
        if not isinstance(tid, str) or tid.lower() not in self._issuers:
            raise Refused("issued in a tenant that is not allowed")
        if claims.get("iss") not in self._issuers[tid.lower()]:
            raise Refused("issuer does not match its tenant")
        self._check_times(claims)
        oid = claims.get("oid")
        if not isinstance(oid, str) or not is_guid(oid):  # it names the caller in state keys and audit lines
            raise Refused("no oid, or one that is not a GUID")
        if "scp" not in claims and "roles" not in claims:
            raise Refused("neither a scope nor a role")
        scopes = granted_scopes(claims)
        app_only = claims.get("idtyp") == "app" or "scp" not in claims
        if app_only and READ_SCOPE not in scopes:
            raise Refused("an app-only token whose roles grant neither Flows.Read nor Flows.Run")
        client = claims.get("azp") or claims.get("appid")
        return AccessToken(
            token=token,
            client_id=client if isinstance(client, str) else "",
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=self.entra.app_id_uri,
            subject=oid,
            claims=claims,
        )

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise Refused("no expiry")
        if now > expires + LEEWAY:
            raise Refused("expired")
        if isinstance(not_before, int | float) and now < not_before - LEEWAY:
            raise Refused("not valid yet")
