"""The cloud table and the AADSTS hint table."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.errors import ErrorCode, SignInContext, application_user_hint, entra_error, first_line
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.clouds import cloud_for
from tests.fakes.entra import FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import settings


@pytest.mark.parametrize(
    ("url", "cloud", "authority", "discovery"),
    [
        (
            "https://contoso.crm.dynamics.com",
            "commercial",
            "https://login.microsoftonline.com",
            "https://globaldisco.crm.dynamics.com",
        ),
        (
            "https://contoso.api.crm4.dynamics.com",
            "commercial",
            "https://login.microsoftonline.com",
            "https://globaldisco.crm.dynamics.com",
        ),
        (
            "https://agency.crm9.dynamics.com",
            "gcc",
            "https://login.microsoftonline.com",
            "https://globaldisco.crm9.dynamics.com",
        ),
        (
            "https://agency.crm.microsoftdynamics.us",
            "gcc_high",
            "https://login.microsoftonline.us",
            "https://globaldisco.crm.microsoftdynamics.us",
        ),
        (
            "https://agency.crm.appsplatform.us",
            "dod",
            "https://login.microsoftonline.us",
            "https://globaldisco.crm.appsplatform.us",
        ),
        (
            "https://contoso.crm.dynamics.cn",
            "china",
            "https://login.partner.microsoftonline.cn",
            "https://globaldisco.crm.dynamics.cn",
        ),
        (
            "http://127.0.0.1:8080",
            "commercial",
            "https://login.microsoftonline.com",
            "https://globaldisco.crm.dynamics.com",
        ),
    ],
)
def test_the_cloud_follows_the_environment_host(url: str, cloud: str, authority: str, discovery: str) -> None:
    found = cloud_for(url)

    assert (found.name, found.authority_host, found.discovery_url) == (cloud, authority, discovery)


@pytest.mark.parametrize(
    "url",
    [
        "https://a.crm.dynamics.com",
        "https://a.crm9.dynamics.com",
        "https://a.crm.microsoftdynamics.us",
        "https://a.crm.appsplatform.us",
        "https://a.crm.dynamics.cn",
    ],
)
def test_every_cloud_signs_in_at_a_host_msal_knows_and_does_not_call_deprecated(url: str) -> None:
    from msal import authority  # pyright: ignore[reportMissingTypeStubs]

    host = cloud_for(url).authority_host.removeprefix("https://")

    assert host in authority.WELL_KNOWN_AUTHORITY_HOSTS
    assert host != authority.DEPRECATED_AZURE_CHINA


def test_the_authority_host_override_replaces_only_the_sign_in_host() -> None:
    found = cloud_for("https://agency.crm9.dynamics.com", "https://login.example.net")

    assert (found.authority_host, found.discovery_url) == (
        "https://login.example.net",
        "https://globaldisco.crm9.dynamics.com",
    )


CONTEXT = SignInContext("client_secret", "https://contoso.crm.dynamics.com", "app-id", "tenant-id")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (7000215, "Value (not its Secret ID)"),
        (700016, "Application (client) ID"),
        (90002, "Directory (tenant) ID"),
        (65001, "Grant admin consent"),
        (700027, "Certificates & secrets > Certificates"),
        (7000218, "Allow public client flows"),
        (50059, "DATAVERSE_TENANT_ID"),
        (50194, "Set DATAVERSE_TENANT_ID to the 'Directory (tenant) ID'"),
        (90072, "invite the person as a guest"),
        (65004, "declined to consent"),
        (70043, "sign-in frequency"),
    ],
)
def test_each_common_aadsts_code_has_its_own_fix(code: int, words: str) -> None:
    error = entra_error(
        {
            "error": "invalid_client",
            "error_description": f"AADSTS{code}: Something.\r\nTrace ID: 1",
            "error_codes": [code],
        },
        CONTEXT,
    )

    assert error.code is ErrorCode.UNAUTHENTICATED
    assert error.dataverse_code == f"AADSTS{code}"
    assert words in (error.hint or "")
    assert "Trace ID" not in error.message


def test_the_code_is_found_in_the_description_when_error_codes_is_missing() -> None:
    error = entra_error(
        {"error": "invalid_grant", "error_description": "AADSTS65001: The user has not consented."}, CONTEXT
    )

    assert error.dataverse_code == "AADSTS65001"


def test_first_line_drops_trace_ids() -> None:
    assert first_line("AADSTS1: Bad. Trace ID: 12 Correlation ID: 34\nTimestamp: 5") == "AADSTS1: Bad."


def test_the_application_user_hint_depends_on_who_signed_in() -> None:
    assert "Application users > New app user" in application_user_hint(CONTEXT)
    person = SignInContext("device_code", "https://contoso.crm.dynamics.com")
    assert "user of the environment" in application_user_hint(person)


PERSON = SignInContext("device_code", "https://contoso.crm.dynamics.com", "app-id", tenant=None)


@pytest.mark.parametrize("code", [70008, 700082, 70043, 50173])
def test_an_expired_person_sign_in_says_to_call_again_for_a_new_code_not_to_restart(code: int) -> None:
    error = entra_error({"error": "invalid_grant", "error_codes": [code]}, PERSON)

    assert "call the tool again for a new code" in (error.hint or "")
    assert "restart" not in (error.hint or "")


@pytest.mark.parametrize("code", [700016, 50020, 50034, 90072, 500011])
def test_hints_never_name_a_tenant_called_organizations_when_none_is_set(code: int) -> None:
    hint = entra_error({"error": "invalid_request", "error_codes": [code]}, PERSON).hint or ""

    assert "organizations" not in hint
    assert "the tenant you signed in to" in hint


@pytest.mark.anyio
async def test_an_app_in_china_signs_in_at_the_current_china_host_through_msal() -> None:
    entra = FakeEntra(host="login.partner.microsoftonline.cn")
    provider = build_token_provider(
        settings("client_secret", DATAVERSE_URL="https://contoso.crm.dynamics.cn"), http_client=MsalHttpClient(entra)
    )

    assert await provider.token() == "fake-access-token-1"
    assert {request.url.host for request in entra.requests} == {"login.partner.microsoftonline.cn"}
    assert entra.token_forms[0]["scope"].split()[0] == "https://contoso.crm.dynamics.cn/.default"
