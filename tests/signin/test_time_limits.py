"""Every call to Entra ID and to the managed-identity endpoint has a time limit; a stall is a retryable error."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import requests
import requests.adapters

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from desktop_flows_mcp.signin.entra_http import ENTRA_TIMEOUT, timed_session
from tests.fakes.entra import FakeEntra
from tests.fakes.imds import FakeImds
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import FakeClock, settings

pytestmark = pytest.mark.anyio


async def test_every_call_of_a_device_code_sign_in_carries_the_time_limit(tmp_path: Path) -> None:
    entra = FakeEntra()
    http = MsalHttpClient(entra)
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)), http_client=http, clock=FakeClock()
    )
    assert isinstance(provider, DeviceCodeProvider)
    try:
        with pytest.raises(DesktopFlowsError):
            await provider.token()
        entra.approve("FAKE-0001")
        await provider.token()
        await provider.token(force_refresh=True)
    finally:
        provider.close()

    assert set(entra.grants()) == {"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}
    assert len(http.timeouts) == len(entra.requests) >= 4  # configuration, code, polls, refresh
    assert all(within_entra_timeout(timeout) for timeout in http.timeouts)


async def test_every_call_to_the_managed_identity_endpoint_carries_the_time_limit() -> None:
    http = MsalHttpClient(FakeImds())
    provider = build_token_provider(settings("managed_identity"), http_client=http)

    await provider.token()
    await provider.token(force_refresh=True)

    assert len(http.timeouts) == 2 and all(within_entra_timeout(timeout) for timeout in http.timeouts)


def within_entra_timeout(timeout: Any) -> bool:
    """Set, and never longer than ENTRA_TIMEOUT (a tool call's sign-in budget may cut it shorter)."""
    return isinstance(timeout, tuple) and all(
        0 < part <= limit for part, limit in zip(cast(tuple[float, float], timeout), ENTRA_TIMEOUT, strict=True)
    )


async def test_a_stalled_entra_is_a_retryable_network_error_not_a_hang() -> None:
    provider = build_token_provider(settings("client_secret"), http_client=MsalHttpClient(FakeEntra(stalled=True)))

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)
    assert "ReadTimeout" in caught.value.message


async def test_a_stalled_managed_identity_endpoint_is_a_retryable_network_error() -> None:
    provider = build_token_provider(settings("managed_identity"), http_client=MsalHttpClient(FakeImds(stalled=True)))

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)
    assert "managed identity endpoint" in caught.value.message


async def test_an_unreachable_managed_identity_endpoint_is_retryable() -> None:
    class Offline:
        def get(self, *args: object, **kwargs: object) -> object:
            raise requests.exceptions.ConnectionError("connection refused")

    provider = build_token_provider(settings("managed_identity"), http_client=Offline())

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)


class _Recorder(requests.adapters.BaseAdapter):
    """A requests transport that answers 200 and remembers each request's timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def send(  # pyright: ignore[reportIncompatibleMethodOverride]  # records what msal passes
        self, request: requests.PreparedRequest, timeout: Any = None, **_: Mapping[str, Any]
    ) -> Any:
        self.timeouts.append(timeout)
        response = requests.Response()
        response.status_code, response.request, response.url = 200, request, request.url or ""
        return response

    def close(self) -> None:
        pass


def test_the_production_session_limits_every_request_unless_told_otherwise() -> None:
    session = timed_session()
    recorder = _Recorder()
    session.mount("https://", recorder)

    session.get("https://login.microsoftonline.com/common/discovery/instance")
    session.post("https://login.microsoftonline.com/t/oauth2/v2.0/token", data={"a": "b"})
    session.get("https://login.microsoftonline.com/x", timeout=3)

    assert isinstance(session, requests.Session)  # Service Fabric managed identity requires a real Session
    assert recorder.timeouts == [ENTRA_TIMEOUT, ENTRA_TIMEOUT, 3]


async def test_a_device_code_sign_in_that_cannot_reach_entra_is_retryable(tmp_path: Path) -> None:
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(FakeEntra(stalled=True)),
        clock=FakeClock(),
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)


async def test_a_network_blip_while_the_code_is_pending_keeps_the_code(tmp_path: Path) -> None:
    entra = FakeEntra()
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(provider, DeviceCodeProvider)
    try:
        with pytest.raises(DesktopFlowsError):
            await provider.token()
        entra.stalled = True
        with pytest.raises(DesktopFlowsError) as during:
            await provider.token()  # the poll it triggers times out
        entra.stalled = False
        entra.approve("FAKE-0001")
        token = await provider.token()
    finally:
        provider.close()

    assert "FAKE-0001" in during.value.message  # the same code, not a network error or a new code
    assert token == "fake-access-token-1"
    assert len(entra.device_codes) == 1
