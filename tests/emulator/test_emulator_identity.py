"""The caller's systemuser row and the Global Discovery Service, which check_access and list_environments read."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import API, BASE, api_client, error_of

from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator

pytestmark = pytest.mark.anyio
DEMO_ID = "8d3f6b21-4c7a-4e9d-b2f8-1a6c5e9d3b70"


async def test_the_caller_reads_its_own_systemuser_row_with_select(emulator: Emulator) -> None:
    async with api_client(emulator) as client:
        response = await client.get(f"systemusers({DEMO_ID})", params={"$select": "fullname,applicationid,isdisabled"})
        other = await client.get("systemusers(00000000-0000-0000-0000-000000000009)")
        unknown_column = await client.get(f"systemusers({DEMO_ID})", params={"$select": "nickname"})
    body = response.json()
    assert body["@odata.context"] == f"{API}$metadata#systemusers(fullname,applicationid,isdisabled)/$entity"
    assert body["@odata.etag"] == 'W/"1004211"'
    assert {k: body[k] for k in ("fullname", "applicationid", "isdisabled")} == {
        "fullname": "Avery Demo (emulator)",
        "applicationid": None,
        "isdisabled": False,
    }
    assert error_of(other)[:2] == (404, "0x80040217")
    assert unknown_column.status_code == 400


async def test_global_discovery_lists_the_emulator_itself_for_a_signed_in_caller(emulator: Emulator) -> None:
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        anonymous = await client.get("/api/discovery/v2.0/Instances")
        listed = await client.get(
            "/api/discovery/v2.0/Instances", headers={"Authorization": f"Bearer {EMULATOR_TOKEN}"}
        )
    assert anonymous.status_code == 401
    [instance] = listed.json()["value"]
    assert instance["Url"] == instance["ApiUrl"] == BASE
    assert instance["State"] == 0
    assert instance["FriendlyName"] == "Dataverse emulator"
