"""Turn an Entra ID refusal into an ``unauthenticated`` error that says what to fix.

Entra answers a failed token request with ``error``, ``error_description`` ("AADSTS7000215: Invalid client
secret provided. ...  Trace ID: ...") and ``error_codes`` ([7000215]). The number names the cause far better
than the text, so the hint comes from this table; the message keeps only Entra's first sentence line (the
trace and correlation ids are noise to an agent). Entra never echoes secrets, and neither do we.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..errors import DesktopFlowsError, ErrorCode


@dataclass(frozen=True)
class SignInContext:
    """What a hint may name: never a secret. ``tenant`` is None when DATAVERSE_TENANT_ID is not set."""

    mode: str
    dataverse_url: str
    client_id: str | None = None
    tenant: str | None = None
    authority_host: str | None = None
    custom_authority: bool = False  # DATAVERSE_AUTHORITY_HOST is set: msal must not check the host with Microsoft
    username: str | None = None  # DATAVERSE_USERNAME: the person to sign in as

    @property
    def authority(self) -> str:
        """The msal authority; a person without a configured tenant signs in through 'organizations'."""
        return f"{self.authority_host or 'https://login.microsoftonline.com'}/{self.tenant or 'organizations'}"


_APP_USER_STEPS = (
    "In the Power Platform admin center open Environments > (this environment) > Settings > Users + permissions > "
    "Application users > New app user, pick the app with client id {client_id}, and give it a security role."
)

# AADSTS code → what to do. Placeholders: {client_id}; {the_tenant} ("tenant X", or "the tenant you signed in to"
# when DATAVERSE_TENANT_ID is not set); {url}; {authority}; {again} (how this mode signs in again).
HINTS: dict[int, str] = {
    7000215: (
        "The client secret is wrong. In Entra ID > App registrations > (app {client_id}) > Certificates & secrets, "
        "create a new client secret and set DATAVERSE_CLIENT_SECRET to its Value (not its Secret ID), then restart."
    ),
    7000222: (
        "The client secret has expired. Create a new one under Entra ID > App registrations > (app {client_id}) > "
        "Certificates & secrets, set DATAVERSE_CLIENT_SECRET to its Value, then restart."
    ),
    700016: (
        "No application with client id {client_id} exists in {the_tenant}. Check DATAVERSE_CLIENT_ID against the "
        "app's 'Application (client) ID' (not its Object ID) and DATAVERSE_TENANT_ID against the 'Directory (tenant) "
        "ID' on the app's Overview page."
    ),
    90002: (
        "Entra ID at {authority} does not know {the_tenant}. Set DATAVERSE_TENANT_ID to the 'Directory (tenant) ID' "
        "GUID from the app's Overview page (or the tenant's primary domain), and check that the cloud is right "
        "(DATAVERSE_AUTHORITY_HOST)."
    ),
    900023: (
        "DATAVERSE_TENANT_ID does not name a valid tenant. Use the 'Directory (tenant) ID' GUID or the tenant's "
        "primary domain such as contoso.onmicrosoft.com."
    ),
    65001: (
        "Consent is missing. In Entra ID > App registrations > (app {client_id}) > API permissions, add Dynamics CRM > "
        "user_impersonation ('Access Dynamics 365 as organization users') and click 'Grant admin consent', or have "
        "the person accept the consent prompt when signing in."
    ),
    700027: (
        "Entra does not know this certificate. Upload the certificate's public part (.cer or .pem) to Entra ID > App "
        "registrations > (app {client_id}) > Certificates & secrets > Certificates, and make sure "
        "DATAVERSE_CLIENT_CERTIFICATE is that certificate with its private key (the thumbprints must match)."
    ),
    700024: "The client assertion is not within its valid time range: check this machine's clock.",
    50059: (
        "Entra could not tell which tenant to use. Set DATAVERSE_TENANT_ID to the 'Directory (tenant) ID' of the "
        "tenant that owns {url}."
    ),
    7000218: (
        "The app registration does not allow public client flows. In Entra ID > App registrations > (app "
        "{client_id}) > Authentication, set 'Allow public client flows' to Yes (needed for device_code and "
        "interactive), or use client_secret / certificate sign-in."
    ),
    500011: (
        "Dataverse ({url}) is not known in {the_tenant}: DATAVERSE_URL and DATAVERSE_TENANT_ID point to different "
        "tenants. Use the environment URL from the Power Platform admin center of the tenant you sign in to."
    ),
    500113: (
        "The app registration has no reply URL for this sign-in. In Entra ID > App registrations > (app "
        "{client_id}) > Authentication, add the platform 'Mobile and desktop applications' with redirect URI "
        "http://localhost."
    ),
    50011: (
        "The redirect URI does not match the app registration. Add the platform 'Mobile and desktop applications' "
        "with redirect URI http://localhost under Authentication for app {client_id}."
    ),
    50020: (
        "The account signed in belongs to another tenant than {the_tenant}. Sign in with an account of that tenant, or "
        "add the person as a guest and give them a Dataverse security role."
    ),
    50076: (
        "Multi-factor authentication is required. Use DATAVERSE_AUTH=device_code or interactive so the person can "
        "complete it."
    ),
    50079: "The account must register for multi-factor authentication first; then sign in again.",
    53003: (
        "A Conditional Access policy blocked the sign-in. Ask an Entra administrator which policy applies (the Entra "
        "sign-in logs name it) or sign in from a compliant device or network."
    ),
    50105: (
        "The signed-in person is not assigned to app {client_id}. An administrator can assign them under Entra ID > "
        "Enterprise applications > (app) > Users and groups, or turn off 'Assignment required'."
    ),
    70008: "The saved sign-in has expired or was revoked. Sign in again: {again}.",
    700082: "The saved sign-in has expired after a long time unused. Sign in again: {again}.",
    70043: (
        "The saved sign-in has expired under a Conditional Access sign-in frequency policy. Sign in again: {again}."
    ),
    50173: "The saved sign-in is no longer valid because the password changed. Sign in again: {again}.",
    50194: (
        "App {client_id} is a single-tenant app registration, so it cannot sign in through 'organizations'. Set "
        "DATAVERSE_TENANT_ID to the 'Directory (tenant) ID' on the app's Overview page, then restart."
    ),
    90072: (
        "The account is not a member or guest of {the_tenant}. Sign in with an account of that tenant, or have an "
        "administrator invite the person as a guest and give them a Dataverse security role."
    ),
    65004: (
        "The person declined to consent to app {client_id}. Sign in again and accept the consent prompt ({again}), "
        "or have an administrator grant admin consent for Dynamics CRM > user_impersonation under Entra ID > App "
        "registrations > (app) > API permissions."
    ),
    7000112: "App {client_id} is disabled in Entra ID. An administrator must enable it (Enterprise applications).",
    50034: "The account does not exist in {the_tenant}. Sign in with an account of that tenant.",
    50126: "The user name or password is wrong.",
    50053: "The account is locked after too many failed sign-ins. Wait, or ask an administrator to unlock it.",
    50057: "The account is disabled. Ask an administrator to enable it.",
}

_CODE = re.compile(r"AADSTS(\d+)")
_QUOTED_BODY = re.compile(r"Error: (\{.*\})\s*$", re.DOTALL)


def aadsts_codes(result: Mapping[str, Any]) -> list[int]:
    """The AADSTS numbers in an msal error result (``error_codes``, else found in the description)."""
    raw = result.get("error_codes")
    codes = [code for code in raw if isinstance(code, int)] if isinstance(raw, list) else []  # pyright: ignore[reportUnknownVariableType]  # JSON
    if not codes:
        codes = [int(found) for found in _CODE.findall(str(result.get("error_description") or ""))]
    return codes


def first_line(description: str) -> str:
    """Entra's own sentence without trace ids, timestamps or the documentation boilerplate."""
    line = description.strip().splitlines()[0] if description.strip() else ""
    return re.split(r"\s+Trace ID:", line)[0].strip()


def entra_body_in(exc: BaseException) -> dict[str, Any] | None:
    """Entra's own JSON error when msal quoted it in an exception (or the one it replaced), else None.

    msal turns a refused OpenID configuration request into a ValueError that quotes the answer, then wraps that
    in another ValueError without it; the code must come from Entra's answer, never be guessed from the text.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        found = _QUOTED_BODY.search(str(seen))
        if found:
            try:
                body = json.loads(found.group(1))
            except ValueError:
                body = None
            if isinstance(body, dict) and ("error" in body or "error_codes" in body):
                return cast(dict[str, Any], body)
        seen = seen.__cause__ or seen.__context__
    return None


def entra_error(result: Mapping[str, Any], context: SignInContext) -> DesktopFlowsError:
    """An msal error result → ``unauthenticated`` with the hint for its AADSTS code."""
    codes = aadsts_codes(result)
    error = str(result.get("error") or "sign_in_failed")
    described = first_line(str(result.get("error_description") or ""))
    source = "The managed identity endpoint" if context.mode == "managed_identity" else "Entra ID"
    message = f"{source} refused the {context.mode} sign-in: {described or error}"
    hint = next((HINTS[code] for code in codes if code in HINTS), None)
    if hint is None:
        hint = _fallback_hint(error, context)
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        message,
        hint=_fill(hint, context),
        dataverse_code=f"AADSTS{codes[0]}" if codes else None,
    )


def _fallback_hint(error: str, context: SignInContext) -> str:
    if context.mode == "managed_identity":
        return (
            "The Azure resource has no usable managed identity. Turn on its system-assigned identity (Identity > "
            "System assigned > On), or attach a user-assigned identity and set DATAVERSE_MANAGED_IDENTITY_CLIENT_ID "
            "to that identity's client id; then add it as a Dataverse application user with a security role."
        )
    if error == "invalid_client":
        return HINTS[7000215] if context.mode in ("client_secret", "on_behalf_of") else HINTS[700027]
    if error in ("authorization_declined", "access_denied"):
        return "The person declined the sign-in. If that was a mistake, {again}."
    if error in ("expired_token", "code_expired"):
        return "The sign-in code expired before it was used. Call the tool again for a new code."
    return (
        "Check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential for this mode, then restart; the Entra "
        "sign-in logs (Entra ID > Monitoring > Sign-in logs) show the full reason."
    )


_AGAIN = {
    "device_code": "call the tool again for a new code",
    "interactive": "call the tool again to open the browser sign-in",
}


# on_behalf_of: the server app's settings are the Entra sign-in's (config/entra.py), not DATAVERSE_*'s.
_ENTRA_VARIABLES = {
    "DATAVERSE_CLIENT_SECRET": "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET",
    "DATAVERSE_CLIENT_CERTIFICATE": "DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE",
    "DATAVERSE_CLIENT_ID": "DESKTOP_FLOWS_ENTRA_CLIENT_ID",
    "DATAVERSE_TENANT_ID": "DESKTOP_FLOWS_ENTRA_TENANT_ID",
}


def _fill(hint: str, context: SignInContext) -> str:
    if context.mode == "on_behalf_of":
        for variable, instead in _ENTRA_VARIABLES.items():
            hint = hint.replace(variable, instead)
    return hint.format(
        client_id=context.client_id or "(not set)",
        the_tenant=f"tenant {context.tenant}" if context.tenant else "the tenant you signed in to",
        url=context.dataverse_url,
        authority=context.authority_host or "Entra ID",
        again=_AGAIN.get(context.mode, "retry the call; a new token is requested"),
    )


def application_user_hint(context: SignInContext) -> str:
    """Entra gave a token but Dataverse will not take it: the identity is not a Dataverse user."""
    if context.mode in ("client_secret", "certificate", "managed_identity"):
        return (
            "Entra issued a token, but Dataverse did not accept the identity. "
            + _fill(_APP_USER_STEPS, context)
            + " Also check that DATAVERSE_URL is an environment of tenant {tenant}.".format(
                tenant=context.tenant or "(the app's tenant)"
            )
        )
    return (
        "Entra issued a token, but Dataverse did not accept the person. Make sure they are a user of the environment "
        f"{context.dataverse_url} with a security role (Power Platform admin center > Environments > Settings > "
        "Users), and that they signed in with the account of the environment's tenant."
    )
