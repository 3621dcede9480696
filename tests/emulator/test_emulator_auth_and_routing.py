"""Bearer tokens, the run-only principal, WhoAmI, and Dataverse's answers for unknown paths."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import API, CONNECTION, INVOICE_FLOW, START, api_client, error_of

from desktop_flows_mcp.emulator import RUN_ONLY_TOKEN, Emulator, Principal, create_app

pytestmark = pytest.mark.anyio

RUN_ONLY_ID = "2c9e7a14-5b3d-4f8a-9e61-7d4b2a8c5f09"
RUN = f"workflows({INVOICE_FLOW})/Microsoft.Dynamics.CRM.RunDesktopFlow"
CANCEL = "Microsoft.Dynamics.CRM.CancelDesktopFlowRun"
BODY = {"runMode": "unattended", "connectionName": CONNECTION}


@pytest.mark.parametrize("token", [None, "not-a-known-token"])
async def test_requests_without_a_known_bearer_token_get_401_with_the_tenant_challenge(
    emulator: Emulator, token: str | None
) -> None:
    async with api_client(emulator, token) as anonymous:
        response = await anonymous.get("workflows")

    status, code, _ = error_of(response)
    assert (status, code) == (401, "0x8005F101")
    assert response.headers["WWW-Authenticate"] == (
        "Bearer authorization_uri=https://login.microsoftonline.com/6b1e3c52-2f0d-4a8e-9c41-5d7f0e2a9b13"
        "/oauth2/authorize, resource_id=http://emulator.local/"
    )
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["OData-Version"] == "4.0"


async def test_whoami_names_the_calling_principal(emulator: Emulator, client: httpx.AsyncClient) -> None:
    async with api_client(emulator, RUN_ONLY_TOKEN) as run_only:
        response = await run_only.get("WhoAmI")

    assert response.json() == {
        "@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": "c8d41e9b-6a2f-4e7c-b3a1-9f5d2e8c0b47",
        "UserId": RUN_ONLY_ID,
        "OrganizationId": "3f9a2d47-8c1e-4b6a-a5d0-7e2c9b4f1a86",
    }
    assert (await client.get("WhoAmI()")).json()["UserId"] == "8d3f6b21-4c7a-4e9d-b2f8-1a6c5e9d3b70"


async def test_the_run_only_principal_lists_flows_reads_schemas_runs_and_reads_its_own_runs(
    emulator: Emulator,
) -> None:
    async with api_client(emulator, RUN_ONLY_TOKEN) as run_only:
        listed = await run_only.get("workflows", params={"$filter": "category eq 6"})
        schema = await run_only.get(f"workflows({INVOICE_FLOW})/inputs/$value")
        run_id = (await run_only.post(RUN, json=BODY)).json()["flowsessionId"]
        own = await run_only.get(f"flowsessions({run_id})")
        own_runs = await run_only.get("flowsessions", params={"$select": "_ownerid_value"})
        cancel = await run_only.post(f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")

    assert listed.status_code == schema.status_code == own.status_code == 200
    assert own.json()["_ownerid_value"] == RUN_ONLY_ID
    assert [row["flowsessionid"] for row in own_runs.json()["value"]] == [run_id]
    assert cancel.status_code == 204


async def test_the_run_only_principal_gets_403_on_runs_it_does_not_own(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    someone_elses = (await client.get("flowsessions", params={"$top": "1"})).json()["value"][0]["flowsessionid"]

    async with api_client(emulator, RUN_ONLY_TOKEN) as run_only:
        read = await run_only.get(f"flowsessions({someone_elses})")
        cancel = await run_only.post(f"flowsessions({someone_elses})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun")
        outputs = await run_only.get(f"flowsessions({someone_elses})/outputs/$value")

    status, code, message = error_of(read)
    assert (status, code) == (403, "0x80040220")
    assert message.startswith(f"Principal user (Id={RUN_ONLY_ID}, type=8) is missing prvReadflowsession privilege")
    assert error_of(cancel)[:2] == error_of(outputs)[:2] == (403, "0x80040220")


async def test_the_token_set_is_configurable() -> None:
    auditor = Principal("11111111-2222-4333-8444-555555555555", "Auditor")
    app = create_app(clock=lambda: START, tokens={"audit-token": auditor})

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=API, headers={"Authorization": "Bearer audit-token"}
    ) as client:
        whoami = await client.get("WhoAmI")
        default_token = await client.get("WhoAmI", headers={"Authorization": "Bearer emulator-demo-token"})

    assert whoami.json()["UserId"] == auditor.user_id
    assert default_token.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "segment"),
    [
        ("GET", "accounts", "accounts"),
        ("GET", "workflow", "workflow"),
        ("POST", f"workflows({INVOICE_FLOW})/RunDesktopFlow", "RunDesktopFlow"),
        ("POST", f"workflows({INVOICE_FLOW})/{CANCEL}", CANCEL),
        ("GET", f"workflows({INVOICE_FLOW})/inputs/value", "value"),
    ],
)  # fmt: skip
async def test_unknown_entity_sets_and_actions_are_404_resource_not_found(
    client: httpx.AsyncClient, method: str, path: str, segment: str
) -> None:
    response = await client.request(method, path)

    assert error_of(response) == (404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


async def test_a_wrong_http_method_is_405(client: httpx.AsyncClient) -> None:
    assert error_of(await client.delete(f"workflows({INVOICE_FLOW})"))[:2] == (405, "0x80040315")
    assert (await client.get(RUN)).status_code == 405


async def test_reading_a_memo_property_without_value_wraps_it_in_odata_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"workflows({INVOICE_FLOW})/inputs")

    body = response.json()
    assert body["@odata.context"] == f"{API}$metadata#workflows({INVOICE_FLOW})/inputs"
    assert body["value"].startswith('{"schema"')


async def test_single_record_reads_reject_collection_options(client: httpx.AsyncClient) -> None:
    response = await client.get(f"workflows({INVOICE_FLOW})", params={"$filter": "category eq 6"})

    assert error_of(response)[:2] == (400, "0x0")


async def test_connection_references_can_be_read_by_id(client: httpx.AsyncClient) -> None:
    found = await client.get("connectionreferences(4e8b2d6a-3c9f-4a1e-b7d5-6f2a8c4e1b93)")
    missing = await client.get("connectionreferences(4e8b2d6a-3c9f-4a1e-b7d5-6f2a8c4e1b94)")

    assert found.json()["connectionreferencelogicalname"] == "contoso_DesktopFlowsFinanceBots"
    assert error_of(missing)[:2] == (404, "0x80040217")
