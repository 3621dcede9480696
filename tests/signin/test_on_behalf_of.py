"""on_behalf_of through real msal against the fake Entra ID: each caller's own Dataverse token, exchanged once."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

import anyio
import pytest

from desktop_flows_mcp.auth import TokenProvider
from desktop_flows_mcp.call_scope import CallAudit, ChallengeSlot, call_audit, claims_challenge_slot
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.doctor import Doctor
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode, SignInContext
from desktop_flows_mcp.readiness import Readiness, SignInWatch
from desktop_flows_mcp.signin.on_behalf_of import OnBehalfOfProvider, UserAssertion
from tests.fakes.entra import ADA, CLIENT_ID, GRACE, SECRET, TENANT, FakeEntra, Person
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import URL

pytestmark = pytest.mark.anyio

OBO = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLAIMS = '{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}'
calling: ContextVar[UserAssertion | None] = ContextVar("calling", default=None)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def provider(entra: FakeEntra, clock: Clock | None = None, **options: object) -> OnBehalfOfProvider:
    context = SignInContext(mode="on_behalf_of", dataverse_url=URL, client_id=CLIENT_ID, tenant=TENANT)
    return OnBehalfOfProvider(
        context,
        SECRET,
        caller=calling.get,
        http_client=MsalHttpClient(entra),
        now=clock or time.time,
        **options,  # type: ignore[arg-type]  # max_callers, shared
    )


def signed_in(entra: FakeEntra, person: Person, lifetime: float = 3600, now: float | None = None) -> UserAssertion:
    expires = (now or time.time()) + lifetime
    return UserAssertion(entra.user_assertion(person, expires), expires, TENANT, person.object_id)


async def as_caller(who: UserAssertion, obo: TokenProvider, *, force_refresh: bool = False) -> str:
    token = calling.set(who)
    try:
        return await obo.token(force_refresh=force_refresh)
    finally:
        calling.reset(token)


async def test_two_callers_get_two_exchanges_and_a_repeat_call_none(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    entra = FakeEntra()
    obo = provider(entra)
    ada, grace = signed_in(entra, ADA), signed_in(entra, GRACE)

    first = await as_caller(ada, obo)
    second = await as_caller(grace, obo)
    again = await as_caller(ada, obo)

    assert (first, second, again) == ("fake-access-token-1", "fake-access-token-2", "fake-access-token-1")
    assert entra.grants() == [OBO, OBO]
    assert [form["assertion"] for form in entra.token_forms] == [ada.token, grace.token]
    assert entra.token_forms[0]["requested_token_use"] == "on_behalf_of"
    assert entra.token_forms[0]["scope"].split()[0] == f"{URL}/.default"
    assert obo.mode == "on_behalf_of"
    assert ada.token not in caplog.text + repr(obo) + repr(ada)
    assert "fake-access-token" not in caplog.text


async def test_concurrent_calls_of_one_caller_exchange_once() -> None:
    entra = FakeEntra()
    obo = provider(entra)
    ada = signed_in(entra, ADA)
    tokens: list[str] = []

    async def call() -> None:
        tokens.append(await as_caller(ada, obo))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(call)

    assert tokens == ["fake-access-token-1"] * 5
    assert entra.grants() == [OBO]


async def test_a_cached_token_ends_with_the_callers_token_and_a_fresh_caller_token_gets_a_new_one() -> None:
    entra = FakeEntra()
    clock = Clock()
    obo = provider(entra, clock)
    short = signed_in(entra, ADA, lifetime=600, now=clock.now)

    assert await as_caller(short, obo) == "fake-access-token-1"
    clock.now += 600  # the Dataverse token would last an hour; the caller's token has ended

    with pytest.raises(DesktopFlowsError) as expired:
        await as_caller(short, obo)
    assert expired.value.code is ErrorCode.UNAUTHENTICATED
    assert "expired" in expired.value.message

    renewed = signed_in(entra, ADA, lifetime=3600, now=clock.now)
    assert await as_caller(renewed, obo) == "fake-access-token-1"  # msal's cache, now within the new token's life
    assert entra.grants() == [OBO]


async def test_background_work_of_a_caller_uses_that_callers_freshest_token() -> None:
    entra = FakeEntra()
    clock = Clock()
    obo = provider(entra, clock)
    old = signed_in(entra, ADA, lifetime=600, now=clock.now)
    await as_caller(old, obo)
    await as_caller(signed_in(entra, ADA, lifetime=3600, now=clock.now), obo)  # a later call, a later token
    clock.now += 900

    assert await as_caller(old, obo) == "fake-access-token-1"  # the poller started by the first call goes on


async def test_no_caller_is_refused_without_asking_entra() -> None:
    entra = FakeEntra()

    with pytest.raises(DesktopFlowsError) as refused:
        await provider(entra).token()

    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert entra.requests == []


async def test_force_refresh_renews_once_for_the_caller() -> None:
    entra = FakeEntra()
    obo = provider(entra)
    ada = signed_in(entra, ADA)
    await as_caller(ada, obo)

    fresh = await as_caller(ada, obo, force_refresh=True)

    assert fresh == "fake-access-token-2"
    assert entra.grants() == [OBO, "refresh_token"]  # msal's refresh token, no second exchange
    assert await as_caller(ada, obo) == fresh


async def test_the_least_recently_used_caller_is_forgotten_beyond_the_cap() -> None:
    entra = FakeEntra()
    obo = provider(entra, max_callers=2)
    people = [Person(f"p{n}@contoso.example", f"object-{n}", f"P {n}") for n in range(3)]
    assertions = [signed_in(entra, person) for person in people]
    for assertion in assertions:
        await as_caller(assertion, obo)

    assert obo.callers == 2
    await as_caller(assertions[0], obo)  # forgotten, msal's account too: exchanged again
    assert entra.grants() == [OBO] * 4


async def test_a_claims_challenge_is_left_for_the_http_layer() -> None:
    entra = FakeEntra(obo_refusal=("invalid_grant", 50076, "Due to a configuration change you must use MFA.", CLAIMS))
    obo = provider(entra)
    slot = ChallengeSlot()
    token = claims_challenge_slot.set(slot)
    try:
        with pytest.raises(DesktopFlowsError) as refused:
            await as_caller(signed_in(entra, ADA), obo)
    finally:
        claims_challenge_slot.reset(token)

    assert slot.claims == CLAIMS
    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert refused.value.dataverse_code == "insufficient_claims"
    assert "401" in (refused.value.hint or "")


async def test_missing_consent_names_the_admin_consent_step() -> None:
    entra = FakeEntra(obo_refusal=("invalid_grant", 65001, "The user or administrator has not consented.", None))

    with pytest.raises(DesktopFlowsError) as refused:
        await as_caller(signed_in(entra, ADA), provider(entra))

    assert refused.value.dataverse_code == "AADSTS65001"
    assert "Grant admin consent" in (refused.value.hint or "")
    assert CLIENT_ID in (refused.value.hint or "")


async def test_entra_unreachable_is_retryable() -> None:
    entra = FakeEntra()
    obo = provider(entra)
    ada = signed_in(entra, ADA)
    entra.stalled = True

    with pytest.raises(DesktopFlowsError) as failed:
        await as_caller(ada, obo)

    assert failed.value.code is ErrorCode.DATAVERSE_UNAVAILABLE
    assert failed.value.retryable
    assert ada.token not in failed.value.message + (failed.value.hint or "")


async def test_work_a_call_leaves_running_acts_for_that_caller_not_for_whoever_calls_next() -> None:
    entra = FakeEntra()
    obo = provider(entra)
    ada, grace = signed_in(entra, ADA), signed_in(entra, GRACE)
    go, tokens = anyio.Event(), list[str]()

    async def poller() -> None:  # what a call leaves behind: it waits, then reads the run
        await go.wait()
        tokens.append(await obo.token())

    async with anyio.create_task_group() as background:
        started = calling.set(ada)
        background.start_soon(poller)  # spawned inside Ada's call: it carries Ada's context
        calling.reset(started)
        assert await as_caller(grace, obo) == "fake-access-token-1"  # the next call is Grace's
        go.set()

    assert tokens == ["fake-access-token-2"]
    assert [form["assertion"] for form in entra.token_forms] == [grace.token, ada.token]


async def test_work_for_a_person_outside_their_request_uses_their_token_and_nobody_elses() -> None:
    entra = FakeEntra()
    obo = provider(entra)
    ada, grace = signed_in(entra, ADA), signed_in(entra, GRACE)
    await as_caller(ada, obo)

    acting = call_audit.set(CallAudit(f"entra:{TENANT}/{ADA.object_id}", "callback"))  # a callback for Ada's run
    try:
        assert await obo.token() == "fake-access-token-1"
        with pytest.raises(DesktopFlowsError):  # Grace's request cannot borrow Ada's identity, nor lend hers
            await as_caller(grace, obo)
    finally:
        call_audit.reset(acting)
    stranger = call_audit.set(CallAudit(f"entra:{TENANT}/never-called", "callback"))
    try:
        with pytest.raises(DesktopFlowsError) as unknown:
            await obo.token()
    finally:
        call_audit.reset(stranger)

    assert unknown.value.code is ErrorCode.UNAUTHENTICATED
    assert entra.grants() == [OBO]


async def test_one_persons_failed_sign_in_leaves_the_replica_ready() -> None:
    entra = FakeEntra(obo_refusal=("invalid_grant", 65001, "The user or administrator has not consented.", None))
    watch = SignInWatch(provider(entra))

    with pytest.raises(DesktopFlowsError):
        await as_caller(signed_in(entra, ADA), watch)

    assert await Readiness(watch).problems() == {}


@pytest.mark.parametrize("secret", [SECRET, "a-wrong-secret"])
async def test_doctor_checks_the_server_apps_credential_and_leaves_each_persons_access_to_their_calls(
    secret: str,
) -> None:
    entra = FakeEntra()
    context = SignInContext(mode="on_behalf_of", dataverse_url=URL, client_id=CLIENT_ID, tenant=TENANT)
    obo = OnBehalfOfProvider(context, secret, caller=calling.get, http_client=MsalHttpClient(entra))
    env = {
        "DATAVERSE_URL": URL,
        "DESKTOP_FLOWS_HTTP_AUTH": "entra",
        "DESKTOP_FLOWS_ENTRA_TENANT_ID": TENANT,
        "DESKTOP_FLOWS_ENTRA_CLIENT_ID": CLIENT_ID,
        "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET": secret,
    }
    doctor = Doctor(lambda: Settings.from_env(env), dataverse_transport=Emulator().transport(), token_provider=obo)

    report = await doctor.run()

    checks = {check.check: check for check in report.checks}
    assert entra.grants() == ["client_credentials"]  # the app alone: no person, no exchange
    if secret == SECRET:
        assert checks["sign-in"].status == "ok" and CLIENT_ID in checks["sign-in"].summary
        assert [checks[name].status for name in ("privileges", "allow-list", "connection")] == ["skip"] * 3
    else:
        assert checks["sign-in"].status == "fail" and "AADSTS7000215" in checks["sign-in"].summary
        assert "set DESKTOP_FLOWS_ENTRA_CLIENT_SECRET to its Value" in (checks["sign-in"].fix or "")
    assert secret not in report.to_text()
