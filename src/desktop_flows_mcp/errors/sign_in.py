"""Signing in to Entra ID failed on this side of Entra's own answer: no token configured, the network, msal, the
person (no browser, too slow, the wrong account). Entra's refusals with an AADSTS code are worded in
entra.py, from the table of hints by code in ``knowledge.aadsts``."""

from __future__ import annotations

from .taxonomy import DesktopFlowsError, ErrorCode

ONLY_ON_AZURE = (
    "DATAVERSE_AUTH=managed_identity works only on an Azure resource (VM, App Service, Functions, Container Apps, "
    "Arc) that has a managed identity."
)
ENTRA_NETWORK_HINT = "Check the network, a proxy (HTTPS_PROXY) and DATAVERSE_AUTHORITY_HOST, then retry."
MANAGED_IDENTITY_NETWORK_HINT = (
    "Retry in a few seconds. If it keeps failing: " + ONLY_ON_AZURE + " Enable one on the resource, or use "
    "another mode."
)


def no_access_token() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        "No access token is configured.",
        hint="Set DATAVERSE_ACCESS_TOKEN to a bearer token for DATAVERSE_URL and restart the server.",
    )


def msal_failed(mode: str, exception_name: str) -> DesktopFlowsError:
    """msal's own errors (MsalServiceError on an unexpected HTTP status, ...); their text is never passed on."""
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE,
        f"Entra ID answered the {mode} sign-in unexpectedly ({exception_name}).",
        hint="Retry in a few seconds; if it persists, check DATAVERSE_AUTHORITY_HOST and the network proxy.",
        retryable=True,
    )


def authority_unreadable(authority: str, hint: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED, f"Could not read the sign-in configuration of {authority}.", hint=hint
    )


def settings_unusable(mode: str, exception_name: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"msal could not use the {mode} sign-in settings ({exception_name}).",
        hint="Check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential variables, then restart.",
    )


def managed_identity_unusable(exception_name: str, *, not_a_token: bool) -> DesktopFlowsError:
    """``not_a_token``: something that is not Azure's token service answered (its body was not JSON)."""
    if not_a_token:
        message = (
            "The managed identity endpoint answered with something that is not a token: this machine does not "
            "look like an Azure resource with a managed identity."
        )
    else:
        message = f"msal could not use this machine's managed identity ({exception_name})."
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        message,
        hint=ONLY_ON_AZURE + " For a user-assigned identity set DATAVERSE_MANAGED_IDENTITY_CLIENT_ID to its "
        "client id. Off Azure, choose another DATAVERSE_AUTH (client_secret, certificate, device_code) and "
        "restart.",
    )


def sign_in_unreachable(endpoint: str, exception_name: str, hint: str) -> DesktopFlowsError:
    """``endpoint`` reads like "Entra ID at login.example" or "the managed identity endpoint"."""
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE, f"Could not reach {endpoint} ({exception_name}).", hint=hint, retryable=True
    )


def sign_in_stalled(endpoint: str, seconds: float, hint: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE,
        f"{endpoint[:1].upper() + endpoint[1:]} did not answer within {seconds:g} s, the time a tool call may spend "
        "signing in.",
        hint=hint,
        retryable=True,
    )


def sign_in_network_failed(authority_host: str | None, described: object) -> DesktopFlowsError:
    """A device-code or browser sign-in that could not reach Entra to finish."""
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE,
        f"Could not reach Entra ID at {authority_host} to finish the sign-in ({described}).",
        hint="Check the network and a proxy (HTTPS_PROXY), then call the tool again.",
        retryable=True,
    )


def several_cached_accounts(names: list[str]) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"The sign-in cache holds {len(names)} accounts ({', '.join(names)}) and DATAVERSE_USERNAME does not "
        "say which one to use.",
        hint="Ask the person which account should run desktop flows, set DATAVERSE_USERNAME to it, and "
        "restart the server.",
    )


def wrong_account(signed_in: str, wanted: str) -> DesktopFlowsError:
    """A finished sign-in as someone other than DATAVERSE_USERNAME: that token is not used."""
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"The person signed in as {signed_in or 'another account'}, but DATAVERSE_USERNAME is {wanted}.",
        hint=f"Call the tool again and sign in as {wanted}, or change DATAVERSE_USERNAME and restart.",
    )


def no_token_for_resource(resource: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"No signed-in account could get a token for {resource}.",
        hint="Call check_access to sign in again, then retry.",
    )


def browser_sign_in_timed_out(seconds: float) -> DesktopFlowsError:
    duration = f"{round(seconds / 60)} minutes" if seconds >= 120 else f"{seconds:g} seconds"
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"The browser sign-in was not finished within {duration}.",
        hint="Call the tool again to open a new browser window, and ask the person to finish signing in "
        "there soon; or set DATAVERSE_AUTH=device_code and restart.",
    )


def no_browser() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        "No browser could be opened on the machine running this server.",
        hint="Set DATAVERSE_AUTH=device_code (the person signs in on any device) and restart the server.",
    )


# On behalf of the caller (DATAVERSE_AUTH=on_behalf_of): Dataverse is called as the person calling this server.


def no_caller_token() -> DesktopFlowsError:
    """Work with no caller behind it (a background read nobody asked for) cannot sign in as anyone."""
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        "This server calls Dataverse as the person calling it, and this work has no signed-in caller.",
        hint="Call the tool over this server's HTTP endpoint with the MCP client signed in to Entra ID.",
    )


def caller_token_expired() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        "The caller's sign-in to this server has expired, so no Dataverse token may be used for them any more.",
        hint="Call again: the MCP client gets a new token for this server (signing in again if it must).",
    )


def claims_challenge(status_sent: bool) -> DesktopFlowsError:
    """Conditional Access or MFA asks more of the person's sign-in; ``status_sent``: the HTTP answer is the 401
    challenge (``WWW-Authenticate: Bearer error="insufficient_claims", claims=...``)."""
    how = (
        "This server answered 401 with a claims challenge: the MCP client must sign in again with those claims"
        if status_sent
        else "Sign in to the MCP client again (the next call is answered 401 with the claims challenge)"
    )
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        "Entra ID needs more of the person's sign-in (Conditional Access or multi-factor authentication) before it "
        "gives a Dataverse token on their behalf.",
        hint=how + ", then call again.",
        http_status=401,
        dataverse_code="insufficient_claims",
    )


def on_behalf_of_consent_missing(client_id: str, dataverse_url: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.UNAUTHENTICATED,
        f"Entra ID refused to sign in to {dataverse_url} on the caller's behalf: app {client_id} has no consent "
        "for Dataverse (AADSTS65001).",
        hint=f"An Entra administrator must grant admin consent once: Entra ID > App registrations > (app {client_id})"
        " > API permissions > add Dynamics CRM > user_impersonation > 'Grant admin consent for <tenant>'. Then call "
        "again; people cannot consent here themselves, since this server signs in without them.",
        dataverse_code="AADSTS65001",
    )
