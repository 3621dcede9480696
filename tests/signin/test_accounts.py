"""Which person signs in is explicit: DATAVERSE_USERNAME, or the only account in the cache; never cache order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import ADA, GRACE, FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import FakeClock, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def providers() -> Iterator[list[DeviceCodeProvider]]:
    built: list[DeviceCodeProvider] = []
    yield built
    for provider in built:
        provider.close()


def make(entra: FakeEntra, cache_dir: Path, built: list[DeviceCodeProvider], username: str = "") -> DeviceCodeProvider:
    provider = build_token_provider(
        settings(
            "device_code",
            DATAVERSE_TOKEN_CACHE_DIR=str(cache_dir),
            DATAVERSE_TOKEN_CACHE_PLAINTEXT="true",
            DATAVERSE_USERNAME=username,
        ),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(provider, DeviceCodeProvider)
    built.append(provider)
    return provider


async def refused(provider: DeviceCodeProvider) -> DesktopFlowsError:
    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()
    return caught.value


async def cache_with_ada_and_grace(entra: FakeEntra, cache_dir: Path, built: list[DeviceCodeProvider]) -> None:
    await refused(make(entra, cache_dir, built))
    entra.approve("FAKE-0001", ADA)
    assert await built[0].token() == "fake-access-token-1"
    grace = make(entra, cache_dir, built, GRACE.username)
    prompt = await refused(grace)
    assert f"sign in with {GRACE.username}" in (prompt.hint or "")
    entra.approve("FAKE-0002", GRACE)
    assert await grace.token() == "fake-access-token-2"


async def test_several_cached_accounts_and_no_username_is_an_error_naming_them(
    entra: FakeEntra, tmp_path: Path, providers: list[DeviceCodeProvider]
) -> None:
    await cache_with_ada_and_grace(entra, tmp_path, providers)

    error = await refused(make(entra, tmp_path, providers))

    assert error.code is ErrorCode.UNAUTHENTICATED
    assert ADA.username in error.message and GRACE.username in error.message
    assert "DATAVERSE_USERNAME" in (error.hint or "")


async def test_the_configured_username_picks_that_persons_account(
    entra: FakeEntra, tmp_path: Path, providers: list[DeviceCodeProvider]
) -> None:
    await cache_with_ada_and_grace(entra, tmp_path, providers)

    assert await make(entra, tmp_path, providers, ADA.username.upper()).token() == "fake-access-token-1"
    assert await make(entra, tmp_path, providers, GRACE.username).token() == "fake-access-token-2"
    assert len(entra.device_codes) == 2


async def test_a_sign_in_as_someone_else_than_the_configured_username_is_refused(
    entra: FakeEntra, tmp_path: Path, providers: list[DeviceCodeProvider]
) -> None:
    grace = make(entra, tmp_path, providers, GRACE.username)
    await refused(grace)
    entra.approve("FAKE-0001", ADA)

    wrong = await refused(grace)
    again = await refused(grace)

    assert f"signed in as {ADA.username}" in wrong.message and GRACE.username in wrong.message
    assert "FAKE-0002" in again.message  # a new code, to sign in as the right person


async def test_an_ended_saved_sign_in_leaves_the_cache_so_someone_else_can_sign_in_next(
    entra: FakeEntra, tmp_path: Path, providers: list[DeviceCodeProvider]
) -> None:
    """Entra ends Ada's saved sign-in (AADSTS70008) on the Dataverse path; Grace signs in with the new code."""
    server = make(entra, tmp_path, providers)
    await refused(server)
    entra.approve("FAKE-0001", ADA)
    await server.token()
    entra.revoke_sign_ins()

    with pytest.raises(DesktopFlowsError) as new_code:
        await server.token(force_refresh=True)  # after Dataverse answered 401
    entra.approve("FAKE-0002", GRACE)
    as_grace = await server.token()
    after_restart = await make(entra, tmp_path, providers).token()

    assert "FAKE-0002" in new_code.value.message
    assert as_grace == after_restart == "fake-access-token-2"  # Grace only; no "the cache holds 2 accounts"
