"""Entra's refusals through real msal and the fake Entra ID: each AADSTS code reaches the agent with its own fix.

The AADSTS table (knowledge/aadsts.py) is unit-tested in test_clouds_and_aadsts.py; here the refusal crosses the
wire the way Entra sends it (a device-code poll or a refresh answered 400 with ``error_codes``), so msal's parsing is
in the path too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import SignInRequired, build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import FakeEntra
from tests.fakes.gds import GDS_URL
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import FakeClock, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def tenantless(entra: FakeEntra, tmp_path: Path) -> Iterator[DeviceCodeProvider]:
    """Your own app, no DATAVERSE_TENANT_ID: the person signs in through 'organizations'."""
    built = build_token_provider(
        settings("device_code", DATAVERSE_TENANT_ID="", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path)),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(built, DeviceCodeProvider)
    yield built
    built.close()


async def refusal(provider: DeviceCodeProvider) -> DesktopFlowsError:
    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()
    return caught.value


@pytest.mark.parametrize(
    ("code", "sentence", "fix"),
    [
        (90072, "User account from identity provider does not exist in tenant.", "invite the person as a guest"),
        (65004, "User declined to consent to access the app.", "accept the consent prompt"),
        (50105, "The signed in user is not assigned to a role for the application.", "Users and groups"),
        (53003, "Access has been blocked by Conditional Access policies.", "Conditional Access policy"),
        (50020, "User account from identity provider does not exist in tenant.", "guest"),
    ],
)
async def test_a_refused_device_code_sign_in_carries_entras_code_sentence_and_fix(
    tenantless: DeviceCodeProvider, entra: FakeEntra, code: int, sentence: str, fix: str
) -> None:
    await refusal(tenantless)
    entra.refuse("FAKE-0001", code, sentence)
    assert await tenantless.wait_for_sign_in(5)

    refused = await refusal(tenantless)
    restarted = await refusal(tenantless)

    assert (refused.code, refused.dataverse_code, refused.retryable) == (
        ErrorCode.UNAUTHENTICATED,
        f"AADSTS{code}",
        False,
    )
    assert sentence in refused.message and "Trace ID" not in refused.message
    assert fix in (refused.hint or "")
    assert "tenant organizations" not in (refused.hint or "")
    assert isinstance(restarted, SignInRequired) and "FAKE-0002" in restarted.message  # the next call starts over


async def test_a_saved_sign_in_that_ended_is_reported_and_the_next_call_really_asks_for_a_new_code(
    tenantless: DeviceCodeProvider, entra: FakeEntra
) -> None:
    """The 70008 hint says "call the tool again for a new code": that must be what happens next."""
    await refusal(tenantless)
    entra.approve("FAKE-0001")
    await tenantless.token()
    entra.revoke_sign_ins()

    with pytest.raises(DesktopFlowsError) as ended:
        await tenantless.token_for_resource(GDS_URL)  # needs the refresh token, which Entra no longer takes
    again = await refusal(tenantless)

    assert ended.value.dataverse_code == "AADSTS70008"
    assert "call the tool again for a new code" in (ended.value.hint or "")
    assert isinstance(again, SignInRequired) and "FAKE-0002" in again.message


async def test_a_dead_refresh_token_on_the_dataverse_path_starts_a_new_code_instead_of_failing(
    tenantless: DeviceCodeProvider, entra: FakeEntra
) -> None:
    await refusal(tenantless)
    entra.approve("FAKE-0001")
    await tenantless.token()
    entra.revoke_sign_ins()

    after_a_401 = await refusal_forced(tenantless)

    assert isinstance(after_a_401, SignInRequired) and "FAKE-0002" in after_a_401.message


async def refusal_forced(provider: DeviceCodeProvider) -> DesktopFlowsError:
    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token(force_refresh=True)
    return caught.value
