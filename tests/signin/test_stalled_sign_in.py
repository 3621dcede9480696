"""A sign-in endpoint that accepts the connection and never answers ends the tool call within its sign-in budget.

Real msal and real requests talk to a loopback socket that never sends a byte (tests/fakes/silent_host.py). The
budget is cut to a fraction of a second here; in production it is 25 s (``CALL_SECONDS``), so such a call ends
within 30 s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from mcp import Client

from desktop_flows_mcp.app import App
from desktop_flows_mcp.auth import TokenProvider
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.signin import build_token_provider, entra_http
from desktop_flows_mcp.signin.entra_http import sign_in_budget
from tests.fakes.entra import FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.fakes.silent_host import SilentHost, silent_host
from tests.helpers import error_of
from tests.signin.helpers_signin import make_certificate, settings

pytestmark = pytest.mark.anyio

BUDGET = 0.3
MSAL_MODES = ("client_secret", "certificate", "managed_identity", "device_code", "interactive")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentHost]:
    with silent_host() as stalled:
        # App Service's managed identity endpoint is read from the environment; point it at the silent host too.
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{stalled.http}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", "fake-header")
        monkeypatch.setenv("BROWSER", "")  # interactive: never a real browser
        yield stalled


def stalled_settings(mode: str, host: SilentHost, tmp_path: Path) -> Any:
    variables = {"DATAVERSE_AUTHORITY_HOST": host.https, "DATAVERSE_TOKEN_CACHE_DIR": str(tmp_path / "cache")}
    if mode == "certificate":
        certificate = make_certificate()
        pem = tmp_path / "app.pem"
        pem.write_bytes(certificate.key_pem + certificate.cert_pem)
        variables["DATAVERSE_CLIENT_CERTIFICATE"] = str(pem)
    if mode == "access_token":
        variables["DATAVERSE_ACCESS_TOKEN"] = "not-a-real-token-0123456789"
    if mode == "managed_identity":
        variables.pop("DATAVERSE_AUTHORITY_HOST")
    return settings(mode, **variables)


def close(provider: TokenProvider) -> None:
    closer = getattr(provider, "close", None)
    if callable(closer):
        closer()


@pytest.mark.parametrize("mode", MSAL_MODES)
async def test_a_silent_sign_in_endpoint_ends_the_token_request_within_the_budget(
    mode: str, host: SilentHost, tmp_path: Path
) -> None:
    provider = build_token_provider(stalled_settings(mode, host, tmp_path))
    try:
        with anyio.fail_after(5), sign_in_budget(BUDGET), pytest.raises(DesktopFlowsError) as caught:
            await provider.token()
    finally:
        close(provider)

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)
    assert f"did not answer within {BUDGET:g} s" in caught.value.message
    assert host.connections >= 1  # it was the silent host that stalled, not something before it


@pytest.mark.parametrize("mode", [*MSAL_MODES, "access_token"])
async def test_check_access_spends_one_sign_in_budget_not_one_per_probe(
    mode: str, host: SilentHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six probes each asked for a token, and each waited out its own time limits: 60 s in all before."""
    monkeypatch.setattr(entra_http, "CALL_SECONDS", BUDGET)
    server = build_server(App(stalled_settings(mode, host, tmp_path), dataverse_transport=Emulator().transport()))

    async with Client(server, mode="legacy") as client:
        with anyio.fail_after(5):
            result = await client.call_tool("check_access", {})

    if mode == "access_token":  # no sign-in call at all: Dataverse (the emulator) refuses the made-up token
        assert host.connections == 0
        return
    probes = cast(list[dict[str, Any]], (result.structured_content or {})["probes"])
    assert len(probes) == 6 and not any(probe["ok"] for probe in probes)
    assert {probe["error_code"] for probe in probes} == {"dataverse_unavailable"}
    assert all(f"did not answer within {BUDGET:g} s" in probe["message"] for probe in probes)
    assert 1 <= host.connections <= 2  # the first probe's attempt; the other five found the budget spent


async def test_the_budget_is_per_tool_call(host: SilentHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entra_http, "CALL_SECONDS", BUDGET)
    server = build_server(
        App(stalled_settings("client_secret", host, tmp_path), dataverse_transport=Emulator().transport())
    )

    async with Client(server, mode="legacy") as client:
        with anyio.fail_after(5):
            first = await client.call_tool("list_desktop_flows", {})
            second = await client.call_tool("list_desktop_flows", {})

    assert error_of(first)["code"] == error_of(second)["code"] == "dataverse_unavailable"
    assert host.connections == 2  # the second call tried again with a budget of its own


class _HungLookup:
    """A requests-like client whose request hangs where no socket timeout applies (a stalled DNS lookup)."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def get(self, url: str, **_: Any) -> Any:
        self.calls += 1
        self.release.wait(10)
        raise OSError("lookup failed")

    post = get


async def test_a_hang_no_timeout_reaches_is_abandoned_and_the_next_call_does_not_pile_up_behind_it() -> None:
    hung = _HungLookup()
    provider = build_token_provider(settings("client_secret"), http_client=hung)
    try:
        for _ in range(2):
            with anyio.fail_after(5), sign_in_budget(BUDGET), pytest.raises(DesktopFlowsError) as caught:
                await provider.token()
            assert f"did not answer within {BUDGET:g} s" in caught.value.message
    finally:
        hung.release.set()

    assert hung.calls == 1  # the second call waited (within its budget) for the first call's thread, not beside it


async def test_outside_a_tool_call_each_token_request_gets_the_whole_budget(entra: FakeEntra) -> None:
    """Background work (a task following a run) asks for tokens after its tool call ended: never a spent budget."""
    provider = build_token_provider(settings("client_secret"), http_client=MsalHttpClient(entra))
    with sign_in_budget(BUDGET) as budget:
        budget.spent = BUDGET  # a stall used it up

    assert await provider.token() == "fake-access-token-1"
