"""What on_behalf_of costs per call, against a baseline measured in the same run, and what its cache holds.

    python bench/obo_cache.py

Entra is the tests' fake (msal's real code, its HTTP answered in process), so the figures are our path and msal's,
not the network's. Reported:

    per call      token() for a caller already exchanged, against StaticTokenProvider.token() (the baseline): the
                  ratio of the medians of interleaved rounds
    exchanges     Entra token requests for 200 callers calling 5 times each
    memory        bytes allocated per remembered caller (our entry and msal's cached tokens and account), and what
                  the cap (MAX_CALLERS) keeps when more people call
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from contextvars import ContextVar
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake Entra

from tests.fakes.entra import CLIENT_ID, SECRET, TENANT, FakeEntra, Person
from tests.fakes.msal_http import MsalHttpClient

from desktop_flows_mcp.auth import StaticTokenProvider, TokenProvider
from desktop_flows_mcp.signin.aadsts import SignInContext
from desktop_flows_mcp.signin.on_behalf_of import OnBehalfOfProvider, UserAssertion

calling: ContextVar[UserAssertion | None] = ContextVar("calling", default=None)
ROUNDS, CALLS = 9, 2000


def provider(entra: FakeEntra, max_callers: int = 1000) -> OnBehalfOfProvider:
    context = SignInContext(
        mode="on_behalf_of", dataverse_url="https://contoso.crm.dynamics.com", client_id=CLIENT_ID, tenant=TENANT
    )
    return OnBehalfOfProvider(
        context, SECRET, caller=calling.get, http_client=MsalHttpClient(entra), max_callers=max_callers
    )


def person(entra: FakeEntra, n: int) -> UserAssertion:
    who = Person(f"p{n}@contoso.example", f"{n:08d}-0000-4000-8000-000000000000", f"Person {n}")
    expires = time.time() + 3600
    return UserAssertion(entra.user_assertion(who, expires), expires, TENANT, who.object_id)


async def per_call() -> tuple[float, float]:
    entra = FakeEntra()
    obo, static = provider(entra), StaticTokenProvider("a-token")
    calling.set(person(entra, 0))
    await obo.token()
    ours: list[float] = []
    base: list[float] = []
    pairs: list[tuple[list[float], TokenProvider]] = [(base, static), (ours, obo)]
    for _ in range(ROUNDS):
        for timings, subject in pairs:
            started = time.perf_counter()
            for _ in range(CALLS):
                await subject.token()
            timings.append((time.perf_counter() - started) / CALLS)
    return statistics.median(ours), statistics.median(base)


async def exchanges() -> int:
    entra = FakeEntra()
    obo = provider(entra)
    people = [person(entra, n) for n in range(200)]
    for _ in range(5):
        for who in people:
            calling.set(who)
            await obo.token()
    return len(entra.token_forms)


async def memory() -> tuple[int, int, int]:
    entra = FakeEntra()
    obo = provider(entra, max_callers=200)
    people = [person(entra, n) for n in range(401)]
    calling.set(people[0])
    await obo.token()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for who in people[1:201]:
        calling.set(who)
        await obo.token()
    per_caller = (tracemalloc.get_traced_memory()[0] - before) // 200
    tracemalloc.stop()
    for who in people[201:]:
        calling.set(who)
        await obo.token()
    return per_caller, obo.callers, 401


async def main() -> None:
    ours, base = await per_call()
    print(f"per call: {ours * 1e6:.1f} us vs StaticTokenProvider {base * 1e6:.1f} us (ratio {ours / base:.1f})")
    print(f"exchanges: {await exchanges()} Entra token requests for 200 callers x 5 calls")
    per_caller, kept, called = await memory()
    print(f"memory: about {per_caller} bytes per remembered caller (fake tokens; real ones are longer)")
    print(f"cap: {kept} callers remembered after {called} called with max_callers=200")


if __name__ == "__main__":
    anyio.run(main)
