"""Entra ID refused a token: an ``unauthenticated`` error that says what to fix.

Entra answers a failed token request with ``error``, ``error_description`` ("AADSTS7000215: Invalid client
secret provided. ...  Trace ID: ...") and ``error_codes`` ([7000215]). The number names the cause far better
than the text, so the hint comes from ``knowledge.aadsts``; the message keeps only Entra's first sentence line (the
trace and correlation ids are noise to an agent). Entra never echoes secrets, and neither do we.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..knowledge.aadsts import AADSTS_HINTS, AGAIN, APP_USER_STEPS, ENTRA_VARIABLES
from .taxonomy import DesktopFlowsError, ErrorCode


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
    hint = next((AADSTS_HINTS[code] for code in codes if code in AADSTS_HINTS), None)
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
        return AADSTS_HINTS[7000215] if context.mode in ("client_secret", "on_behalf_of") else AADSTS_HINTS[700027]
    if error in ("authorization_declined", "access_denied"):
        return "The person declined the sign-in. If that was a mistake, {again}."
    if error in ("expired_token", "code_expired"):
        return "The sign-in code expired before it was used. Call the tool again for a new code."
    return (
        "Check DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID and the credential for this mode, then restart; the Entra "
        "sign-in logs (Entra ID > Monitoring > Sign-in logs) show the full reason."
    )


def _fill(hint: str, context: SignInContext) -> str:
    if context.mode == "on_behalf_of":
        for variable, instead in ENTRA_VARIABLES.items():
            hint = hint.replace(variable, instead)
    return hint.format(
        client_id=context.client_id or "(not set)",
        the_tenant=f"tenant {context.tenant}" if context.tenant else "the tenant you signed in to",
        url=context.dataverse_url,
        authority=context.authority_host or "Entra ID",
        again=AGAIN.get(context.mode, "retry the call; a new token is requested"),
    )


def application_user_hint(context: SignInContext) -> str:
    """Entra gave a token but Dataverse will not take it: the identity is not a Dataverse user."""
    if context.mode in ("client_secret", "certificate", "managed_identity"):
        return (
            "Entra issued a token, but Dataverse did not accept the identity. "
            + _fill(APP_USER_STEPS, context)
            + " Also check that DATAVERSE_URL is an environment of tenant {tenant}.".format(
                tenant=context.tenant or "(the app's tenant)"
            )
        )
    return (
        "Entra issued a token, but Dataverse did not accept the person. Make sure they are a user of the environment "
        f"{context.dataverse_url} with a security role (Power Platform admin center > Environments > Settings > "
        "Users), and that they signed in with the account of the environment's tenant."
    )
