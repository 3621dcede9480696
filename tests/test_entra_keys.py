"""The tenant's signing keys: what a JWKS document may hold, and what a failed fetch leaves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from desktop_flows_mcp.emulator.entra import SigningKey
from desktop_flows_mcp.inbound.keys import KeysUnavailable, SigningKeys
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio
URL = "https://login.microsoftonline.com/t/discovery/v2.0/keys"


def _serving(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return httpx.MockTransport(handler), seen


async def test_only_rsa_signing_keys_are_kept_from_the_document() -> None:
    good = SigningKey.generate().jwk()
    document: dict[str, Any] = {
        "keys": [
            good,
            {**good, "kid": "enc", "use": "enc"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {"kty": "RSA", "n": good["n"], "e": good["e"]},
            "not a key",
        ]
    }
    transport, seen = _serving(httpx.Response(200, json=document))
    keys = SigningKeys(URL, transport=transport, clock=FakeClock())
    assert await keys.key(good["kid"]) is not None
    assert [await keys.key(kid) for kid in ("enc", "ec", "broken")] == [None, None, None]
    assert [str(r.url) for r in seen] == [URL]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json=["keys"]),
        httpx.Response(200, json={"keys": [{}] * 51}),
    ],
)
async def test_a_failed_first_fetch_is_unavailable_and_retried_only_after_a_pause(answer: httpx.Response) -> None:
    clock = FakeClock()
    good = SigningKey.generate().jwk()
    transport, seen = _serving(answer, httpx.Response(200, json={"keys": [good]}))
    keys = SigningKeys(URL, transport=transport, clock=clock)
    with pytest.raises(KeysUnavailable):
        await keys.key(good["kid"])
    with pytest.raises(KeysUnavailable):
        await keys.key(good["kid"])
    assert len(seen) == 1
    clock.seconds += 5
    assert await keys.key(good["kid"]) is not None
    assert len(seen) == 2


async def test_a_failed_refresh_keeps_the_keys_it_had() -> None:
    clock = FakeClock()
    good = SigningKey.generate().jwk()
    transport, seen = _serving(httpx.Response(200, json={"keys": [good]}), httpx.Response(503))
    keys = SigningKeys(URL, transport=transport, clock=clock)
    assert await keys.key(good["kid"]) is not None
    clock.seconds += 24 * 3600
    assert await keys.key(good["kid"]) is not None  # stale, refetch failed: still known
    assert len(seen) == 2
