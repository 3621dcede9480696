"""``--emulator --http-auth entra``: the emulator's Entra is the tenant's authority, in this process; Alice and Bob
sign in at the server's own address and each runs flows as themselves, Dataverse seeing only exchanged tokens."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.config import HttpSettings, Settings
from desktop_flows_mcp.config.entra import EMULATOR_CLIENT_ID
from desktop_flows_mcp.emulator.bearer import ALICE_USER, BOB_USER
from desktop_flows_mcp.emulator.entra import ALICE, BOB, DEMO_CLIENT_APP_ID, EntraUser
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from tests.helpers import FakeClock, error_of, ok
from tests.loopback import serving_on_loopback
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio
SCOPE = f"api://{EMULATOR_CLIENT_ID}/Flows.Run"


@asynccontextmanager
async def _client(base: str, token: str) -> AsyncGenerator[Client, None]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
    ):
        yield client


async def _sign_in(base: str, path: str, person: EntraUser, scope: str = SCOPE) -> httpx.Response:
    form = {"grant_type": "password", "username": person.upn, "password": "demo", "scope": scope}
    async with httpx.AsyncClient(base_url=base) as web:
        return await web.post(path, data={**form, "client_id": DEMO_CLIENT_APP_ID})


async def test_alice_and_bob_sign_in_at_the_server_and_each_runs_as_themselves() -> None:
    clock = FakeClock()
    # The wall clock is the real one: tokens carry real times, as the SDK's own expiry check assumes.
    app = App(Settings.from_env({"DESKTOP_FLOWS_HTTP_AUTH": "entra"}), clock=Clock(monotonic=clock, sleep=clock.sleep))
    assert app.demo_tenant is not None
    tenant = app.demo_tenant
    http = HttpSettings()
    async with serving_on_loopback(build_http_app(build_server(app, http=http), app, http)) as base:
        refused = await _sign_in(base, tenant.sign_in_path, EntraUser("x", "mallory@contoso.example", "M"))
        no_scope = await _sign_in(base, tenant.sign_in_path, ALICE, scope="https://graph.microsoft.com/.default")
        tokens = {p.upn: (await _sign_in(base, tenant.sign_in_path, p)).json()["access_token"] for p in (ALICE, BOB)}
        runs: dict[str, Any] = {}
        for upn, token in tokens.items():
            async with _client(base, token) as client:
                started = await client.call_tool(
                    "run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "wait_seconds": 0}
                )
                runs[upn] = ok(started)["run_id"]
        async with _client(base, tokens[BOB.upn]) as client:
            alices_run = await client.call_tool("get_desktop_flow_run", {"run_id": runs[ALICE.upn]})
    assert refused.status_code == no_scope.status_code == 400
    assert runs[ALICE.upn] != runs[BOB.upn]
    assert error_of(alices_run)["code"] in ("not_found", "permission_denied")
    seen = set(tenant.signed_tokens.seen)
    assert {ALICE_USER.user_id, BOB_USER.user_id} <= seen  # Dataverse saw each person's exchanged token
    assert tenant.signed_tokens.refused == 0  # and never a token that was not exchanged
    assert sorted(set(tenant.grant.exchanges)) == sorted({ALICE.oid, BOB.oid})
