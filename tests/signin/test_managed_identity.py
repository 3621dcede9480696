"""managed_identity through real msal against a fake IMDS endpoint."""

from __future__ import annotations

import httpx
import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import build_token_provider
from tests.fakes.imds import FakeImds
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import URL, settings

pytestmark = pytest.mark.anyio

IDENTITY = "12345678-aaaa-bbbb-cccc-1234567890ab"


async def test_system_assigned_identity_gets_a_dataverse_token_once() -> None:
    imds = FakeImds()
    provider = build_token_provider(settings("managed_identity"), http_client=MsalHttpClient(imds))

    assert await provider.token() == "fake-mi-token-1"
    assert await provider.token() == "fake-mi-token-1"

    assert len(imds.requests) == 1
    request = imds.requests[0]
    assert (request.url.params["resource"], request.headers["Metadata"]) == (URL, "true")
    assert "client_id" not in request.url.params


async def test_user_assigned_identity_is_chosen_by_client_id_and_force_refresh_gets_a_new_token() -> None:
    imds = FakeImds(user_assigned=(IDENTITY,), system_assigned=False)
    provider = build_token_provider(
        settings("managed_identity", DATAVERSE_MANAGED_IDENTITY_CLIENT_ID=IDENTITY), http_client=MsalHttpClient(imds)
    )

    assert await provider.token() == "fake-mi-token-1"
    assert await provider.token(force_refresh=True) == "fake-mi-token-2"
    assert imds.requests[0].url.params["client_id"] == IDENTITY


async def test_a_missing_identity_says_how_to_attach_one() -> None:
    imds = FakeImds(system_assigned=False)
    provider = build_token_provider(settings("managed_identity"), http_client=MsalHttpClient(imds))

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert "Identity not found" in caught.value.message
    assert "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID" in (caught.value.hint or "")


async def test_off_azure_an_endpoint_that_answers_something_else_is_named_without_parser_jargon() -> None:
    """Another cloud's metadata service (or a proxy) answers 169.254.169.254 with a page, not Azure's JSON."""

    def not_azure(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, text="<html><body>404 Not Found</body></html>", headers={"Content-Type": "text/html"}
        )

    provider = build_token_provider(settings("managed_identity"), http_client=MsalHttpClient(not_azure))

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    error = caught.value
    assert (error.code, error.retryable) == (ErrorCode.UNAUTHENTICATED, False)
    assert "does not look like an Azure resource with a managed identity" in error.message
    assert "JSONDecodeError" not in error.message
    assert "DATAVERSE_TENANT_ID" not in (error.hint or "") and "DATAVERSE_CLIENT_ID," not in (error.hint or "")
    assert "DATAVERSE_AUTH" in (error.hint or "")
