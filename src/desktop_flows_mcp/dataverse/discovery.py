"""The Global Discovery Service: which Dataverse environments a signed-in person can reach.

``GET <discovery>/api/discovery/v2.0/Instances`` answers only for a delegated (person) token whose audience is
the discovery URL of the environment's cloud (see ``signin/clouds.py``). It knows nothing about MCP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import httpx

from ..errors import discovery_failed, discovery_unreachable, unexpected_answer

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
            raise discovery_unreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise discovery_failed(self.base_url, response.status_code)
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        rows: Any = cast(dict[str, Any], body).get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise unexpected_answer("Instances (Global Discovery)", "no list of instances")
        return [cast(dict[str, Any], row) for row in cast(list[Any], rows) if isinstance(row, dict)]
