"""device_code through real msal: the code reaches the person through tool errors, sign-in ends in the background."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import DelegatedTokenProvider, build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import FakeEntra
from tests.fakes.gds import GDS_URL
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import URL, FakeClock, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def provider(entra: FakeEntra, clock: FakeClock, tmp_path: Path) -> Iterator[DeviceCodeProvider]:
    built = build_token_provider(
        settings(
            "device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path / "cache"), DATAVERSE_TOKEN_CACHE_PLAINTEXT="true"
        ),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )
    assert isinstance(built, DeviceCodeProvider)
    yield built
    built.close()


async def sign_in_prompt(provider: DeviceCodeProvider) -> DesktopFlowsError:
    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()
    return caught.value


async def test_first_call_returns_the_url_and_code_in_the_error(
    provider: DeviceCodeProvider, entra: FakeEntra, caplog: pytest.LogCaptureFixture
) -> None:
    error = await sign_in_prompt(provider)

    assert error.code is ErrorCode.UNAUTHENTICATED
    for text in (error.message, error.hint or ""):
        assert "https://microsoft.com/devicelogin" in text
        assert "FAKE-0001" in text
    assert "FAKE-0001" in caplog.text  # also on stderr, for people who watch it
    assert "device-code-secret" not in str(error.to_payload()) + caplog.text
    assert f"{URL}/user_impersonation" in entra.device_forms[0]["scope"].split()


async def test_a_call_while_pending_returns_the_same_code(provider: DeviceCodeProvider, entra: FakeEntra) -> None:
    await sign_in_prompt(provider)

    again = await sign_in_prompt(provider)

    assert "FAKE-0001" in again.message
    assert len(entra.device_codes) == 1


async def test_after_the_person_signs_in_the_next_call_succeeds_and_later_calls_use_the_cache(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    await sign_in_prompt(provider)

    entra.approve("FAKE-0001")

    assert await provider.token() == "fake-access-token-1"
    assert await provider.token() == "fake-access-token-1"
    assert entra.issued == 1


async def test_an_expired_code_is_replaced_by_a_fresh_one(
    provider: DeviceCodeProvider, entra: FakeEntra, clock: FakeClock
) -> None:
    await sign_in_prompt(provider)

    clock.seconds += entra.device_expires_in + 1
    fresh = await sign_in_prompt(provider)

    assert "FAKE-0002" in fresh.message
    entra.approve("FAKE-0002")
    assert await provider.token() == "fake-access-token-1"


async def test_a_declined_sign_in_says_so_and_the_next_call_starts_over(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    await sign_in_prompt(provider)
    entra.decline("FAKE-0001")

    declined = await sign_in_prompt(provider)
    restarted = await sign_in_prompt(provider)

    assert "declined" in (declined.hint or "")
    assert "FAKE-0002" in restarted.message


async def test_an_expired_access_token_is_refreshed_with_the_refresh_token_not_a_new_code(
    clock: FakeClock, tmp_path: Path
) -> None:
    entra = FakeEntra(expires_in=240)  # inside msal's five-minute renewal window
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)), http_client=MsalHttpClient(entra), clock=clock
    )
    assert isinstance(provider, DeviceCodeProvider)
    try:
        await sign_in_prompt(provider)
        entra.approve("FAKE-0001")
        first = await provider.token()

        second = await provider.token()
    finally:
        provider.close()

    assert first != second
    assert entra.grants()[-1] == "refresh_token"
    assert len(entra.device_codes) == 1


async def test_the_sign_in_survives_a_restart_in_a_private_cache_file(
    provider: DeviceCodeProvider, entra: FakeEntra, clock: FakeClock, tmp_path: Path
) -> None:
    await sign_in_prompt(provider)
    entra.approve("FAKE-0001")
    await provider.token()

    restarted = build_token_provider(
        settings(
            "device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path / "cache"), DATAVERSE_TOKEN_CACHE_PLAINTEXT="true"
        ),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )

    assert await restarted.token() == "fake-access-token-1"
    assert len(entra.device_codes) == 1
    cache_file = tmp_path / "cache" / "msal_token_cache.plaintext.json"
    if os.name == "posix":
        assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700


async def test_the_same_person_gets_a_global_discovery_token_without_signing_in_again(
    provider: DeviceCodeProvider, entra: FakeEntra
) -> None:
    await sign_in_prompt(provider)
    entra.approve("FAKE-0001")
    await provider.token()

    assert isinstance(provider, DelegatedTokenProvider)
    assert await provider.token_for_resource(GDS_URL) == "fake-access-token-2"
    assert entra.grants()[-1] == "refresh_token"
    assert f"{GDS_URL}/user_impersonation" in entra.token_forms[-1]["scope"].split()


async def test_an_unknown_public_client_gets_the_app_not_found_hint(clock: FakeClock, tmp_path: Path) -> None:
    entra = FakeEntra(client_id="99999999-9999-9999-9999-999999999999")
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)), http_client=MsalHttpClient(entra), clock=clock
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert caught.value.dataverse_code == "AADSTS700016"


def test_logging_does_not_need_msal_at_import(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import desktop_flows_mcp.signin as signin

    assert "msal" not in signin.__dict__


# ---- the cache first, on every call ------------------------------------------------------------------------


def shared_cache_provider(entra: FakeEntra, clock: FakeClock, cache_dir: Path) -> DeviceCodeProvider:
    """One server process; several of them pointed at the same cache folder share the person's sign-in."""
    built = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(cache_dir), DATAVERSE_TOKEN_CACHE_PLAINTEXT="true"),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )
    assert isinstance(built, DeviceCodeProvider)
    return built


async def test_a_sign_in_completed_by_another_process_ends_this_ones_pending_code(
    entra: FakeEntra, clock: FakeClock, tmp_path: Path
) -> None:
    first, second = (shared_cache_provider(entra, clock, tmp_path) for _ in range(2))
    try:
        await sign_in_prompt(first)
        await sign_in_prompt(second)  # FAKE-0002: the person will never use it
        entra.approve("FAKE-0001")
        assert await first.token() == "fake-access-token-1"

        clock.seconds += 15 * 60  # much later: the second process's code has expired meanwhile,
        assert await second.wait_for_sign_in(5)  # and its poller has seen that
        token = await second.token()
    finally:
        first.close()
        second.close()

    assert token == "fake-access-token-1"
    assert second.pending_prompt is None
    assert len(entra.device_codes) == 2
    assert entra.issued == 1


async def test_a_code_still_pending_gives_way_at_once_to_a_sign_in_another_process_completed(
    entra: FakeEntra, clock: FakeClock, tmp_path: Path
) -> None:
    first, second = (shared_cache_provider(entra, clock, tmp_path) for _ in range(2))
    try:
        await sign_in_prompt(first)
        await sign_in_prompt(second)
        entra.approve("FAKE-0001")
        await first.token()

        token = await second.token()  # FAKE-0002 is still pending at Entra and has not expired
    finally:
        first.close()
        second.close()

    assert token == "fake-access-token-1"
    assert second.pending_prompt is None  # the pending code was dropped, its poller stopped
    assert [code.status for code in entra.device_codes] == ["used", "pending"]
    assert entra.issued == 1


async def test_a_declined_code_does_not_hide_a_valid_sign_in_in_the_shared_cache(
    entra: FakeEntra, clock: FakeClock, tmp_path: Path
) -> None:
    first, second = (shared_cache_provider(entra, clock, tmp_path) for _ in range(2))
    try:
        await sign_in_prompt(first)
        await sign_in_prompt(second)
        entra.decline("FAKE-0002")
        assert await second.wait_for_sign_in(5)  # its poller got the refusal
        entra.approve("FAKE-0001")
        await first.token()

        token = await second.token()
    finally:
        first.close()
        second.close()

    assert token == "fake-access-token-1"


# ---- tenants -----------------------------------------------------------------------------------------------


async def test_a_single_tenant_app_without_a_tenant_is_told_to_set_it(
    clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entra = FakeEntra(single_tenant=True)
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TENANT_ID="", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )
    start_up = caplog.text

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert "DATAVERSE_TENANT_ID is not set" in start_up and "AADSTS50194" in start_up
    assert caught.value.dataverse_code == "AADSTS50194"
    assert "Set DATAVERSE_TENANT_ID to the 'Directory (tenant) ID'" in (caught.value.hint or "")


async def test_a_single_tenant_app_with_its_tenant_signs_in(clock: FakeClock, tmp_path: Path) -> None:
    entra = FakeEntra(single_tenant=True)
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)), http_client=MsalHttpClient(entra), clock=clock
    )
    assert isinstance(provider, DeviceCodeProvider)
    try:
        await sign_in_prompt(provider)
        entra.approve("FAKE-0001")
        assert await provider.token() == "fake-access-token-1"
    finally:
        provider.close()


def test_microsofts_sample_app_needs_no_tenant_and_gets_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from desktop_flows_mcp.config.sign_in import SAMPLE_PUBLIC_CLIENT_ID

    build_token_provider(
        settings(
            "device_code",
            DATAVERSE_TENANT_ID="",
            DATAVERSE_CLIENT_ID=SAMPLE_PUBLIC_CLIENT_ID,
            DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path),
        )
    )

    assert "DATAVERSE_TENANT_ID" not in caplog.text


async def test_without_a_tenant_the_hint_does_not_call_organizations_a_tenant(clock: FakeClock, tmp_path: Path) -> None:
    entra = FakeEntra(client_id="99999999-9999-9999-9999-999999999999")
    provider = build_token_provider(
        settings("device_code", DATAVERSE_TENANT_ID="", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert caught.value.dataverse_code == "AADSTS700016"
    assert "organizations" not in (caught.value.hint or "")
    assert entra.requests[-1].url.path.startswith("/organizations/")
