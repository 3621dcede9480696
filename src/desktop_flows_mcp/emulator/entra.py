"""A fake Entra ID that signs user access tokens for the server's app: the tenant's authority on the emulator.

It is the other side of the wire from the server's token checks and shares no code with them. It serves, for any
tenant in the path:

    GET /{tenant}/discovery/v2.0/keys                      the JWKS: the current RSA key, and keys retired by
                                                           ``rotate`` (Entra keeps a retired key published a while)
    GET /{tenant}/v2.0/.well-known/openid-configuration    issuer, jwks_uri, authorize and token endpoints

``mint`` signs an access token as Entra would issue it for a person (``scp``) or an app (``roles``, ``idtyp=app``),
v2 (``aud`` = the client id, ``iss`` = ``<authority>/<tid>/v2.0``, ``azp``, ``preferred_username``) or v1 (``aud`` =
the Application ID URI, ``iss`` = ``https://sts.windows.net/<tid>/``, ``appid``, ``upn``). Every claim can be
overridden, so tests can mint what Entra would not (another audience, an expired token). The token endpoint's
grants (on-behalf-of) are added by other modules through ``FakeEntra.routes``.

``ALICE`` and ``BOB`` are two people of the demo tenant; ``DEMO_TENANT_ID`` and ``DEMO_CLIENT_ID`` the demo
registration (the server's ``--emulator --http-auth entra`` defaults).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .principals import TENANT_ID

DEMO_TENANT_ID = TENANT_ID
DEMO_CLIENT_ID = "0f4c7b1e-9a2d-4e58-b6c3-5d1e8f2a7c90"  # the server's app registration in the demo tenant
DEMO_CLIENT_APP_ID = "7d2a9c41-3e5b-4f86-a1d0-8b6e2c9f4a57"  # a pre-registered MCP client (the one that asks)
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
V1_ISSUER_HOST = "https://sts.windows.net"


@dataclass(frozen=True)
class EntraUser:
    """A person in a tenant: ``oid`` is their object id (stable across apps), ``upn`` their sign-in name."""

    oid: str
    upn: str
    name: str
    tenant: str = DEMO_TENANT_ID


ALICE = EntraUser("4f1c2a9e-7b3d-4c58-9e0a-2d6b8f1e3c71", "alice@contoso.example", "Alice Ahmed")
BOB = EntraUser("9a3e5d17-2c8b-4f60-b4e1-7c9d0a2f5b68", "bob@contoso.example", "Bob Brennan")


def _b64url(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        kid = base64.urlsafe_b64encode(hashlib.sha256(_b64url(numbers.n).encode()).digest()[:15]).decode()
        return cls(kid, private)

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64url(numbers.n), "e": _b64url(numbers.e)}


@dataclass
class FakeEntra:
    """Entra ID's signing side for one authority host (``authority``, scheme and host): keys, discovery, tokens."""

    authority: str = PUBLIC_AUTHORITY
    sts: str = V1_ISSUER_HOST  # v1 tokens' issuer host (China: https://sts.chinacloudapi.cn)
    clock: Callable[[], float] = time.time
    key: SigningKey = field(default_factory=SigningKey.generate)
    retired: list[SigningKey] = field(default_factory=list[SigningKey])
    key_requests: int = 0  # GETs of the JWKS, so a test sees how often the server fetched keys
    down: bool = False  # every route answers 503, as an unreachable or failing Entra looks to a client
    extra_routes: list[Route] = field(default_factory=list[Route])

    # ---- tokens --------------------------------------------------------------------------------------------

    def issuer(self, tenant: str, version: int = 2) -> str:
        if version == 1:
            return f"{self.sts}/{tenant}/"
        return f"{self.authority}/{tenant}/v2.0"

    def mint(
        self,
        user: EntraUser | None = ALICE,
        *,
        audience: str = DEMO_CLIENT_ID,
        scopes: Iterable[str] = ("Flows.Run",),
        roles: Iterable[str] = (),
        tenant: str | None = None,
        version: int = 2,
        lifetime: float = 3600,
        not_before: float | None = None,
        client_app: str = DEMO_CLIENT_APP_ID,
        key: SigningKey | None = None,
        algorithm: str = "RS256",
        **overrides: Any,
    ) -> str:
        """An access token for ``audience``: a person's (``user``) with ``scopes`` in ``scp``, or an app's
        (``user=None``) with ``roles``. ``overrides`` replace or add claims (None removes one)."""
        now = int(self.clock())
        tid = tenant or (user.tenant if user else DEMO_TENANT_ID)
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer(tid, version),
            "iat": now,
            "nbf": int(not_before) if not_before is not None else now,
            "exp": int(now + lifetime),
            "tid": tid,
            "ver": "2.0" if version == 2 else "1.0",
            "uti": uuid.uuid4().hex[:22],
        }
        claims["azp" if version == 2 else "appid"] = client_app
        if user is not None:
            claims.update(oid=user.oid, sub=_pairwise(user.oid, client_app), name=user.name)
            claims["preferred_username" if version == 2 else "upn"] = user.upn
            if scp := " ".join(scopes):
                claims["scp"] = scp
        else:
            app_oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tid}/{client_app}"))
            claims.update(oid=app_oid, sub=app_oid, idtyp="app")
        if roles := list(roles):
            claims["roles"] = roles
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        signer = key or self.key
        if algorithm == "none":
            return jwt.encode(claims, "", algorithm="none", headers={"kid": signer.kid})
        if algorithm.startswith("HS"):  # a token signed with a shared secret: Entra never issues one
            return jwt.encode(claims, "shared-secret-" * 3, algorithm=algorithm, headers={"kid": signer.kid})
        return jwt.encode(claims, signer.private, algorithm=algorithm, headers={"kid": signer.kid, "typ": "JWT"})

    def rotate(self) -> SigningKey:
        """A new signing key; the old one stays published (retired) and no longer signs."""
        self.retired.insert(0, self.key)
        self.key = SigningKey.generate()
        return self.key

    # ---- the wire ------------------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in (self.key, *self.retired)]}

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.authority}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": self.authority.removeprefix("https://"),
        }

    async def _keys(self, request: Request) -> Response:
        self.key_requests += 1
        return JSONResponse(self.jwks())

    async def _configuration(self, request: Request) -> Response:
        return JSONResponse(self.openid_configuration(request.path_params["tenant"]))

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/discovery/v2.0/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/discovery/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._configuration, methods=["GET"]),
            *self.extra_routes,
        ]

    def app(self) -> ASGIApp:
        starlette = Starlette(routes=self.routes)

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if self.down and scope["type"] == "http":
                answer = JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
                await answer(scope, receive, send)
                return
            await starlette(scope, receive, send)

        return asgi

    def transport(self) -> httpx.ASGITransport:
        """In-process: ``httpx.AsyncClient(transport=entra.transport())`` reaches it at any host."""
        return httpx.ASGITransport(app=self.app())


def _pairwise(oid: str, client_app: str) -> str:
    """Entra's ``sub`` differs per app for the same person; ``oid`` is the one to key on."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"{oid}/{client_app}".encode()).digest()[:32]).decode().rstrip("=")
