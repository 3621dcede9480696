"""Each person's state with real Entra sign-in: Alice and Bob hold tokens from the emulator's fake Entra, the server
calls Dataverse on each one's behalf, and the Dataverse emulator lets each read only their own runs."""

from __future__ import annotations

import logging

import pytest

from desktop_flows_mcp.emulator.entra import ALICE, BOB, FakeEntra
from tests.entra_stack import entra_stack
from tests.helpers import error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio
KEYED = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "idempotency_key": "order-7"}


@pytest.mark.parametrize("mode", ERAS)
async def test_bob_can_neither_adopt_read_nor_cancel_alices_run_and_each_audit_line_names_its_person(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="desktop_flows_mcp.audit")
    entra = FakeEntra()
    async with entra_stack(entra) as stack:
        async with stack.client(entra.mint(ALICE), mode) as alice, stack.client(entra.mint(BOB), mode) as bob:
            alices = ok(await alice.call_tool("run_desktop_flow", KEYED))
            bobs = ok(await bob.call_tool("run_desktop_flow", KEYED))  # his own key, though it reads the same
            read = error_of(await bob.call_tool("get_desktop_flow_run", {"run_id": alices["run_id"]}))
            cancel = error_of(await bob.call_tool("cancel_desktop_flow_run", {"run_id": alices["run_id"]}))
            hers = ok(await alice.call_tool("get_desktop_flow_run", {"run_id": alices["run_id"]}))
        runs = stack.emulator.store.runs
    assert bobs["run_id"] != alices["run_id"] and not bobs["reused"]
    assert runs[alices["run_id"]].created_by != runs[bobs["run_id"]].created_by
    assert read["code"] in ("not_found", "permission_denied") and cancel["code"] in ("not_found", "permission_denied")
    assert runs[alices["run_id"]].cancelled_at is None and hers["run_id"] == alices["run_id"]
    started = [r for r in caplog.records if r.getMessage().startswith("run started")]
    assert [(r.__dict__["caller"], r.__dict__.get("upn")) for r in started] == [
        (f"entra:{ALICE.tenant}/{ALICE.oid}", ALICE.upn),
        (f"entra:{BOB.tenant}/{BOB.oid}", BOB.upn),
    ]
