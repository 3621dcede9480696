"""The emulator's fake Entra: the tenant's keys and OpenID configuration on the wire, and the tokens it signs."""

from __future__ import annotations

import httpx
import jwt
import pytest

from desktop_flows_mcp.emulator.entra import ALICE, DEMO_CLIENT_APP_ID, DEMO_CLIENT_ID, DEMO_TENANT_ID, FakeEntra

pytestmark = pytest.mark.anyio
AUTHORITY = "https://login.microsoftonline.com"


async def test_keys_and_configuration_are_served_per_tenant_and_verify_what_it_signs() -> None:
    entra = FakeEntra(clock=lambda: 1_900_000_000.0)
    async with httpx.AsyncClient(transport=entra.transport(), base_url=AUTHORITY) as http:
        configuration = (await http.get(f"/{DEMO_TENANT_ID}/v2.0/.well-known/openid-configuration")).json()
        keys = (await http.get(f"/{DEMO_TENANT_ID}/discovery/v2.0/keys")).json()
        entra.down = True
        down = await http.get(f"/{DEMO_TENANT_ID}/discovery/v2.0/keys")
    assert configuration["issuer"] == f"{AUTHORITY}/{DEMO_TENANT_ID}/v2.0"
    assert configuration["jwks_uri"] == f"{AUTHORITY}/{DEMO_TENANT_ID}/discovery/v2.0/keys"
    assert down.status_code == 503 and entra.key_requests == 1
    token = entra.mint(ALICE)
    key = jwt.PyJWK(keys["keys"][0])
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=DEMO_CLIENT_ID,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims == claims | {
        "iss": f"{AUTHORITY}/{DEMO_TENANT_ID}/v2.0",
        "tid": DEMO_TENANT_ID,
        "oid": ALICE.oid,
        "preferred_username": ALICE.upn,
        "scp": "Flows.Run",
        "azp": DEMO_CLIENT_APP_ID,
        "nbf": 1_900_000_000,
        "exp": 1_900_003_600,
        "ver": "2.0",
    }
    assert claims["sub"] != ALICE.oid  # pairwise, as Entra issues it


def test_a_rotated_key_signs_from_then_on_and_the_retired_one_stays_published() -> None:
    entra = FakeEntra()
    old = entra.key
    new = entra.rotate()
    assert [key["kid"] for key in entra.jwks()["keys"]] == [new.kid, old.kid]
    assert jwt.get_unverified_header(entra.mint())["kid"] == new.kid


def test_v1_and_app_only_tokens_carry_the_claims_entra_gives_them() -> None:
    entra = FakeEntra()
    v1 = jwt.decode(entra.mint(version=1, audience="api://x"), options={"verify_signature": False})
    app = jwt.decode(entra.mint(None, roles=["Flows.Run"]), options={"verify_signature": False})
    assert v1["iss"] == f"https://sts.windows.net/{DEMO_TENANT_ID}/" and v1["upn"] == ALICE.upn and "appid" in v1
    assert app["idtyp"] == "app" and app["roles"] == ["Flows.Run"] and "scp" not in app
