"""A fake Global Discovery Service: ``GET /api/discovery/v2.0/Instances`` for one signed-in person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

GDS_URL = "https://globaldisco.crm.dynamics.com"

CONTOSO = {
    "Id": "9a0b1c2d-0000-0000-0000-000000000001",
    "UniqueName": "contoso",
    "UrlName": "contoso",
    "FriendlyName": "Contoso (Production)",
    "Url": "https://contoso.crm.dynamics.com",
    "ApiUrl": "https://contoso.api.crm.dynamics.com",
    "EnvironmentId": "Default-11111111-2222-3333-4444-555555555555",
    "Region": "NA",
    "State": 0,
    "Version": "9.2.26011.00000",
    "TenantId": "11111111-2222-3333-4444-555555555555",
    "Purpose": "",
    "IsUserSysAdmin": False,
}
CONTOSO_TEST = {
    **CONTOSO,
    "Id": "9a0b1c2d-0000-0000-0000-000000000002",
    "UniqueName": "contosotest",
    "UrlName": "contoso-test",
    "FriendlyName": "Contoso (Test)",
    "Url": "https://contoso-test.crm4.dynamics.com",
    "ApiUrl": "https://contoso-test.api.crm4.dynamics.com",
    "EnvironmentId": "2b3c4d5e-0000-0000-0000-000000000002",
    "Region": "EMEA",
    "State": 1,
}


@dataclass
class FakeGlobalDiscovery:
    accepted_tokens: set[str]
    instances: list[dict[str, Any]] = field(default_factory=lambda: [CONTOSO_TEST, CONTOSO])
    requests: list[httpx.Request] = field(default_factory=list[httpx.Request])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != "/api/discovery/v2.0/Instances":
            return httpx.Response(404, json={"error": {"code": "", "message": "No HTTP resource was found."}})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.accepted_tokens:
            return httpx.Response(
                401, headers={"WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/x"}
            )
        return httpx.Response(
            200,
            json={"@odata.context": f"{GDS_URL}/api/discovery/v2.0/$metadata#Instances", "value": self.instances},
        )
