"""Turn an Entra ID refusal into an ``unauthenticated`` error that says what to fix.

Entra answers a failed token request with ``error``, ``error_description`` ("AADSTS7000215: Invalid client
secret provided. ...  Trace ID: ...") and ``error_codes`` ([7000215]). The number names the cause far better
than the text, so the hint comes from this table; the message keeps only Entra's first sentence line (the
trace and correlation ids are noise to an agent). Entra never echoes secrets, and neither do we.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DesktopFlowsError, ErrorCode


@dataclass(frozen=True)
class SignInContext:
    """What a hint may name: never a secret."""

    mode: str
    dataverse_url: str
    client_id: str | None = None
    tenant: str | None = None
    authority_host: str | None = None


_APP_USER_STEPS = (
    "In the Power Platform admin center open Environments > (this environment) > Settings > Users + permissions > "
    "Application users > New app user, pick the app with client id {client_id}, and give it a security role."
)

# AADSTS code → what to do. Placeholders: {client_id}, {tenant}, {url}, {authority}.
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
        "No application with client id {client_id} exists in tenant {tenant}. Check DATAVERSE_CLIENT_ID against the "
        "app's 'Application (client) ID' (not its Object ID) and DATAVERSE_TENANT_ID against the 'Directory (tenant) "
        "ID' on the app's Overview page."
    ),
    90002: (
        "Tenant {tenant} was not found in {authority}. Set DATAVERSE_TENANT_ID to the 'Directory (tenant) ID' GUID "
        "from the app's Overview page (or the tenant's primary domain), and check that the cloud is right "
        "(DATAVERSE_AUTHORITY_HOST)."
    ),
    900023: (
        "DATAVERSE_TENANT_ID ({tenant}) is not a valid tenant. Use the 'Directory (tenant) ID' GUID or the tenant's "
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
        "Dataverse ({url}) is not known in tenant {tenant}: DATAVERSE_URL and DATAVERSE_TENANT_ID point to different "
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
        "The account signed in belongs to another tenant than {tenant}. Sign in with an account of that tenant, or "
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
    70008: "The sign-in has expired or was revoked. Sign in again (restart the server to get a new code).",
    700082: "The sign-in has expired after a long time unused. Sign in again (call the tool again for a new code).",
    50173: "The sign-in is no longer valid because the password changed. Sign in again.",
    7000112: "App {client_id} is disabled in Entra ID. An administrator must enable it (Enterprise applications).",
    50034: "The account does not exist in tenant {tenant}. Sign in with an account of that tenant.",
    50126: "The user name or password is wrong.",
    50053: "The account is locked after too many failed sign-ins. Wait, or ask an administrator to unlock it.",
    50057: "The account is disabled. Ask an administrator to enable it.",
}

_CODE = re.compile(r"AADSTS(\d+)")


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
        return HINTS[7000215] if context.mode == "client_secret" else HINTS[700027]
    if error in ("authorization_declined", "access_denied"):
        return "The person declined the sign-in. Call the tool again to get a new code if that was a mistake."
    if error in ("expired_token", "code_expired"):
        return "The sign-in code expired before it was used. Call the tool again for a new code."
    return (
        "Check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential for this mode, then restart; the Entra "
        "sign-in logs (Entra ID > Monitoring > Sign-in logs) show the full reason."
    )


def _fill(hint: str, context: SignInContext) -> str:
    return hint.format(
        client_id=context.client_id or "(not set)",
        tenant=context.tenant or "(not set)",
        url=context.dataverse_url,
        authority=context.authority_host or "Entra ID",
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
