"""Print what each person running flows as themselves looks like on the wire, from a real run of the HTTP server.

    python bench/team_identity.py

The server listens on a loopback port with DESKTOP_FLOWS_HTTP_AUTH=entra, over the built-in emulator; the emulator's
fake Entra is the tenant's authority (its keys sign the callers' tokens and answer the on-behalf-of exchange), and the
Dataverse emulator behind it takes only that Entra's tokens for itself. Printed, in order:

    1. GET /.well-known/oauth-protected-resource/mcp     the RFC 9728 metadata document
    2. POST /mcp without a token                         the 401 and its challenge
    3. Alice and Bob each start a run (2026-07-28)       the tool results, the exchanges Entra saw, and
                                                         GET flowsessions as Dataverse answers each of them
    4. Conditional Access on Carol's first exchange      the 401 insufficient_claims challenge
"""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import httpx
import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import HttpSettings, Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.emulator.entra import ALICE, BOB, EntraUser, FakeEntra
from desktop_flows_mcp.emulator.obo_grant import OnBehalfOfGrant, dataverse_behind
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app

INVOICE = {
    "flow": "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14",
    "inputs": {"InvoiceNumber": "INV-2026-0412", "VendorId": "V-9", "Amount": 1250.0, "Currency": "EUR"},
}
DATAVERSE = "http://emulator.local"
CAROL = EntraUser("c4201e57-6a9b-4d3c-8e15-2f7a0b9d6c31", "carol@contoso.example", "Carol Castillo")


def show(title: str, response: httpx.Response) -> None:
    print(f"--- {title} ---")
    print(f"HTTP {response.status_code}")
    for name in ("www-authenticate", "content-type"):
        if name in response.headers:
            print(f"{name}: {response.headers[name]}")
    is_json = response.headers.get("content-type", "").startswith("application/json")
    print(json.dumps(response.json(), indent=2) if is_json else response.text)


async def runs_as_dataverse_answers(emulator: Emulator, entra: FakeEntra, person: EntraUser) -> Any:
    """GET flowsessions with a Dataverse token for ``person`` (what the exchange gives): their rows, nobody else's."""
    token = entra.mint(person, audience=DATAVERSE, scopes=("user_impersonation",), version=1)
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=f"{DATAVERSE}/api/data/v9.2/") as http:
        answer = await http.get(
            "flowsessions",
            params={"$select": "flowsessionid,statuscode,_createdby_value,_ownerid_value"},
            headers={"Authorization": f"Bearer {token}"},
        )
    return [{k: v for k, v in row.items() if not k.startswith("@")} for row in answer.json()["value"]]


async def main() -> None:
    entra = FakeEntra()
    grant = OnBehalfOfGrant(entra).install()
    emulator = Emulator(signed_tokens=dataverse_behind(entra))
    settings = Settings.from_env({"DESKTOP_FLOWS_HTTP_AUTH": "entra", "DESKTOP_FLOWS_EMULATOR": "true"})
    app = App(settings, dataverse_transport=emulator.transport(), entra_transport=entra.transport())
    with socket.socket() as probe:  # a free port, so the metadata names the address actually served
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    http = HttpSettings(port=port)
    server = uvicorn.Server(
        uvicorn.Config(build_http_app(build_server(app, http=http), app, http), port=port, log_level="warning")
    )
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as plain:
            show("1. the protected-resource metadata", await plain.get("/.well-known/oauth-protected-resource/mcp"))
            headers = {"Accept": "application/json, text/event-stream"}
            show("2. POST /mcp without a token", await plain.post("/mcp", json={}, headers=headers))

        print("--- 3. Alice and Bob each start a run (run_desktop_flow, 2026-07-28) ---")
        for person in (ALICE, BOB):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {entra.mint(person)}"}, timeout=10) as web,
                Client(streamable_http_client(f"{base}/mcp", http_client=web), mode="auto") as client,  # type: ignore[arg-type]
            ):
                started: dict[str, Any] = (await client.call_tool("run_desktop_flow", INVOICE)).structured_content or {}
                print(f"{person.upn}: run_id={started.get('run_id')} status={started.get('status')}")
        print("on-behalf-of exchanges Entra answered (oid):", grant.exchanges)
        for person in (ALICE, BOB):
            print(f"GET flowsessions as {person.upn}:")
            print(json.dumps(await runs_as_dataverse_answers(emulator, entra, person), indent=2))

        grant.refusal = "claims"
        web_headers = {"Authorization": f"Bearer {entra.mint(CAROL)}", **headers}
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_desktop_flows"}}
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "b", "version": "1"},
            },
        }
        async with httpx.AsyncClient(base_url=base, headers=web_headers) as carol:
            opened = await carol.post("/mcp", json=init)
            session = {"mcp-session-id": opened.headers["mcp-session-id"]}
            await carol.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            show("4. Conditional Access on Carol's exchange", await carol.post("/mcp", json=call, headers=session))
        server.should_exit = True


if __name__ == "__main__":
    anyio.run(main)
