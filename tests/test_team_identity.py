"""Each person runs flows as themselves (#22), end to end: Alice and Bob on one HTTP server behind Entra sign-in, the
Dataverse emulator behind the fake Entra. Each run's createdby is its starter, and what Bob may read of Alice's run
is Dataverse's answer (a basic user reads only their own runs), with no memory of this server's in between."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.emulator.bearer import ALICE_USER, BOB_USER
from desktop_flows_mcp.emulator.entra import ALICE, BOB, FakeEntra
from tests.entra_stack import entra_stack
from tests.helpers import error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio
INVOICE = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}


@pytest.mark.parametrize("mode", ERAS)
async def test_alice_and_bob_run_as_themselves_and_bob_cannot_see_poll_cancel_or_adopt_alices_run(mode: str) -> None:
    entra = FakeEntra()
    async with (
        entra_stack(entra) as stack,
        stack.client(entra.mint(ALICE), mode) as alice,
        stack.client(entra.mint(BOB), mode) as bob,
    ):
        alices = ok(await alice.call_tool("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"}))
        bobs = ok(await bob.call_tool("run_desktop_flow", INVOICE))
        run_id = alices["run_id"]
        see = error_of(await bob.call_tool("get_desktop_flow_run", {"run_id": run_id}))
        poll = error_of(await bob.call_tool("wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 1}))
        cancel = error_of(await bob.call_tool("cancel_desktop_flow_run", {"run_id": run_id}))
        adopt = ok(await bob.call_tool("run_desktop_flow", {**INVOICE, "idempotency_key": "order-7"}))
        listed = ok(await bob.call_tool("list_desktop_flow_runs", {}))
        still = ok(await alice.call_tool("get_desktop_flow_run", {"run_id": run_id}))
        runs = stack.emulator.store.runs

    assert (runs[run_id].created_by, runs[bobs["run_id"]].created_by) == (ALICE_USER.user_id, BOB_USER.user_id)
    assert runs[adopt["run_id"]].created_by == BOB_USER.user_id
    for refused in (see, poll, cancel):
        assert refused["code"] == "permission_denied", refused
    assert adopt["run_id"] != run_id and not adopt["reused"]  # his key is his own: a new run, his
    assert run_id not in {run["run_id"] for run in listed["runs"]}
    assert runs[run_id].cancelled_at is None and not still["is_terminal"]  # Alice's run goes on
