"""Entra sign-in over HTTP (DESKTOP_FLOWS_HTTP_AUTH=entra): the protected-resource metadata, every token the server
must refuse and how, the signing keys' cache, and who a call is from. Over real loopback, the fake Entra of the
emulator as the tenant's authority."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.types import ToolAnnotations

from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.emulator.entra import (
    ALICE,
    BOB,
    DEMO_CLIENT_APP_ID,
    DEMO_CLIENT_ID,
    DEMO_TENANT_ID,
    V1_ISSUER_HOST,
    FakeEntra,
    SigningKey,
)
from desktop_flows_mcp.inbound.resource import resource_server
from desktop_flows_mcp.inbound.verifier import EntraTokenVerifier
from desktop_flows_mcp.logs import AUDIT
from tests.entra_stack import ENTRA_ENV, STREAMABLE, challenge_parts, entra_stack
from tests.helpers import error_of
from tests.stacks import ERAS

pytestmark = pytest.mark.anyio
PUBLIC = "https://flows.contoso.example"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
APP_ID_URI = f"api://{DEMO_CLIENT_ID}"
OTHER_TENANT = "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b"
GRAPH = "00000003-0000-0000-c000-000000000000"


async def test_the_metadata_names_the_app_id_uri_the_tenant_authority_and_both_scopes() -> None:
    async with entra_stack(DESKTOP_FLOWS_PUBLIC_URL=PUBLIC) as stack, stack.http() as http:
        answer = await http.get(METADATA_PATH)
        challenged = await http.post("/mcp", json={})
    assert answer.status_code == 200
    assert answer.json() == {
        "resource": APP_ID_URI,
        "authorization_servers": [f"https://login.microsoftonline.com/{DEMO_TENANT_ID}/v2.0"],
        "scopes_supported": [f"{APP_ID_URI}/Flows.Read", f"{APP_ID_URI}/Flows.Run"],
        "bearer_methods_supported": ["header"],
        "resource_name": "desktop-flows-mcp",
    }
    assert challenged.status_code == 401
    assert challenge_parts(challenged) == {
        "scheme": "Bearer",
        "error": "invalid_token",
        "error_description": "Authentication required",
        "resource_metadata": PUBLIC + METADATA_PATH,
        "scope": f"{APP_ID_URI}/Flows.Read {APP_ID_URI}/Flows.Run",
    }


@pytest.mark.parametrize(
    ("variable", "value", "authority"),
    [
        ("DATAVERSE_AUTHORITY_HOST", "https://login.microsoftonline.us", "https://login.microsoftonline.us"),
        ("DATAVERSE_AUTHORITY_HOST", "login.partner.microsoftonline.cn", "https://login.partner.microsoftonline.cn"),
        ("DESKTOP_FLOWS_ENTRA_APP_ID_URI", "https://flows.contoso.example/mcp", "https://login.microsoftonline.com"),
    ],
)
async def test_the_metadata_follows_the_cloud_and_the_app_id_uri(variable: str, value: str, authority: str) -> None:
    async with entra_stack(env={variable: value}) as stack, stack.http() as http:
        body = (await http.get(METADATA_PATH)).json()
    assert body["authorization_servers"] == [f"{authority}/{DEMO_TENANT_ID}/v2.0"]
    uri = value if variable == "DESKTOP_FLOWS_ENTRA_APP_ID_URI" else APP_ID_URI
    assert body["resource"] == uri
    assert all(scope.startswith(uri + "/") for scope in body["scopes_supported"])


def _refused_tokens(entra: FakeEntra) -> dict[str, str]:
    now = time.time()
    return {
        "a Graph token": entra.mint(audience=GRAPH),
        "a Dataverse token (pass-through)": entra.mint(audience="https://contoso.crm.dynamics.com"),
        "another tenant": entra.mint(tenant=OTHER_TENANT),
        "another tenant's issuer": entra.mint(iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"),
        "a key the tenant does not publish": entra.mint(key=SigningKey.generate()),
        "alg none": entra.mint(algorithm="none"),
        "HS256": entra.mint(algorithm="HS256"),
        "expired": entra.mint(lifetime=-120),
        "not valid yet": entra.mint(not_before=now + 600),
        "no oid": entra.mint(oid=None),
        "an oid that is not a GUID": entra.mint(oid="alice\ncaller=admin"),
        "neither scope nor role": entra.mint(scopes=()),
        "an app without a role": entra.mint(None),
        "an app with another role": entra.mint(None, roles=["Something.Else"]),
        "not a JWT": "not-a-jwt",
    }


async def test_every_token_that_is_not_for_this_app_or_not_valid_now_is_refused_with_401() -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        answers = {why: await stack.initialize(token) for why, token in _refused_tokens(entra).items()}
        accepted = await stack.initialize(entra.mint())
    assert accepted.status_code == 200
    assert {why: answer.status_code for why, answer in answers.items()} == dict.fromkeys(answers, 401)
    for answer in answers.values():
        assert challenge_parts(answer)["error"] == "invalid_token"
        assert "resource_metadata" in challenge_parts(answer)


async def test_a_refused_token_reaches_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    entra = FakeEntra()
    tokens = _refused_tokens(entra)
    caplog.set_level(logging.DEBUG)
    async with entra_stack(entra) as stack:
        for token in tokens.values():
            await stack.initialize(token)
    logged = caplog.text
    assert "bearer token refused: issued for another audience" in logged
    for token in tokens.values():
        assert token not in logged and token.split(".")[0] + "." not in logged


async def test_a_token_without_flows_read_or_run_gets_403_insufficient_scope() -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        answer = await stack.initialize(entra.mint(scopes=("User.Read",)))
    assert answer.status_code == 403
    assert challenge_parts(answer)["error"] == "insufficient_scope"
    assert challenge_parts(answer)["scope"] == f"{APP_ID_URI}/Flows.Read {APP_ID_URI}/Flows.Run"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"version": 1, "audience": APP_ID_URI}, id="v1 token, App ID URI audience"),
        pytest.param({"scopes": ("Flows.Read",)}, id="v2 token, Flows.Read"),
        pytest.param({"user": None, "roles": ["Flows.Run"]}, id="app-only token with the Flows.Run role"),
        pytest.param({"not_before_in": 30}, id="valid in 30 s: inside the leeway"),
    ],
)
async def test_tokens_entra_issues_for_this_app_are_accepted(claims: dict[str, Any]) -> None:
    entra = FakeEntra()
    if "not_before_in" in claims:
        claims = {"not_before": time.time() + claims.pop("not_before_in")}
    async with entra_stack(entra) as stack:
        answer = await stack.initialize(entra.mint(**claims))
    assert answer.status_code == 200


async def test_a_rotated_key_is_fetched_once_and_made_up_key_ids_do_not_hammer_entra() -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        assert (await stack.initialize(entra.mint())).status_code == 200
        assert entra.key_requests == 1
        entra.rotate()
        stack.clock.seconds += 61
        assert (await stack.initialize(entra.mint())).status_code == 200
        assert entra.key_requests == 2
        stranger = SigningKey.generate()
        garbage = [await stack.initialize(entra.mint(key=stranger)) for _ in range(5)]
        assert [answer.status_code for answer in garbage] == [401] * 5
        assert entra.key_requests == 2  # within the minute after the last fetch: no more
        stack.clock.seconds += 61
        assert (await stack.initialize(entra.mint(key=stranger))).status_code == 401
        assert entra.key_requests == 3  # once a minute at most
        assert (await stack.initialize(entra.mint())).status_code == 200  # the retired key still checks old tokens


async def test_entra_unreachable_answers_503_with_retry_after_never_500() -> None:
    entra = FakeEntra(down=True)
    async with entra_stack(entra) as stack:
        first = await stack.initialize(entra.mint())
        again = await stack.initialize(entra.mint())
        async with stack.http(entra.mint()) as http:
            health = await http.get("/health")
        entra.down = False
        stack.clock.seconds += 5
        later = await stack.initialize(entra.mint())
    assert first.status_code == again.status_code == 503
    assert first.headers["Retry-After"] == "5"
    assert first.json()["error"] == "temporarily_unavailable"
    assert health.status_code == 200
    assert later.status_code == 200


async def test_health_and_callbacks_stay_open_and_metrics_needs_a_signed_in_caller() -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack, stack.http() as anonymous, stack.http(entra.mint()) as alice:
        health = await anonymous.get("/health/live")
        callback = await anonymous.post("/callbacks/unknown-token", json={})
        metrics = await anonymous.get("/metrics")
        signed_in = await alice.get("/metrics")
    assert health.status_code == 200
    assert callback.status_code == 404  # the route answers (no public URL here): not a 401
    assert metrics.status_code == 401 and challenge_parts(metrics)["error"] == "invalid_token"
    assert challenge_parts(metrics)["scope"] == f"{APP_ID_URI}/Flows.Read {APP_ID_URI}/Flows.Run"
    assert signed_in.status_code == 404  # past the sign-in: no Prometheus exporter configured


def _probe(server: MCPServer[Any]) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def whoami() -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        token = get_access_token()
        assert token is not None
        return {
            "token": token.token,
            "subject": token.subject,
            "client_id": token.client_id,
            "expires_at": token.expires_at,
            "scopes": token.scopes,
            "claims": {k: (token.claims or {}).get(k) for k in ("tid", "oid", "preferred_username")},
        }


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_sees_the_callers_own_token_through_get_access_token(mode: str) -> None:
    entra = FakeEntra()
    alice, bob = entra.mint(ALICE), entra.mint(BOB, scopes=("Flows.Read",))
    async with entra_stack(entra, customise=_probe) as stack:
        async with stack.client(alice, mode) as client:
            as_alice = (await client.call_tool("whoami", {})).structured_content
        async with stack.client(bob, mode) as client:
            as_bob = (await client.call_tool("whoami", {})).structured_content
    assert as_alice is not None and as_bob is not None
    assert as_alice["token"] == alice and as_bob["token"] == bob
    assert as_alice["subject"] == ALICE.oid and as_bob["subject"] == BOB.oid
    assert as_alice["client_id"] == DEMO_CLIENT_APP_ID
    assert as_alice["scopes"] == ["Flows.Run", "Flows.Read"] and as_bob["scopes"] == ["Flows.Read"]
    assert as_alice["claims"] == {"tid": DEMO_TENANT_ID, "oid": ALICE.oid, "preferred_username": ALICE.upn}
    assert isinstance(as_alice["expires_at"], int) and as_alice["expires_at"] > time.time()


@pytest.mark.parametrize("mode", ERAS)
async def test_audit_lines_name_the_caller_by_tenant_and_object_id_with_their_upn(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    entra = FakeEntra()
    caplog.set_level(logging.INFO, logger=AUDIT)
    async with entra_stack(entra) as stack, stack.client(entra.mint(BOB), mode) as client:
        refused = await client.call_tool("run_desktop_flow", {"flow": "No such flow"})
    assert error_of(refused)["code"] == "not_found"
    lines = [record for record in caplog.records if record.name == AUDIT]
    assert lines, "the refused start writes an audit line"
    assert {(r.__dict__["caller"], r.__dict__["upn"]) for r in lines} == {
        (f"entra:{DEMO_TENANT_ID}/{BOB.oid}", BOB.upn)
    }


async def test_bob_cannot_use_alices_session() -> None:
    entra = FakeEntra()
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    async with entra_stack(entra) as stack:
        opened = await stack.initialize(entra.mint(ALICE))
        session = opened.headers["mcp-session-id"]
        headers = {**STREAMABLE, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        async with stack.http(entra.mint(BOB)) as bob, stack.http(entra.mint(ALICE)) as alice:
            hijack = await bob.post("/mcp", json=listing, headers=headers)
            own = await alice.post("/mcp", json=listing, headers=headers)
    assert hijack.status_code == 404
    assert own.status_code == 200 and "list_desktop_flows" in own.text


ACTING = {"run_desktop_flow", "cancel_desktop_flow_run"}


@pytest.mark.parametrize("mode", ERAS)
async def test_flows_read_sees_and_calls_only_the_read_tools_and_flows_run_sees_all(mode: str) -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        runs_before = len(stack.emulator.store.runs)
        async with stack.client(entra.mint(BOB, scopes=("Flows.Read",)), mode) as reader:
            read_names = {tool.name for tool in (await reader.list_tools()).tools}
            listed = await reader.call_tool("list_desktop_flows", {})
            refused = await reader.call_tool("cancel_desktop_flow_run", {"run_id": "not even a GUID"})
            started = await reader.call_tool("run_desktop_flow", {"flow": "Enter invoices into legacy ERP"})
        runs_after_reader = len(stack.emulator.store.runs)
        async with stack.client(entra.mint(ALICE, scopes=("Flows.Run",)), mode) as runner:
            run_names = {tool.name for tool in (await runner.list_tools()).tools}
            bad_argument = await runner.call_tool("cancel_desktop_flow_run", {"run_id": "not even a GUID"})
    assert run_names - read_names == ACTING
    assert "list_desktop_flows" in read_names and "wait_for_desktop_flow_run" in read_names
    assert not listed.is_error
    assert error_of(refused)["code"] == error_of(started)["code"] == "forbidden"  # before the argument check
    assert "Flows.Run" in error_of(refused)["message"] and error_of(refused)["retryable"] is False
    assert error_of(bad_argument)["code"] == "invalid_argument"
    assert runs_after_reader == runs_before  # nothing was started


@pytest.mark.parametrize("mode", ERAS)
async def test_per_flow_run_tools_need_flows_run_too(mode: str) -> None:
    entra = FakeEntra()
    env = {"DESKTOP_FLOWS_FLOW_TOOLS": "true", "DESKTOP_FLOWS_ALLOWED": "Enter invoices into legacy ERP"}
    async with entra_stack(entra, env=env) as stack:
        async with stack.client(entra.mint(BOB, scopes=("Flows.Read",)), mode) as reader:
            read_names = {tool.name for tool in (await reader.list_tools()).tools}
            refused = await reader.call_tool("run_enter_invoices_into_legacy_erp", {})
        async with stack.client(entra.mint(ALICE), mode) as runner:
            run_names = {tool.name for tool in (await runner.list_tools()).tools}
    assert run_names - read_names == {*ACTING, "run_enter_invoices_into_legacy_erp"}
    assert error_of(refused)["code"] == "forbidden"


CLOUDS = [
    ("https://contoso.crm.dynamics.com", "https://login.microsoftonline.com"),
    ("https://contoso.crm9.dynamics.com", "https://login.microsoftonline.com"),
    ("https://contoso.crm.microsoftdynamics.us", "https://login.microsoftonline.us"),
    ("https://contoso.crm.appsplatform.us", "https://login.microsoftonline.us"),
    ("https://contoso.crm.dynamics.cn", "https://login.partner.microsoftonline.cn"),
]


@pytest.mark.parametrize(("dataverse_url", "authority"), CLOUDS)
async def test_the_authority_and_the_accepted_issuers_follow_the_environments_cloud(
    dataverse_url: str, authority: str
) -> None:
    env = {
        "DATAVERSE_URL": dataverse_url,
        "DESKTOP_FLOWS_HTTP_AUTH": "entra",
        "DESKTOP_FLOWS_ENTRA_TENANT_ID": DEMO_TENANT_ID,
        "DESKTOP_FLOWS_ENTRA_CLIENT_ID": DEMO_CLIENT_ID,
        "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET": "s",
    }
    settings = Settings.from_env(env)
    assert settings.entra is not None
    server = resource_server(settings, PUBLIC + "/mcp")
    assert [str(url) for url in server.metadata.authorization_servers] == [f"{authority}/{DEMO_TENANT_ID}/v2.0"]
    assert str(server.auth.issuer_url) == f"{authority}/{DEMO_TENANT_ID}/v2.0"
    home = FakeEntra(authority=authority, sts="https://sts.chinacloudapi.cn" if ".cn" in authority else V1_ISSUER_HOST)
    public = FakeEntra(key=home.key)  # same keys, but the public cloud's issuer
    verifier = EntraTokenVerifier(settings.entra, dataverse_url, transport=home.transport())
    assert await verifier.verify_token(home.mint()) is not None
    assert await verifier.verify_token(home.mint(version=1, audience=APP_ID_URI)) is not None
    foreign_issuer = await verifier.verify_token(public.mint())
    assert (foreign_issuer is None) == (authority != "https://login.microsoftonline.com")
    assert home.key_requests == 1


async def test_a_multi_tenant_app_accepts_the_allowed_tenants_and_no_other() -> None:
    third = "5c4b3a29-1807-4f6e-8d5c-4b3a2918f7e6"
    settings = Settings.from_env({**ENTRA_ENV, "DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS": OTHER_TENANT})
    assert settings.entra is not None
    entra = FakeEntra()
    verifier = EntraTokenVerifier(settings.entra, settings.dataverse_url, transport=entra.transport())
    guest = await verifier.verify_token(entra.mint(tenant=OTHER_TENANT))
    stranger = await verifier.verify_token(entra.mint(tenant=third))
    assert guest is not None and guest.claims is not None and guest.claims["tid"] == OTHER_TENANT
    assert stranger is None
    assert entra.key_requests == 1  # every tenant's tokens are checked with the home tenant's keys
