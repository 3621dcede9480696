"""On the caller's behalf, end to end: the HTTP server behind Entra sign-in, its Dataverse calls exchanged per person
(the emulator's fake Entra answers the on-behalf-of grant; the Dataverse emulator takes only its tokens)."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.emulator.bearer import ALICE_USER, BOB_USER
from desktop_flows_mcp.emulator.entra import ALICE, BOB, FakeEntra
from desktop_flows_mcp.emulator.obo_grant import CLAIMS_CHALLENGE, OBO_GRANT
from tests.entra_stack import EntraStack, entra_stack
from tests.helpers import error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def recording(stack: EntraStack, token: str, mode: str) -> AsyncGenerator[tuple[Client, list[Any]], None]:
    """An MCP client as ``token``'s holder, and every HTTP answer it got."""
    answers: list[Any] = []

    async def keep(response: Any) -> None:
        answers.append(response)

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=10, event_hooks={"response": [keep]}
        ) as http,
        Client(streamable_http_client(f"{stack.base}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client, answers


@pytest.mark.parametrize("mode", ERAS)
async def test_two_people_are_exchanged_once_each_and_their_runs_carry_their_own_createdby(mode: str) -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        async with stack.client(entra.mint(ALICE), mode) as alice, stack.client(entra.mint(BOB), mode) as bob:
            alices = ok(await alice.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
            bobs = ok(await bob.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}))
            exchanged = list(stack.grant.exchanges)
            ok(await alice.call_tool("get_desktop_flow_run", {"run_id": alices["run_id"]}))  # a repeat: no exchange
        runs = stack.emulator.store.runs

    assert exchanged == stack.grant.exchanges == [ALICE.oid, BOB.oid]
    assert stack.grant.grants == [OBO_GRANT, OBO_GRANT]
    assert (runs[alices["run_id"]].created_by, runs[bobs["run_id"]].created_by) == (
        ALICE_USER.user_id,
        BOB_USER.user_id,
    )
    tokens = stack.emulator.signed_tokens
    assert tokens is not None and tokens.refused == 0  # the emulator only ever saw exchanged tokens
    assert set(tokens.seen) == {ALICE_USER.user_id, BOB_USER.user_id}


@pytest.mark.parametrize("mode", ERAS)
async def test_conditional_access_on_the_exchange_answers_401_with_the_claims_challenge(mode: str) -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack, recording(stack, entra.mint(ALICE), mode) as (alice, answers):
        stack.grant.refusal = "claims"
        with pytest.raises(Exception):  # noqa: B017  # the client sees the 401, not a tool result
            await alice.call_tool("list_desktop_flows", {})

    challenged = next(answer for answer in answers if answer.status_code == 401)
    assert challenged.request.method == "POST"
    header = challenged.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_claims"')
    assert base64.b64decode(header.split('claims="')[1].rstrip('"')).decode() == CLAIMS_CHALLENGE
    assert stack.emulator.request_count == 0  # nothing reached Dataverse


@pytest.mark.parametrize("mode", ERAS)
async def test_missing_admin_consent_names_the_step(mode: str) -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack, stack.client(entra.mint(ALICE), mode) as alice:
        stack.grant.refusal = "consent"
        error = error_of(await alice.call_tool("list_desktop_flows", {}))

    assert (error["code"], error["dataverse_code"]) == ("unauthenticated", "AADSTS65001")
    assert "Grant admin consent" in error["hint"]


@pytest.mark.parametrize("mode", ERAS)
async def test_entra_down_during_the_exchange_is_a_retryable_error_not_a_500(mode: str) -> None:
    entra = FakeEntra()
    async with entra_stack(entra) as stack, recording(stack, entra.mint(BOB), mode) as (bob, answers):
        ok(await bob.call_tool("list_desktop_flows", {}))  # the server has Entra's keys now
        async with stack.client(entra.mint(ALICE), mode) as alice:
            entra.down = True
            error = error_of(await alice.call_tool("list_desktop_flows", {}))

    assert (error["code"], error["retryable"]) == ("dataverse_unavailable", True)
    assert all(answer.status_code < 500 for answer in answers)


def test_a_short_token_cache_key_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(
            {
                "DESKTOP_FLOWS_HTTP_AUTH": "entra",
                "DESKTOP_FLOWS_EMULATOR": "true",
                "DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY": "short",
            }
        )

    assert "DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY" in str(refused.value)
    assert "short" not in str(refused.value)
