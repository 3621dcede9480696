"""A fake Azure Instance Metadata Service token endpoint (what msal calls on a VM)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

IMDS_HOST = "169.254.169.254"


@dataclass
class FakeImds:
    user_assigned: tuple[str, ...] = ()  # client ids of user-assigned identities attached to the "VM"
    system_assigned: bool = True
    stalled: bool = False  # accepts the connection and never answers
    requests: list[httpx.Request] = field(default_factory=list[httpx.Request])
    issued: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.stalled:
            raise httpx.ReadTimeout("no answer", request=request)
        if request.url.host != IMDS_HOST or request.url.path != "/metadata/identity/oauth2/token":
            return httpx.Response(404)
        if request.headers.get("Metadata") != "true":
            return httpx.Response(
                400, json={"error": "invalid_request", "error_description": "Required metadata header not specified"}
            )
        client_id = request.url.params.get("client_id")
        if (client_id and client_id not in self.user_assigned) or (not client_id and not self.system_assigned):
            return httpx.Response(400, json={"error": "invalid_request", "error_description": "Identity not found"})
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"fake-mi-token-{self.issued}",
                "expires_in": "3599",
                "expires_on": "1900000000",
                "resource": request.url.params.get("resource"),
                "token_type": "Bearer",
                "client_id": client_id or "system-assigned",
            },
        )
