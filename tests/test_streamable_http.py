"""Streamable HTTP over real loopback: bearer token, /health, DNS-rebinding protection, errors and progress."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
import respx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import ConfigError, HttpSettings
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from tests.helpers import RUN_ID, FakeClock, error_of, make_settings, ok, run_row
from tests.loopback import serving_on_loopback

pytestmark = pytest.mark.anyio
TOKEN = "s3cret-token-for-tests-only"


@asynccontextmanager
async def serving(http: HttpSettings, clock: FakeClock | None = None) -> AsyncGenerator[str, None]:
    clock = clock or FakeClock()
    app = App(make_settings(), clock=clock)
    async with serving_on_loopback(build_http_app(build_server(app), app, http)) as url:
        yield url


def test_a_non_loopback_address_without_a_token_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_HTTP_TOKEN: is required to listen on 0\.0\.0\.0"):
        HttpSettings.from_env({"DESKTOP_FLOWS_HOST": "0.0.0.0"})
    assert HttpSettings.from_env({"DESKTOP_FLOWS_HOST": "0.0.0.0", "DESKTOP_FLOWS_HTTP_TOKEN": TOKEN}).token


async def test_every_request_but_health_needs_the_bearer_token(dataverse: respx.MockRouter) -> None:
    dataverse.route(host="127.0.0.1").pass_through()
    async with serving(HttpSettings(token=make_secret())) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/health")).json()["status"] == "ok"
        missing = await http.post("/mcp", json={})
        wrong = await http.post("/mcp", json={}, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert "DESKTOP_FLOWS_HTTP_TOKEN" in wrong.json()["message"] and "[redacted]" not in wrong.text


async def test_dns_rebinding_is_refused_on_loopback(dataverse: respx.MockRouter) -> None:
    dataverse.route(host="127.0.0.1").pass_through()
    async with serving(HttpSettings()) as base, httpx.AsyncClient(base_url=base) as http:
        rebound = await http.post("/mcp", json={}, headers={"Host": "evil.example.com"})
        foreign = await http.post("/mcp", json={}, headers={"Origin": "http://evil.example.com"})
    assert rebound.status_code == 421
    assert foreign.status_code == 403


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_errors_and_progress_work_over_http(dataverse: respx.MockRouter, mode: Any) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").mock(
        side_effect=[httpx.Response(200, json=run_row(statuscode=s)) for s in (3, 2, 4)]
    )
    dataverse.get(f"flowsessions({RUN_ID})/outputs/$value").respond(content=b'{"Done": true}')
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with serving(HttpSettings(token=make_secret())) as base:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
        ):
            names = [tool.name for tool in (await client.list_tools()).tools]
            bad = await client.call_tool("get_desktop_flow_run", {"run_id": "not-a-guid"})
            waited = await client.call_tool(
                "wait_for_desktop_flow_run", {"run_id": RUN_ID}, progress_callback=on_progress
            )
    assert "run_desktop_flow" in names
    assert error_of(bad)["code"] == "invalid_argument"
    assert ok(waited)["outputs"] == {"Done": True}
    assert messages == [f"Run {RUN_ID} is {s}" for s in ("Waiting", "Running", "Succeeded")]


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
STREAMABLE = {"Accept": "application/json, text/event-stream"}


async def test_sessions_beyond_the_cap_get_503_while_open_ones_keep_working(dataverse: respx.MockRouter) -> None:
    dataverse.route(host="127.0.0.1").pass_through()
    async with serving(HttpSettings(max_sessions=2)) as base, httpx.AsyncClient(base_url=base) as http:
        opened = [await http.post("/mcp", json=INITIALIZE, headers=STREAMABLE) for _ in range(2)]
        refused = await http.post("/mcp", json=INITIALIZE, headers=STREAMABLE)
        first = {**STREAMABLE, "Mcp-Session-Id": opened[0].headers["Mcp-Session-Id"]}
        ping = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=first)
        async with (
            httpx2.AsyncClient() as http2,
            Client(streamable_http_client(f"{base}/mcp", http_client=http2), mode="auto") as modern,
        ):
            modern_version = modern.protocol_version
            modern_tools = await modern.list_tools()  # the 2026-07-28 era opens no session
        closed = await http.delete("/mcp", headers=first)
        reopened = await http.post("/mcp", json=INITIALIZE, headers=STREAMABLE)
    assert [r.status_code for r in opened] == [200, 200]
    assert refused.status_code == 503
    assert refused.json()["error"]["message"] == "Too many open sessions"
    assert ping.status_code == 200
    assert modern_version == "2026-07-28"
    assert modern_tools.tools
    assert closed.status_code == 200
    assert reopened.status_code == 200


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, 100), ({"DESKTOP_FLOWS_HTTP_MAX_SESSIONS": "5"}, 5), ({"DESKTOP_FLOWS_HTTP_MAX_SESSIONS": "100000"}, 100000)],
)
def test_the_session_cap_is_a_setting(env: dict[str, str], expected: int) -> None:
    assert HttpSettings.from_env(env).max_sessions == expected


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "many", "100001"])
def test_a_bad_session_cap_names_its_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_HTTP_MAX_SESSIONS: "):
        HttpSettings.from_env({"DESKTOP_FLOWS_HTTP_MAX_SESSIONS": value})


def make_secret() -> Any:
    from desktop_flows_mcp.config import Secret

    return Secret(TOKEN)


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_a_body_nested_too_deep_gets_a_json_rpc_error_with_its_id_and_the_server_keeps_serving(
    dataverse: respx.MockRouter, era: str
) -> None:
    dataverse.route(host="127.0.0.1").pass_through()
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": era}
    deep = {d: "[" * d + "]" * d for d in (100, 1_000, 100_000)}  # 100: under pydantic's own limit, which parses it
    async with serving(HttpSettings()) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        answers = [
            await http.post(
                "/mcp",
                content=f'{{"jsonrpc":"2.0","id":{d},"method":"tools/list","params":{{"_meta":{{"x":{nested}}}}}}}',
                headers={**headers, "Content-Type": "application/json"},
            )
            for d, nested in deep.items()
        ]
        async with Client(f"{base}/mcp", mode="auto" if era == "2026-07-28" else "legacy") as client:
            tools = (await client.list_tools()).tools
    for (depth, _), answer in zip(deep.items(), answers, strict=True):
        assert answer.status_code == 400
        assert answer.json()["id"] == depth
        assert answer.json()["error"]["code"] == -32600
        assert "nested deeper than 64 levels" in answer.json()["error"]["message"]
    assert tools
