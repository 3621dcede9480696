"""A start whose holder stopped mid-flight (a replica died, a bug, a cancelled call) leaves the attempt uncertain: the
next call with the key adopts the run it made, or, once Dataverse can no longer create it, starts one once."""

from __future__ import annotations

import httpx
import pytest

from desktop_flows_mcp.adoption import HORIZON_SECONDS
from tests.helpers import error_of, ok
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, full_stack

pytestmark = pytest.mark.anyio
RUN = "Microsoft.Dynamics.CRM.RunDesktopFlow"


class CrashesMidStart(httpx.AsyncBaseTransport):
    """The first run start reaches the emulator (``send_first``) or not, then the server side breaks."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, send_first: bool) -> None:
        self.inner, self.send_first, self.crashed = inner, send_first, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(RUN) and not self.crashed:
            self.crashed = True
            if self.send_first:
                await (await self.inner.handle_async_request(request)).aread()
            raise RuntimeError("the holder stopped here")
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("sent", [True, False])
async def test_a_start_that_stopped_mid_flight_is_adopted_or_started_once(sent: bool) -> None:
    args = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "idempotency_key": "k-in-flight"}
    async with full_stack(wrap=lambda inner: CrashesMidStart(inner, send_first=sent)) as stack:
        before = len(stack.emulator.store.runs)
        crashed = error_of(await stack.call("run_desktop_flow", args))
        if not sent:
            assert error_of(await stack.call("run_desktop_flow", args))["code"] == "run_status_unknown"
            await stack.clock.sleep(HORIZON_SECONDS)
        retried = ok(await stack.call("run_desktop_flow", args))
        again = ok(await stack.call("run_desktop_flow", args))
        made = len(stack.emulator.store.runs) - before
    assert crashed["code"] == "internal"
    assert made == 1
    assert retried["reused"] is sent and again["reused"] and again["run_id"] == retried["run_id"]
