"""Behind Entra: the emulator takes only Entra-signed tokens for itself, and answers each person as themselves."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_helpers import BASE, CONNECTION, EMULATOR_TOKEN, INVOICE_FLOW, api_client, error_of

from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.emulator.bearer import ALICE_USER as ALICE
from desktop_flows_mcp.emulator.bearer import BOB_USER as BOB
from desktop_flows_mcp.emulator.bearer import SignedTokens

pytestmark = pytest.mark.anyio

ISSUER = "https://sts.windows.net/6b1e3c52-2f0d-4a8e-9c41-5d7f0e2a9b13/"
ALICE_OID, BOB_OID, STRANGER_OID = "aaaa0000-0000-4000-8000-00000000a11c", "bbbb0000-0000-4000-8000-000000000b0b", "c"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RUN = f"workflows({INVOICE_FLOW})/Microsoft.Dynamics.CRM.RunDesktopFlow"
BODY = {"runMode": "unattended", "connectionName": CONNECTION}


def token(oid: str, *, audience: str = BASE, key: Any = KEY, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"aud": audience, "iss": ISSUER, "oid": oid, "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": "k1"})


@pytest.fixture
def behind_entra() -> Emulator:
    tokens = SignedTokens(
        lambda kid: KEY.public_key() if kid == "k1" else None, ISSUER, BASE, {ALICE_OID: ALICE, BOB_OID: BOB}
    )
    return Emulator(signed_tokens=tokens)


async def test_each_person_is_answered_as_themselves_and_their_runs_carry_them(behind_entra: Emulator) -> None:
    async with api_client(behind_entra, token(ALICE_OID)) as alice, api_client(behind_entra, token(BOB_OID)) as bob:
        alice_run = (await alice.post(RUN, json=BODY)).json()["flowsessionId"]
        bob_run = (await bob.post(RUN, json=BODY)).json()["flowsessionId"]
        who = [(await person.get("WhoAmI")).json()["UserId"] for person in (alice, bob)]
        own = await alice.get(f"flowsessions({alice_run})", params={"$select": "_createdby_value,_ownerid_value"})
        others = await alice.get(f"flowsessions({bob_run})")
        listed = await bob.get("flowsessions", params={"$select": "_createdby_value"})

    assert who == [ALICE.user_id, BOB.user_id]
    assert (own.json()["_createdby_value"], own.json()["_ownerid_value"]) == (ALICE.user_id, ALICE.user_id)
    assert error_of(others)[:2] == (403, "0x80040220")  # user-level read: Bob's run is not Alice's to see
    assert [row["_createdby_value"] for row in listed.json()["value"]] == [BOB.user_id]
    assert behind_entra.signed_tokens is not None
    assert Counter(behind_entra.signed_tokens.seen) == {ALICE.user_id: 4, BOB.user_id: 3}


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(token(ALICE_OID, audience="api://0f4c7b1e-9a2d-4e58-b6c3-5d1e8f2a7c90"), id="the MCP token"),
        pytest.param(token(ALICE_OID, exp=int(time.time()) - 60), id="expired"),
        pytest.param(token(ALICE_OID, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), id="key"),
        pytest.param(token(ALICE_OID, key="a-shared-secret-0123456789abcdef", algorithm="HS256"), id="HS256"),
        pytest.param(token(ALICE_OID, iss="https://sts.windows.net/another-tenant/"), id="tenant"),
        pytest.param(EMULATOR_TOKEN, id="demo token"),
    ],
)
async def test_anything_but_an_entra_token_for_this_environment_is_401(behind_entra: Emulator, presented: str) -> None:
    async with api_client(behind_entra, presented) as caller:
        answer = await caller.get("WhoAmI")

    assert error_of(answer)[:2] == (401, "0x8005F101")
    assert behind_entra.signed_tokens is not None and behind_entra.signed_tokens.seen == []


async def test_a_person_who_is_not_a_user_of_the_environment_is_refused(behind_entra: Emulator) -> None:
    async with api_client(behind_entra, token(STRANGER_OID)) as stranger:
        answer = await stranger.get("WhoAmI")

    assert error_of(answer) == (401, "0x80072560", "The user is not a member of the organization.")
