"""The fake Entra's token endpoint: the on-behalf-of grant, and the refresh tokens it hands out with its tokens.

``POST /{tenant}/oauth2/v2.0/token`` (added to ``FakeEntra`` by ``install``) answers as Entra does:

    grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, requested_token_use=on_behalf_of
        the client is the server's app (``client_id``, its secret when one is set, else any client assertion);
        the ``assertion`` is a person's token for that app: RS256, signed by this Entra's key (current or retired),
        issued by it for the tenant, ``aud`` the app (its client id or Application ID URI), not expired; the answer
        is a token for the resource of ``scope`` (``<resource>/.default``) naming the same person (``oid``,
        ``tid``, ``upn``), with a refresh token, an ID token and ``client_info`` as msal expects
    grant_type=refresh_token
        a refresh token this endpoint gave: a new token for the same person and resource
    grant_type=password (only with ``sign_in_people``: the ``--emulator --http-auth entra`` demo)
        a person of the demo signs in by name (any password, any client): their token for the server app

``refusal`` makes it refuse the exchange as Entra does: ``claims`` (Conditional Access or MFA: invalid_grant
AADSTS50076 with a ``claims`` challenge) or ``consent`` (invalid_grant AADSTS65001); ``FakeEntra.down`` makes every
route answer 503. ``grants`` records each request's grant type and ``exchanges`` the person of each exchange, so
tests count what reached Entra.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bearer import ALICE_USER, BOB_USER, SignedTokens
from .entra import ALICE, BOB, DEMO_CLIENT_APP_ID, DEMO_CLIENT_ID, DEMO_TENANT_ID, EntraUser, FakeEntra
from .principals import Principal

OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EMULATOR_CLIENT_SECRET = "emulator-server-app-secret"  # the demo registration's, not a real one
MFA_REQUIRED = (
    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use "
    "multi-factor authentication."
)
CLAIMS_CHALLENGE = '{"access_token":{"capolids":{"essential":true,"values":["emulator-mfa-policy"]}}}'


DEMO_PEOPLE: dict[str, Principal] = {ALICE.oid: ALICE_USER, BOB.oid: BOB_USER}  # Entra object id → systemuser


def dataverse_behind(
    entra: FakeEntra, audience: str = "http://emulator.local", users: dict[str, Principal] | None = None
) -> SignedTokens:
    """What the Dataverse emulator takes behind ``entra``: its v1 tokens for ``audience``, for ``users``."""

    def key_for(kid: str) -> object:
        return next((k.private.public_key() for k in (entra.key, *entra.retired) if k.kid == kid), None)

    return SignedTokens(key_for, entra.issuer(DEMO_TENANT_ID, 1), audience, DEMO_PEOPLE if users is None else users)


@dataclass
class OnBehalfOfGrant:
    """The token endpoint of ``entra`` for the server app ``client_id``."""

    entra: FakeEntra
    client_id: str = DEMO_CLIENT_ID
    client_secret: str | None = EMULATOR_CLIENT_SECRET
    app_id_uri: str | None = None  # default api://<client_id>
    lifetime: float = 3600
    refusal: Literal["claims", "consent"] | None = None
    grants: list[str] = field(default_factory=list[str])
    exchanges: list[str] = field(default_factory=list[str])  # the oid of each on-behalf-of exchange
    _refresh: dict[str, tuple[EntraUser, str]] = field(default_factory=dict[str, tuple[EntraUser, str]])
    sign_in_people: tuple[EntraUser, ...] = ()  # the demo: these may sign in by name (grant_type=password)

    def install(self) -> OnBehalfOfGrant:
        self.entra.extra_routes.append(Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]))
        return self

    async def _token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "password" and self.sign_in_people:
            return self._password(form, request.path_params["tenant"])
        refused = self._check_client(form)
        if refused is not None:
            return refused
        if grant == OBO_GRANT and form.get("requested_token_use") == "on_behalf_of":
            return self._on_behalf_of(form, request.path_params["tenant"])
        if grant == "refresh_token":
            known = self._refresh.get(form.get("refresh_token", ""))
            if known is None:
                return _error(400, "invalid_grant", 70008, "The refresh token has expired due to inactivity.")
            return self._issue(*known)
        return _error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")

    def _password(self, form: dict[str, str], tenant: str) -> Response:
        """The demo's sign-in (Entra's resource-owner password grant, any password): a person's access token for
        the server app, with the ``scope`` asked for (``<App ID URI>/Flows.Run``), for any client."""
        person = next((p for p in self.sign_in_people if p.upn == form.get("username", "").lower()), None)
        if person is None or tenant not in (person.tenant, "organizations"):
            return _error(400, "invalid_grant", 50034, "The user account does not exist in this directory.")
        prefix = (self.app_id_uri or f"api://{self.client_id}") + "/"
        scopes = [s.removeprefix(prefix) for s in form.get("scope", "").split() if s.startswith(prefix)]
        if not scopes:
            return _error(
                400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid."
            )
        token = self.entra.mint(person, scopes=scopes, client_app=form.get("client_id") or DEMO_CLIENT_APP_ID)
        body = {"token_type": "Bearer", "expires_in": 3600, "access_token": token}
        return JSONResponse({**body, "scope": " ".join(prefix + s for s in scopes)})

    def _check_client(self, form: dict[str, str]) -> Response | None:
        if form.get("client_id") != self.client_id:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found.",
            )
        secret_wrong = form.get("client_secret") != self.client_secret and "client_assertion" not in form
        if self.client_secret is not None and secret_wrong:
            return _error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        return None

    def _on_behalf_of(self, form: dict[str, str], tenant: str) -> Response:
        person = self._assertion_person(form.get("assertion", ""), tenant)
        if person is None:
            return _error(400, "invalid_grant", 50013, "Assertion failed signature validation.")
        if self.refusal == "claims":
            refused = _body("invalid_grant", 50076, MFA_REQUIRED)
            return JSONResponse({**refused, "suberror": "basic_action", "claims": CLAIMS_CHALLENGE}, status_code=400)
        if self.refusal == "consent":
            return _error(400, "invalid_grant", 65001, "The user or administrator has not consented to use the "
                          f"application with ID '{self.client_id}'.")  # fmt: skip
        resources = [s.removesuffix("/.default") for s in form.get("scope", "").split() if s.endswith("/.default")]
        if len(resources) != 1:
            return _error(
                400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid."
            )
        self.exchanges.append(person.oid)
        return self._issue(person, resources[0])

    def _assertion_person(self, assertion: str, tenant: str) -> EntraUser | None:
        """The person a token of this Entra for the server app names, or None when it is not one."""
        try:
            kid = jwt.get_unverified_header(assertion).get("kid")
            key = next((k for k in (self.entra.key, *self.entra.retired) if k.kid == kid), None)
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key.private.public_key(),
                algorithms=["RS256"],
                audience=[self.client_id, self.app_id_uri or f"api://{self.client_id}"],
                options={"require": ["exp", "aud", "iss", "oid", "tid"]},
            )
        except jwt.InvalidTokenError:
            return None
        tid = str(claims["tid"])
        if claims["iss"] not in (self.entra.issuer(tid), self.entra.issuer(tid, 1)) or tenant not in (
            tid,
            "organizations",
        ):
            return None
        upn = str(claims.get("preferred_username") or claims.get("upn") or "")
        return EntraUser(str(claims["oid"]), upn, str(claims.get("name", upn)), tid)

    def _issue(self, person: EntraUser, resource: str) -> Response:
        token = self.entra.mint(
            person,
            audience=resource,
            scopes=("user_impersonation",),
            client_app=self.client_id,
            lifetime=self.lifetime,
            version=1,  # Dataverse's tokens are v1: aud = the environment URL, iss = sts.windows.net
        )
        refresh = secrets.token_urlsafe(24)
        self._refresh[refresh] = (person, resource)
        now = int(self.entra.clock())
        id_claims = {
            "aud": self.client_id,
            "iss": self.entra.issuer(person.tenant),
            "iat": now,
            "exp": now + 3600,
            "oid": person.oid,
            "tid": person.tenant,
            "sub": person.oid,
            "preferred_username": person.upn,
            "name": person.name,
        }
        client_info = {"uid": person.oid, "utid": person.tenant}
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": f"{resource}/user_impersonation",
                "expires_in": int(self.lifetime),
                "ext_expires_in": int(self.lifetime),
                "access_token": token,
                "refresh_token": refresh,
                "id_token": jwt.encode(id_claims, self.entra.key.private, algorithm="RS256"),
                "client_info": base64.urlsafe_b64encode(json.dumps(client_info).encode()).rstrip(b"=").decode(),
            }
        )


def _body(error: str, code: int, text: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: 0000 Correlation ID: 1111 Timestamp: 2026-01-01",
        "error_codes": [code],
    }


def _error(status: int, error: str, code: int, text: str) -> Response:
    return JSONResponse(_body(error, code, text), status_code=status)
