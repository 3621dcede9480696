"""The claims challenge of an on-behalf-of sign-in becomes the HTTP answer: 401 ``insufficient_claims``."""

from __future__ import annotations

import base64

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from desktop_flows_mcp.call_scope import claims_challenge_slot
from desktop_flows_mcp.claims_http import ClaimsChallengeMiddleware

pytestmark = pytest.mark.anyio

CLAIMS = '{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}'


def endpoint(*, challenge: bool, streamed: bool = False):
    """An MCP endpoint stand-in: it begins its answer, then the tool call's sign-in runs (and may leave claims)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        if streamed:
            await send({"type": "http.response.body", "body": b"", "more_body": True})
        slot = claims_challenge_slot.get()
        if challenge and slot is not None:
            slot.claims = CLAIMS
        await send({"type": "http.response.body", "body": b"tool result", "more_body": streamed})
        if streamed:
            await send({"type": "http.response.body", "body": b""})

    return app


async def post(app: object, path: str = "/mcp", method: str = "POST") -> httpx.Response:
    transport = httpx.ASGITransport(app=ClaimsChallengeMiddleware(app))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://mcp.test") as client:
        return await client.request(method, path)


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_claims_challenge_answers_401_with_the_claims(streamed: bool) -> None:
    answer = await post(endpoint(challenge=True, streamed=streamed))

    assert answer.status_code == 401
    header = answer.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_claims"')
    encoded = header.split('claims="')[1].rstrip('"')
    assert base64.b64decode(encoded).decode() == CLAIMS
    assert answer.json()["error"] == "insufficient_claims"
    assert b"tool result" not in answer.content


@pytest.mark.parametrize("streamed", [False, True])
async def test_without_a_challenge_the_answer_is_unchanged(streamed: bool) -> None:
    answer = await post(endpoint(challenge=False, streamed=streamed))

    assert answer.status_code == 200
    assert answer.content == b"tool result"


async def test_other_routes_get_no_slot() -> None:
    answer = await post(endpoint(challenge=True), path="/health", method="GET")

    assert answer.status_code == 200
