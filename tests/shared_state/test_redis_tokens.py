"""The on-behalf-of token cache in Redis: one replica's exchange serves the others, and Redis sees no token."""

from __future__ import annotations

import secrets
import time
from contextvars import ContextVar
from typing import Any

import pytest

from desktop_flows_mcp.call_scope import CallAudit, call_audit
from desktop_flows_mcp.emulator.entra import ALICE
from desktop_flows_mcp.emulator.entra import FakeEntra as EmulatorEntra
from desktop_flows_mcp.errors import SignInContext
from desktop_flows_mcp.shared_state.redis_state import client_for
from desktop_flows_mcp.shared_state.redis_tokens import RedisTokens
from desktop_flows_mcp.signin.on_behalf_of import OnBehalfOfProvider, UserAssertion
from tests.entra_stack import entra_stack
from tests.fakes.entra import ADA, CLIENT_ID, SECRET, TENANT, FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.helpers import ok

pytestmark = pytest.mark.anyio

URL = "https://contoso.crm.dynamics.com"
KEY = "a-shared-secret-of-the-deployment-0123456789"
calling: ContextVar[UserAssertion | None] = ContextVar("calling", default=None)


def replica(entra: FakeEntra, tokens: RedisTokens) -> OnBehalfOfProvider:
    context = SignInContext(mode="on_behalf_of", dataverse_url=URL, client_id=CLIENT_ID, tenant=TENANT)
    return OnBehalfOfProvider(context, SECRET, caller=calling.get, http_client=MsalHttpClient(entra), shared=tokens)


async def test_a_token_exchanged_on_one_replica_serves_the_other_and_is_stored_encrypted(redis_url: str) -> None:
    entra = FakeEntra()
    redis = client_for(redis_url)
    prefix = f"dfmcp:test-{secrets.token_hex(4)}:"
    try:
        first, second = replica(entra, RedisTokens(redis, prefix, KEY)), replica(entra, RedisTokens(redis, prefix, KEY))
        expires = time.time() + 600
        calling.set(UserAssertion(entra.user_assertion(ADA, expires), expires, TENANT, ADA.object_id))

        assert await first.token() == "fake-access-token-1"
        assert await second.token() == "fake-access-token-1"
        assert len(entra.token_forms) == 1  # one exchange for the fleet

        names: list[bytes] = [name async for name in redis.scan_iter(f"{prefix}*")]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        assert len(names) == 1 and ADA.object_id.encode() not in names[0]
        stored: Any = await redis.get(names[0])
        assert b"fake-access-token" not in stored
        assert 0 < await redis.ttl(names[0]) <= 600  # it ends with the caller's token, not the Dataverse token's hour

        third = replica(entra, RedisTokens(redis, prefix, KEY))
        calling.set(None)
        callback = call_audit.set(CallAudit(f"entra:{TENANT}/{ADA.object_id}", "callback"))  # her run's callback
        try:
            assert await third.token() == "fake-access-token-1"  # a replica she never called acts for her
        finally:
            call_audit.reset(callback)
        calling.set(UserAssertion(entra.user_assertion(ADA, expires), expires, TENANT, ADA.object_id))

        stranger = replica(entra, RedisTokens(redis, prefix, "another-deployment's-key-0123456789"))
        assert await stranger.token() == "fake-access-token-2"  # cannot read it: exchanges for itself
    finally:
        await redis.aclose()


async def test_replicas_sharing_redis_exchange_a_caller_once_with_a_token_cache_key(redis_url: str) -> None:
    entra = EmulatorEntra()
    env = {
        "DESKTOP_FLOWS_REDIS_URL": redis_url,
        "DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY": "the-deployment's-token-cache-key-0123456789",
    }
    token = entra.mint(ALICE)
    async with (
        entra_stack(entra, env=env) as first,
        entra_stack(entra, env=env) as second,
        first.client(token, "legacy") as on_first,
        second.client(token, "legacy") as on_second,
    ):
        ok(await on_first.call_tool("list_desktop_flows", {}))
        ok(await on_second.call_tool("list_desktop_flows", {}))

    assert first.grant.exchanges == [ALICE.oid]  # the one fake Entra both replicas ask
