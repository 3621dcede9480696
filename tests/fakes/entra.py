"""A fake Entra ID token service that speaks the wire format msal expects.

Serves, per tenant: the OpenID configuration, the v2 token endpoint (client_credentials with a secret or a
certificate-signed assertion, device_code, refresh_token, authorization_code with PKCE) and the device
authorization endpoint; ``browser_sign_in`` plays the authorize page for a fake browser. Errors carry the real
AADSTS codes. Client assertions are verified against the registered certificate. ``single_tenant`` refuses the
shared 'organizations' endpoint the way Entra does for a single-tenant app; ``stalled`` never answers (the
request times out).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "fake-secret-value~0123456789"
HOST = "login.microsoftonline.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Person:
    username: str
    object_id: str
    name: str


ADA = Person("ada@contoso.example", "person-object-id", "Ada Lovelace")
GRACE = Person("grace@contoso.example", "grace-object-id", "Grace Hopper")


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    scope: str
    status: str = "pending"  # pending | approved | declined | refused | used
    person: Person = ADA
    refusal: tuple[str, int, str] | None = None  # error, AADSTS code, sentence: Entra's answer once refused


@dataclass
class AuthorizationCode:
    scope: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    person: Person


@dataclass
class FakeEntra:
    tenant: str = TENANT
    client_id: str = CLIENT_ID
    secret: str = SECRET
    host: str = HOST
    expires_in: int = 3600
    certificate_pem: bytes | None = None  # the public certificate uploaded to the app registration
    device_interval: int = 1
    device_expires_in: int = 900
    requests: list[httpx.Request] = field(default_factory=list[httpx.Request])
    token_forms: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    device_forms: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    assertion_headers: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    device_codes: list[DeviceCode] = field(default_factory=list[DeviceCode])
    issued: int = 0
    single_tenant: bool = False
    stalled: bool = False
    # on-behalf-of: user assertions this Entra issued (raw → person, exp); a refusal to answer the grant with
    obo_assertions: dict[str, tuple[Person, float]] = field(default_factory=dict[str, tuple[Person, float]])
    obo_refusal: tuple[str, int, str, str | None] | None = None  # error, AADSTS code, sentence, claims
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refresh_tokens: dict[str, Person] = field(default_factory=dict[str, Person])
    _auth_codes: dict[str, AuthorizationCode] = field(default_factory=dict[str, AuthorizationCode])

    # ---- what a test does as the person ---------------------------------------------------------------------

    def approve(self, user_code: str, person: Person = ADA) -> None:
        device = self._device(user_code)
        device.status, device.person = "approved", person

    def browser_sign_in(self, auth_uri: str, person: Person = ADA) -> dict[str, str]:
        """The authorize page: the person signs in; returns the form the browser posts to the redirect URI."""
        query = {key: values[0] for key, values in parse_qs(urlsplit(auth_uri).query).items()}
        assert query["response_mode"] == "form_post" and query["code_challenge_method"] == "S256"
        with self._lock:
            code = f"auth-code-{len(self._auth_codes) + 1}"
            self._auth_codes[code] = AuthorizationCode(
                query["scope"], query["redirect_uri"], query["code_challenge"], query["nonce"], person
            )
        return {"code": code, "state": query["state"]}

    def decline(self, user_code: str) -> None:
        self._device(user_code).status = "declined"

    def refuse(self, user_code: str, code: int, sentence: str, error: str = "invalid_grant") -> None:
        """The person signed in, but Entra refuses to issue the token (consent declined, not a member, ...)."""
        device = self._device(user_code)
        device.status, device.refusal = "refused", (error, code, sentence)

    def revoke_sign_ins(self) -> None:
        """Every refresh token issued so far stops working (revoked, or expired from disuse): AADSTS70008."""
        with self._lock:
            self._refresh_tokens.clear()

    def user_assertion(self, person: Person, expires_at: float) -> str:
        """A token the person's MCP client got for the server app: what the server exchanges on their behalf."""
        raw = f"user-assertion-{len(self.obo_assertions) + 1}-{person.object_id}"
        self.obo_assertions[raw] = (person, expires_at)
        return raw

    def _device(self, user_code: str) -> DeviceCode:
        return next(code for code in self.device_codes if code.user_code == user_code)

    @property
    def token_endpoint(self) -> str:
        return f"https://{self.host}/{self.tenant}/oauth2/v2.0/token"

    def grants(self) -> list[str]:
        return [form.get("grant_type", "") for form in self.token_forms]

    # ---- the wire ------------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            if self.stalled:
                raise httpx.ReadTimeout("no answer", request=request)
            if request.url.host != self.host:
                return httpx.Response(404, text="unknown host")
            segments = request.url.path.strip("/").split("/")
            tenant, rest = segments[0], "/".join(segments[1:])
            if tenant not in (self.tenant, "organizations", "common"):
                return _error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            if self.single_tenant and tenant in ("organizations", "common") and rest.startswith("oauth2/"):
                return _error(
                    400,
                    "invalid_request",
                    50194,
                    f"Application '{self.client_id}'(desktop-flows-mcp) is not configured as a multi-tenant "
                    "application. Usage of the /common endpoint is not supported for such applications created after "
                    "'10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
                )
            if tenant == "common" and rest == "discovery/instance":  # msal reads the host's aliases
                return httpx.Response(200, json=self._instance_metadata())
            if rest == "v2.0/.well-known/openid-configuration":
                return httpx.Response(200, json=self._configuration(tenant))
            form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
            if rest == "oauth2/v2.0/devicecode":
                self.device_forms.append(form)
                return self._device_authorization(form)
            if rest == "oauth2/v2.0/token":
                self.token_forms.append(form)
                return self._token(form)
            return httpx.Response(404, text="not found")

    def _instance_metadata(self) -> dict[str, Any]:
        return {
            "tenant_discovery_endpoint": f"https://{self.host}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": self.host, "preferred_cache": self.host, "aliases": [self.host]}],
        }

    def _configuration(self, tenant: str) -> dict[str, Any]:
        base = f"https://{self.host}/{tenant}"
        return {
            "issuer": f"https://{self.host}/{self.tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        }

    def _device_authorization(self, form: dict[str, str]) -> httpx.Response:
        if form.get("client_id") != self.client_id:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}'"
                f" was not found in the directory '{self.tenant}'.",
            )
        number = len(self.device_codes) + 1
        code = DeviceCode(f"device-code-secret-{number}", f"FAKE-{number:04d}", form.get("scope", ""))
        self.device_codes.append(code)
        uri = "https://microsoft.com/devicelogin"
        return httpx.Response(
            200,
            json={
                "user_code": code.user_code,
                "device_code": code.device_code,
                "verification_uri": uri,
                "expires_in": self.device_expires_in,
                "interval": self.device_interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
                f"{code.user_code} to authenticate.",
            },
        )

    def _token(self, form: dict[str, str]) -> httpx.Response:
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}'"
                f" was not found in the directory '{self.tenant}'.",
            )
        if grant == "client_credentials":
            refused = self._check_client(form)
            return refused or self._issue(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            code = next((c for c in self.device_codes if c.device_code == form.get("device_code")), None)
            if code is None:
                return _error(400, "expired_token", 70020, "The provided value for 'device_code' is expired.")
            if code.status == "pending":
                return _error(
                    400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending."
                )
            if code.status == "declined":
                return _error(400, "authorization_declined", 70019, "The end user denied the authorization request.")
            if code.refusal is not None:
                return _error(400, *code.refusal)
            code.status = "used"
            return self._issue({**form, "scope": code.scope}, person=code.person)
        if grant == "refresh_token":
            person = self._refresh_tokens.get(form.get("refresh_token", ""))
            if person is None:
                return _error(400, "invalid_grant", 70008, "The refresh token has expired due to inactivity.")
            return self._issue(form, person=person)
        if grant == "authorization_code":
            granted = self._auth_codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if (
                granted is None
                or granted.redirect_uri != form.get("redirect_uri")
                or _b64(hashlib.sha256(verifier.encode()).digest()) != granted.code_challenge
            ):
                return _error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")
            return self._issue({**form, "scope": granted.scope}, person=granted.person, nonce=granted.nonce)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and form.get("requested_token_use") == "on_behalf_of":
            return self._check_client(form) or self._on_behalf_of(form)
        return _error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")

    def _on_behalf_of(self, form: dict[str, str]) -> httpx.Response:
        known = self.obo_assertions.get(form.get("assertion", ""))
        if known is None or known[1] <= time.time():
            return _error(400, "invalid_grant", 50013, "Assertion failed signature validation.")
        if self.obo_refusal is not None:
            error, code, sentence, claims = self.obo_refusal
            answer = _error(400, error, code, sentence)
            if claims is not None:
                answer = httpx.Response(400, json={**answer.json(), "suberror": "basic_action", "claims": claims})
            return answer
        return self._issue(form, person=known[0])

    def _check_client(self, form: dict[str, str]) -> httpx.Response | None:
        if "client_secret" in form:
            if form["client_secret"] != self.secret:
                return _error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret "
                    "being sent in the request is the client secret value, not the client secret ID.",
                )
            return None
        assertion = form.get("client_assertion")
        if assertion is None:
            return _error(
                400, "invalid_client", 7000218, "The request body must contain 'client_assertion' or 'client_secret'."
            )
        header = jwt.get_unverified_header(assertion)
        self.assertion_headers.append(header)
        refused = _error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        if self.certificate_pem is None:
            return refused
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        certificate = x509.load_pem_x509_certificate(self.certificate_pem)
        if str(header.get("x5t#S256", "")).rstrip("=") != _b64(certificate.fingerprint(hashes.SHA256())):
            return refused
        try:
            jwt.decode(
                assertion,
                certificate.public_key(),  # pyright: ignore[reportArgumentType]
                algorithms=[header["alg"]],
                audience=self.token_endpoint,
                issuer=self.client_id,
            )
        except jwt.InvalidTokenError:
            return refused
        return None

    def _issue(self, form: dict[str, str], *, person: Person | None = None, nonce: str | None = None) -> httpx.Response:
        self.issued += 1
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": f"fake-access-token-{self.issued}",
            # Entra answers with the granted resource scopes, without the OpenID ones msal adds.
            "scope": " ".join(
                scope for scope in form.get("scope", "").split() if scope not in ("openid", "profile", "offline_access")
            ),
        }
        if person is not None:
            refresh = f"fake-refresh-token-{self.issued}"
            self._refresh_tokens[refresh] = person
            now = int(time.time())
            claims: dict[str, Any] = {
                "iss": f"https://{self.host}/{self.tenant}/v2.0",
                "aud": self.client_id,
                "sub": f"{person.object_id}-subject",
                "oid": person.object_id,
                "tid": self.tenant,
                "preferred_username": person.username,
                "name": person.name,
                "iat": now,
                "exp": now + 3600,
            }
            if nonce is not None:
                claims["nonce"] = nonce
            body["refresh_token"] = refresh
            body["id_token"] = ".".join([_b64(b'{"alg":"none","typ":"JWT"}'), _b64(json.dumps(claims).encode()), ""])
            body["client_info"] = _b64(json.dumps({"uid": person.object_id, "utid": self.tenant}).encode())
        return httpx.Response(200, json=body)


def _error(status: int, error: str, code: int, text: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: 0000 Correlation ID: 1111 Timestamp: 2026-01-01",
            "error_codes": [code],
            "trace_id": "0000",
            "correlation_id": "1111",
        },
    )
