"""Entra's claims challenge as the HTTP answer: ``401 WWW-Authenticate: Bearer error="insufficient_claims"``.

With ``DATAVERSE_AUTH=on_behalf_of`` a Conditional Access or MFA policy can refuse the exchange of the caller's
token until the caller signs in again with more claims. MCP clients step up on an HTTP 401 with a challenge, never on
a tool result, so the challenge must reach the HTTP layer. The tool call runs after the SDK has begun its answer,
so this middleware holds back the answer's start (status and headers) of each ``POST /mcp`` until its first body
bytes: if the sign-in left a challenge in the request's ``ChallengeSlot`` by then, the whole answer becomes the
401, and the tool's error result is dropped; otherwise the start goes out unchanged. A challenge after a token was
already used in the request stays in the tool result (``ChallengeSlot.spent``): a 401 would hide what that call did.

Holding the start costs nothing on a JSON answer; an SSE answer's headers wait for its first event (a progress
notification, the result, or the SSE keep-alive comment every 15 s).
"""

from __future__ import annotations

import base64
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .call_scope import ChallengeSlot, claims_challenge_slot
from .draining import is_mcp_post


def challenge_header(claims: str) -> str:
    """RFC 6750's ``WWW-Authenticate`` for a claims challenge: Entra's claims JSON, base64-encoded as Microsoft's
    clients expect it (they pass it on as the ``claims`` of their next sign-in)."""
    encoded = base64.b64encode(claims.encode()).decode()
    return f'Bearer error="insufficient_claims", error_description="More sign-in is required", claims="{encoded}"'


class ClaimsChallengeMiddleware:
    """``POST /mcp`` gets a fresh ``ChallengeSlot``; a challenge left in it turns the answer into the 401."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_mcp_post(scope):
            await self._app(scope, receive, send)
            return
        slot = ChallengeSlot()
        held: list[Message] = []
        replaced = released = False

        async def answer(message: Message) -> None:
            nonlocal replaced, released
            if released:
                await send(message)
                return
            if replaced:
                return
            held.append(message)
            if message["type"] != "http.response.body" or (message.get("more_body") and not message.get("body")):
                return  # not yet the first body bytes (nor the end)
            if slot.claims is not None:
                replaced = True
                await _challenge(send, slot.claims)
                return
            released = True
            for waiting in held:
                await send(waiting)

        token = claims_challenge_slot.set(slot)
        try:
            await self._app(scope, receive, answer)
        finally:
            claims_challenge_slot.reset(token)


async def _challenge(send: Send, claims: str) -> None:
    body = json.dumps(
        {
            "error": "insufficient_claims",
            "message": "Entra ID needs more of your sign-in (Conditional Access or MFA) before this server may call "
            "Dataverse for you. Sign in again with the claims in WWW-Authenticate, then retry.",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge_header(claims).encode()),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
