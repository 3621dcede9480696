"""DATAVERSE_AUTHORITY_HOST is taken as is (no instance discovery), and an AADSTS code only ever comes from Entra."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import SignInRequired, build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import FakeClock, settings

pytestmark = pytest.mark.anyio

CUSTOM = "login.contoso-proxy.example"


async def test_a_configured_authority_host_is_used_without_asking_microsoft_about_it() -> None:
    entra = FakeEntra(host=CUSTOM)
    provider = build_token_provider(
        settings("client_secret", DATAVERSE_AUTHORITY_HOST=f"https://{CUSTOM}"), http_client=MsalHttpClient(entra)
    )

    assert await provider.token() == "fake-access-token-1"
    assert {request.url.host for request in entra.requests} == {CUSTOM}
    assert not [request for request in entra.requests if "discovery/instance" in request.url.path]


async def test_an_authority_host_that_serves_no_configuration_is_named_and_gets_no_invented_aadsts_code() -> None:
    entra = FakeEntra()  # answers only login.microsoftonline.com; the configured host gets 404 "unknown host"
    provider = build_token_provider(
        settings("client_secret", DATAVERSE_AUTHORITY_HOST=f"https://{CUSTOM}"), http_client=MsalHttpClient(entra)
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    error = caught.value
    assert (error.code, error.dataverse_code, error.retryable) == (ErrorCode.UNAUTHENTICATED, None, False)
    assert f"https://{CUSTOM}/" in error.message
    assert "DATAVERSE_AUTHORITY_HOST" in (error.hint or "")
    assert "AADSTS" not in error.message + (error.hint or "")


async def test_an_unknown_tenant_is_reported_with_entras_own_code_and_sentence() -> None:
    provider = build_token_provider(
        settings("client_secret", DATAVERSE_TENANT_ID="fabrikam.onmicrosoft.com"),
        http_client=MsalHttpClient(FakeEntra()),
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert caught.value.dataverse_code == "AADSTS90002"
    assert "Tenant 'fabrikam.onmicrosoft.com' not found." in caught.value.message  # the fake Entra's own words
    assert "tenant fabrikam.onmicrosoft.com" in (caught.value.hint or "")


async def test_a_person_mode_with_a_configured_authority_host_never_asks_microsoft_about_it(tmp_path: Path) -> None:
    entra = FakeEntra(host=CUSTOM)
    provider = build_token_provider(
        settings("device_code", DATAVERSE_AUTHORITY_HOST=f"https://{CUSTOM}", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(provider, DeviceCodeProvider)
    try:
        with pytest.raises(SignInRequired):
            await provider.token()
        entra.approve("FAKE-0001")
        token = await provider.token()
    finally:
        provider.close()

    assert token == "fake-access-token-1"
    assert {request.url.host for request in entra.requests} == {CUSTOM}
    assert not [request for request in entra.requests if "discovery/instance" in request.url.path]


async def test_a_person_mode_authority_host_that_serves_no_configuration_gets_no_invented_aadsts_code(
    tmp_path: Path,
) -> None:
    provider = build_token_provider(
        settings("device_code", DATAVERSE_AUTHORITY_HOST=f"https://{CUSTOM}", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(FakeEntra()),
        clock=FakeClock(),
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    error = caught.value
    assert (error.code, error.dataverse_code) == (ErrorCode.UNAUTHENTICATED, None)
    assert "DATAVERSE_AUTHORITY_HOST" in (error.hint or "")
    assert "AADSTS" not in error.message + (error.hint or "")
