"""Entra ID's refusals by AADSTS code: what to do about each, as text with placeholders (pure data).

``errors.entra`` words an ``unauthenticated`` error from these; the sign-in's settings fill the placeholders in.
"""

from __future__ import annotations

APP_USER_STEPS = (
    "In the Power Platform admin center open Environments > (this environment) > Settings > Users + permissions > "
    "Application users > New app user, pick the app with client id {client_id}, and give it a security role."
)

# AADSTS code → what to do. Placeholders: {client_id}; {the_tenant} ("tenant X", or "the tenant you signed in to"
# when DATAVERSE_TENANT_ID is not set); {url}; {authority}; {again} (how this mode signs in again).
AADSTS_HINTS: dict[int, str] = {
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

# How each mode signs in again ({again}); other modes retry with a new token.
AGAIN = {
    "device_code": "call the tool again for a new code",
    "interactive": "call the tool again to open the browser sign-in",
}


# on_behalf_of: the server app's settings are the Entra sign-in's (config/entra.py), not DATAVERSE_*'s.
ENTRA_VARIABLES = {
    "DATAVERSE_CLIENT_SECRET": "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET",
    "DATAVERSE_CLIENT_CERTIFICATE": "DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE",
    "DATAVERSE_CLIENT_ID": "DESKTOP_FLOWS_ENTRA_CLIENT_ID",
    "DATAVERSE_TENANT_ID": "DESKTOP_FLOWS_ENTRA_TENANT_ID",
}
