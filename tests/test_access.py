"""check_access and list_environments end to end: MCP client → server → real msal (fake Entra) → Dataverse (respx)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.auth import StaticTokenProvider, TokenProvider
from desktop_flows_mcp.config import EMULATOR_URL, Settings
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import FakeEntra
from tests.fakes.gds import CONTOSO, GDS_URL, FakeGlobalDiscovery
from tests.fakes.msal_http import MsalHttpClient

pytestmark = pytest.mark.anyio

URL = "https://contoso.crm.dynamics.com"
API = URL + "/api/data/v9.2/"
TENANT = "11111111-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
USER_ID = "0a1b2c3d-0000-0000-0000-00000000000a"
PRIVILEGE_DENIED = {
    "error": {
        "code": "0x80040220",
        "message": "Principal user (Id=0a1b2c3d-...) is missing prvReadflowsession privilege.",
    }
}


def secret_settings() -> Settings:
    return Settings.from_env(
        {
            "DATAVERSE_URL": URL,
            "DATAVERSE_TENANT_ID": TENANT,
            "DATAVERSE_CLIENT_ID": APP,
            "DATAVERSE_CLIENT_SECRET": FakeEntra().secret,
        }
    )


def secret_provider(entra: FakeEntra) -> TokenProvider:
    return build_token_provider(secret_settings(), http_client=MsalHttpClient(entra))


@pytest.fixture
def dataverse() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        router.get("WhoAmI").respond(200, json={"UserId": USER_ID, "BusinessUnitId": "b-u", "OrganizationId": "o-r-g"})
        router.get(f"systemusers({USER_ID})").respond(
            200, json={"fullname": "# desktop-flows-mcp", "applicationid": APP, "isdisabled": False}
        )
        router.get("workflows").respond(200, json={"value": []})
        router.get("flowsessions").respond(403, json=PRIVILEGE_DENIED)
        router.get("connectionreferences").respond(200, json={"value": []})
        router.get("flowmachines").respond(200, json={"value": []})
        router.get("flowlogs").respond(200, json={"value": []})
        yield router


async def call(provider: TokenProvider, settings: Settings, tool: str) -> tuple[bool, dict[str, Any]]:
    async with Client(build_server(App(settings, token_provider=provider))) as client:
        result = await client.call_tool(tool, {})
    return bool(result.is_error), dict(result.structured_content or {})


async def test_check_access_reports_each_probe_and_the_fix_for_the_one_that_fails(dataverse: respx.MockRouter) -> None:
    entra = FakeEntra()

    is_error, report = await call(secret_provider(entra), secret_settings(), "check_access")

    assert not is_error
    assert (report["environment_url"], report["auth_mode"], report["cloud"]) == (URL, "client_secret", "commercial")
    assert report["identity"] == {
        "user_id": USER_ID,
        "business_unit_id": "b-u",
        "organization_id": "o-r-g",
        "name": "# desktop-flows-mcp",
        "kind": "application",
    }
    verdicts = {probe["check"]: (probe["ok"], probe.get("error_code")) for probe in report["probes"]}
    assert verdicts == {
        "who_am_i": (True, None),
        "list_desktop_flows": (True, None),
        "read_run_history": (False, "permission_denied"),
        "list_connection_references": (True, None),
        "list_machines": (True, None),
        "read_run_logs": (True, None),
    }
    failed = report["probes"][2]
    assert "prvReadflowsession" in failed["fix"] and "Application users" in failed["fix"]
    assert failed["dataverse_code"] == "0x80040220"
    assert report["all_ok"] is False and report["next_step"].startswith("Fix 'read_run_history'")
    assert entra.token_forms[0]["scope"] == f"{URL}/.default"


async def test_without_machine_and_log_privileges_check_access_says_diagnosis_is_partial_and_names_them(
    dataverse: respx.MockRouter,
) -> None:
    dataverse.get("flowsessions").respond(200, json={"value": []})
    dataverse.get("flowmachines").respond(403, json=PRIVILEGE_DENIED)
    dataverse.get("flowlogs").respond(403, json=PRIVILEGE_DENIED)

    is_error, report = await call(secret_provider(FakeEntra()), secret_settings(), "check_access")

    failed = {probe["check"]: probe["fix"] for probe in report["probes"] if not probe["ok"]}
    assert not is_error and set(failed) == {"list_machines", "read_run_logs"}
    assert "prvReadflowmachine" in failed["list_machines"] and "prvReadflowlog" in failed["read_run_logs"]
    assert report["all_ok"] is False
    assert report["next_step"].startswith("This identity can list desktop flows")
    assert "Run diagnosis will be partial until" in report["next_step"]


async def test_a_token_dataverse_refuses_is_refreshed_once_retried_once_then_blamed_on_the_application_user(
    dataverse: respx.MockRouter,
) -> None:
    entra = FakeEntra()
    dataverse.get("WhoAmI").respond(401, headers={"WWW-Authenticate": "Bearer authorization_uri=https://x/y"})

    is_error, report = await call(secret_provider(entra), secret_settings(), "check_access")

    assert not is_error
    assert [probe["check"] for probe in report["probes"]] == ["who_am_i"]  # the rest would fail the same way
    probe = report["probes"][0]
    assert (probe["error_code"], probe["http_status"]) == ("unauthenticated", 401)
    assert "Application users > New app user" in probe["fix"] and APP in probe["fix"]
    requests: list[httpx.Request] = [call.request for call in dataverse.calls]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # respx is untyped here
    assert sum(request.url.path.endswith("/WhoAmI") for request in requests) == 2
    assert entra.grants() == ["client_credentials", "client_credentials"]  # one forced refresh, no loop


async def test_a_failed_sign_in_is_the_tool_error_itself(dataverse: respx.MockRouter) -> None:
    is_error, body = await call(secret_provider(FakeEntra(secret="rotated")), secret_settings(), "check_access")

    assert is_error
    assert body["error"]["code"] == "unauthenticated"
    assert body["error"]["dataverse_code"] == "AADSTS7000215"
    assert not dataverse.calls


async def test_device_code_prompt_reaches_the_agent_and_the_next_call_succeeds(
    dataverse: respx.MockRouter, tmp_path: Path
) -> None:
    entra = FakeEntra()
    settings = Settings.from_env(
        {"DATAVERSE_URL": URL, "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TOKEN_CACHE_DIR": str(tmp_path)}
    )
    provider = build_token_provider(settings, http_client=MsalHttpClient(entra))
    assert isinstance(provider, DeviceCodeProvider)
    gds = FakeGlobalDiscovery(accepted_tokens={"fake-access-token-2"})
    dataverse.route(host="globaldisco.crm.dynamics.com").mock(side_effect=gds)
    try:
        async with Client(build_server(App(settings, token_provider=provider))) as client:
            first = await client.call_tool("check_access", {})
            entra.approve("FAKE-0001")
            second = await client.call_tool("check_access", {})
            environments = await client.call_tool("list_environments", {})
    finally:
        provider.close()

    assert first.is_error
    body: dict[str, Any] = first.structured_content or {}
    prompt: dict[str, Any] = body["error"]
    assert "FAKE-0001" in prompt["message"] and "https://microsoft.com/devicelogin" in prompt["hint"]
    assert not second.is_error
    assert (second.structured_content or {})["auth_mode"] == "device_code"
    listed: dict[str, Any] = environments.structured_content or {}
    assert listed["source"] == "global_discovery"
    environment_rows: list[dict[str, Any]] = listed["environments"]
    assert [(env["url"], env["is_current"], env["state"]) for env in environment_rows] == [
        (CONTOSO["Url"], True, "enabled"),
        ("https://contoso-test.crm4.dynamics.com", False, "disabled"),
    ]
    assert gds.requests[0].url.host == httpx.URL(GDS_URL).host


async def test_list_environments_with_app_sign_in_returns_the_configured_environment_and_why() -> None:
    is_error, listed = await call(StaticTokenProvider("t"), secret_settings(), "list_environments")

    assert not is_error
    assert listed["source"] == "configured"
    assert listed["environments"] == [
        {
            "url": URL,
            "is_current": True,
        }
    ]
    assert "device_code or interactive" in listed["note"]


async def test_in_emulator_mode_list_environments_asks_the_emulator_itself() -> None:
    seen: list[httpx.Request] = []

    def emulator(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        instance = {**CONTOSO, "Url": EMULATOR_URL, "ApiUrl": EMULATOR_URL, "FriendlyName": "Dataverse emulator"}
        return httpx.Response(200, json={"value": [instance]})

    settings = Settings.from_env({}, {"DESKTOP_FLOWS_EMULATOR": True})
    server = build_server(
        App(
            settings,
            dataverse_transport=httpx.MockTransport(emulator),
            token_provider=StaticTokenProvider("demo", mode="emulator"),
        )
    )
    async with Client(server) as client:
        result = await client.call_tool("list_environments", {})

    listed: dict[str, Any] = result.structured_content or {}
    rows: list[dict[str, Any]] = listed["environments"]
    assert [(env["url"], env["is_current"]) for env in rows] == [(EMULATOR_URL, True)]
    assert str(seen[0].url).startswith(f"{EMULATOR_URL}/api/discovery/v2.0/Instances?")
    assert seen[0].headers["Authorization"] == "Bearer demo"


async def test_the_access_tools_are_read_only() -> None:
    async with Client(build_server(App(secret_settings(), token_provider=StaticTokenProvider("t")))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    for name in ("check_access", "list_environments"):
        hints = tools[name].annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
            True,
            False,
            True,
            False,
        )
