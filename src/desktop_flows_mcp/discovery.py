"""The Global Discovery Service: which Dataverse environments a signed-in person can reach.

``GET <discovery>/api/discovery/v2.0/Instances`` answers only for a delegated (person) token whose audience is
the discovery URL of the environment's cloud (see ``signin/clouds.py``). It knows nothing about MCP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import httpx

from .errors import DesktopFlowsError, ErrorCode, from_status

INSTANCES_PATH = "/api/discovery/v2.0/Instances"
INSTANCE_COLUMNS = "Url,ApiUrl,FriendlyName,UniqueName,EnvironmentId,Region,State,Version"


class EnvironmentDiscovery(Protocol):
    async def instances(self) -> list[dict[str, Any]]: ...


class GlobalDiscovery:
    """Reads ``Instances`` with its own bearer token (not the Dataverse one), over the shared HTTP client."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, token: Callable[[], Awaitable[str]]) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._token = token

    async def instances(self) -> list[dict[str, Any]]:
        token = await self._token()
        try:
            response = await self._http.get(
                self.base_url + INSTANCES_PATH,
                params={"$select": INSTANCE_COLUMNS},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                auth=None,  # the client's BearerAuth would send the Dataverse token instead
            )
        except httpx.TransportError as exc:
            raise DesktopFlowsError(
                ErrorCode.DATAVERSE_UNAVAILABLE,
                f"Could not reach the Global Discovery Service at {self.base_url} ({type(exc).__name__}).",
                hint="Check the network and retry in a few seconds.",
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            raise self._error(response)
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        rows: Any = cast(dict[str, Any], body).get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise DesktopFlowsError(
                ErrorCode.INTERNAL,
                "The Global Discovery Service answered without a list of instances.",
                hint="Retry once; report it if it persists.",
            )
        return [cast(dict[str, Any], row) for row in cast(list[Any], rows) if isinstance(row, dict)]

    def _error(self, response: httpx.Response) -> DesktopFlowsError:
        error = from_status(response.status_code, None, None, operation="who_am_i")
        error.message = f"The Global Discovery Service ({self.base_url}) answered HTTP {response.status_code}."
        if response.status_code == 401:
            error.hint = (
                "The discovery service refused the person's token. The app registration needs the delegated "
                "permission Dynamics CRM > user_impersonation with consent; DATAVERSE_URL itself still works. "
                "Call check_access to see what this identity can do there."
            )
        elif not error.retryable:
            error.hint = (
                "The discovery service could not list environments for this person; DATAVERSE_URL itself is not "
                "affected. Check DATAVERSE_AUTHORITY_HOST and the cloud of DATAVERSE_URL, or call check_access."
            )
        return error
