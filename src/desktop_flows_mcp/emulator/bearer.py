"""Signed bearer tokens: the emulator as a Dataverse environment behind Entra ID (the on-behalf-of demo and tests).

With ``SignedTokens`` the emulator takes no fixed demo token. A bearer must be a JWT that:

    is RS256, signed by a key of the emulator's Entra (``key_for``: its public key by ``kid``), issued by it
        (``issuer``), not expired
    is for this environment: ``aud`` = the environment URL; a token for the MCP server (its client passing its own
        token through, which the MCP authorization spec forbids) or for anyone else is 401
    names a person (``oid``) who is a user of the environment (``users``: Entra object id → systemuser); any
        other is 401 0x80072560 "not a member of the organization"

Each accepted token is recorded by its person (``seen``), and each refused one counted (``refused``), so tests can
show the emulator only ever saw exchanged tokens. People are basic users unless said otherwise: they read the runs
they own, not others' (``Principal.reads_all_runs``), as Dataverse's user-level read privilege has it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .errors import NOT_AUTHENTICATED, DataverseError
from .principals import Principal

NOT_A_MEMBER = "0x80072560"

ALICE_USER = Principal(
    "5a11ce00-7c2e-4b8d-9f31-0a4e6b2d8c15",
    "Alice Example",
    reads_all_runs=False,
    domain_name="alice@contoso.example",
)
BOB_USER = Principal(
    "b0b00000-3d9a-4e51-8c27-6f1e0b9a4d72",
    "Bob Example",
    reads_all_runs=False,
    domain_name="bob@contoso.example",
)


@dataclass
class SignedTokens:
    """Who may call: Entra-signed tokens for ``audience``, their ``oid`` looked up in ``users``."""

    key_for: Callable[[str], Any]  # kid → the Entra signing key's public half, or None for a key it never had
    issuer: str
    audience: str
    users: Mapping[str, Principal]
    seen: list[str] = field(default_factory=list[str])  # the user id of each accepted token, in order
    refused: int = 0

    def principal(self, token: str) -> Principal:
        try:
            key = self.key_for(str(jwt.get_unverified_header(token).get("kid")))
            if key is None:
                raise jwt.InvalidKeyError("unknown kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audience.rstrip("/"),
                issuer=self.issuer,
                options={"require": ["exp", "aud", "iss", "oid"]},
            )
        except jwt.InvalidTokenError as error:
            self.refused += 1
            raise _refused(f"The access token is not valid for this environment ({type(error).__name__}).") from None
        principal = self.users.get(str(claims["oid"]))
        if principal is None:
            self.refused += 1
            raise DataverseError(401, NOT_A_MEMBER, "The user is not a member of the organization.")
        self.seen.append(principal.user_id)
        return principal


def _refused(message: str) -> DataverseError:
    return DataverseError(401, NOT_AUTHENTICATED, message)
