"""Failures the status table alone does not word (errors/dataverse.py), as a caller of the client meets them: the
network gone for good on a read, a run accepted without an id, and the Global Discovery Service refusing or unreachable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from desktop_flows_mcp.auth import BearerAuth, StaticTokenProvider
from desktop_flows_mcp.dataverse.client import DataverseClient, RunDesktopFlowRequest
from desktop_flows_mcp.dataverse.discovery import GlobalDiscovery
from desktop_flows_mcp.dataverse.resilience import RunRateLimiter
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import ENV_URL, FLOW_ID, RUN_ID, TOKEN, FakeClock

pytestmark = pytest.mark.anyio
DISCOVERY = "https://globaldisco.crm.dynamics.com"
INSTANCES = DISCOVERY + "/api/discovery/v2.0/Instances"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(auth=BearerAuth(StaticTokenProvider(TOKEN))) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, clock: FakeClock) -> DataverseClient:
    limiter = RunRateLimiter(clock=clock)
    return DataverseClient(http, ENV_URL, clock=clock, rng=lambda: 0.5, run_limiter=limiter)


async def person_token() -> str:
    return "person-token"


async def test_a_read_whose_network_stays_down_is_unavailable_and_retryable(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    dataverse.get(f"flowsessions({RUN_ID})").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(DesktopFlowsError) as caught:
        await client.get_flow_session(RUN_ID)
    error = caught.value
    assert (error.code, error.retryable, error.outcome_unknown) == (ErrorCode.DATAVERSE_UNAVAILABLE, True, False)
    assert error.hint == "Check the network and DATAVERSE_URL, then retry in a few seconds."


async def test_a_run_accepted_without_an_id_says_not_to_start_it_again(
    client: DataverseClient, dataverse: respx.MockRouter
) -> None:
    dataverse.post(f"workflows({FLOW_ID})/Microsoft.Dynamics.CRM.RunDesktopFlow").respond(json={})
    request = RunDesktopFlowRequest(connection_name="c", connection_type="connection", run_mode="attended", inputs={})
    with pytest.raises(DesktopFlowsError) as caught:
        await client.run_desktop_flow(FLOW_ID, request)
    assert caught.value.code is ErrorCode.INTERNAL
    assert caught.value.message == "Dataverse accepted the run but returned no flowsessionId."
    assert caught.value.hint and "do not start it again" in caught.value.hint


@pytest.mark.parametrize(
    ("status", "code", "retryable", "hint_says"),
    [
        (401, ErrorCode.UNAUTHENTICATED, False, "user_impersonation"),
        (503, ErrorCode.DATAVERSE_UNAVAILABLE, True, None),
        (404, ErrorCode.NOT_FOUND, False, "could not list environments for this person"),
    ],
)
async def test_a_discovery_refusal_says_dataverse_url_itself_is_not_affected(
    http: httpx.AsyncClient, status: int, code: ErrorCode, retryable: bool, hint_says: str | None
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(INSTANCES).respond(status)
        with pytest.raises(DesktopFlowsError) as caught:
            await GlobalDiscovery(http, DISCOVERY, person_token).instances()
    error = caught.value
    assert (error.code, error.retryable, error.http_status) == (code, retryable, status)
    assert error.message == f"The Global Discovery Service ({DISCOVERY}) answered HTTP {status}."
    assert error.hint is not None and (hint_says is None or hint_says in error.hint)


async def test_an_unreachable_discovery_service_is_unavailable_and_retryable(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(INSTANCES).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(DesktopFlowsError) as caught:
            await GlobalDiscovery(http, DISCOVERY, person_token).instances()
    error = caught.value
    assert (error.code, error.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)
    assert error.message == f"Could not reach the Global Discovery Service at {DISCOVERY} (ConnectError)."
