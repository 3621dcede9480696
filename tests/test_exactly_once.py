"""Exactly once, against an emulator that creates runs late (the way a loaded environment does): every case
counts the runs on the emulator: exactly one, or none with a ``run_status_unknown``/``conflict`` answer that has no
run_id and says when to call again. Never two, never an adopted stranger. See README "Exactly once".

The emulator's switch ``creates_run_after`` answers a run start with a failure and creates its run that many
seconds later on its clock (0: before answering); the test moves the shared fake clock, nothing sleeps.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from desktop_flows_mcp.adoption import HORIZON_SECONDS
from tests.helpers import error_of, ok
from tests.stacks import ERAS, INVOICE_FLOW, INVOICE_INPUTS, Stack, full_stack

pytestmark = pytest.mark.anyio
RUN = "Microsoft.Dynamics.CRM.RunDesktopFlow"
FLOW_PREFIX = "3a1f5c2e"  # the invoice flow's id


def args(key: str | None, **inputs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"flow": INVOICE_FLOW, "inputs": {**INVOICE_INPUTS, **inputs}}
    return body | ({"idempotency_key": key} if key else {})


def runs(stack: Stack) -> list[str]:
    return [run.id for run in stack.emulator.store.runs.values() if run.workflow_id.startswith(FLOW_PREFIX)]


async def runs_in_the_end(stack: Stack, before: list[str]) -> list[str]:
    """The runs made since ``before``, counted once every late run the emulator holds has been created."""
    await stack.clock.sleep(HORIZON_SECONDS)
    stack.emulator.create_due_runs()
    return [run_id for run_id in runs(stack) if run_id not in before]


def lie_about_next_start(stack: Stack, *, creates_run_after: float | None, status: int = 504) -> None:
    """The next run start is answered ``status``; its run is created ``creates_run_after`` s later (None: never)."""
    stack.emulator.faults.enabled = True
    stack.emulator.faults.add(RUN, method="POST", status=status, creates_run_after=creates_run_after)


async def retry_until_answered(stack: Stack, key: str, *, most: int = 40) -> tuple[dict[str, Any], list[float]]:
    """Call again with ``key`` as each ``run_status_unknown`` says, until a run or another error comes back;
    returns that answer and the waits asked for."""
    waits: list[float] = []
    for _ in range(most):
        result = await stack.call("run_desktop_flow", args(key))
        if not result.is_error:
            return ok(result), waits
        error = error_of(result)
        if error["code"] != "run_status_unknown":
            return error, waits
        assert "run_id" not in error and error["retryable"] is True
        assert "No run was started" in error["message"] and "Do not start it again" in error["hint"]
        waits.append(error["retry_after_seconds"])
        await stack.clock.sleep(error["retry_after_seconds"])
    raise AssertionError("still uncertain after every retry")


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("late", [12, 25, 70])
async def test_a_run_created_late_after_an_uncertain_start_is_adopted_and_never_doubled(mode: str, late: int) -> None:
    async with full_stack(mode) as stack:
        before = runs(stack)
        lie_about_next_start(stack, creates_run_after=late)
        first = error_of(await stack.call("run_desktop_flow", args("late")))
        answer, waits = await retry_until_answered(stack, "late")
        made = await runs_in_the_end(stack, before)
    # 504: it may have started; the key makes calling again safe, and the agent is told to use it, not a new one
    assert first["code"] == "dataverse_unavailable" and first["retryable"] is True
    assert first["retry_after_seconds"] == 30 and "same idempotency_key" in first["hint"]
    assert "run_id" not in first
    assert len(made) == 1 and answer["run_id"] == made[0] and answer["reused"] is True
    assert sum(waits) >= late and len(waits) == -(-late // 30)  # asked to come back every 30 s until it shows
    assert stack.wire.paths().count(f"POST {RUN}") == 1


async def test_an_error_answered_after_the_run_was_created_is_adopted_at_once() -> None:
    async with full_stack() as stack:
        before = runs(stack)
        lie_about_next_start(stack, creates_run_after=0, status=503)
        error_of(await stack.call("run_desktop_flow", args("created-then-failed")))
        answer = ok(await stack.call("run_desktop_flow", args("created-then-failed")))
        made = await runs_in_the_end(stack, before)
    assert made == [answer["run_id"]] and answer["reused"] is True


@pytest.mark.parametrize("mode", ERAS)
async def test_an_attempt_that_made_nothing_is_uncertain_until_the_horizon_then_starts_once(mode: str) -> None:
    async with full_stack(mode) as stack:
        before = runs(stack)
        lie_about_next_start(stack, creates_run_after=None)
        error_of(await stack.call("run_desktop_flow", args("nothing")))
        answer, waits = await retry_until_answered(stack, "nothing")
        made = await runs_in_the_end(stack, before)
    assert answer["reused"] is False and made == [answer["run_id"]]
    assert sum(waits) >= HORIZON_SECONDS - 1  # nothing started while Dataverse could still create the first
    assert stack.wire.paths().count(f"POST {RUN}") == 2


@pytest.mark.parametrize("mode", ERAS)
async def test_a_key_less_run_with_the_same_inputs_is_named_but_never_adopted(mode: str) -> None:
    async with full_stack(mode) as stack:
        lie_about_next_start(stack, creates_run_after=None)
        error_of(await stack.call("run_desktop_flow", args("foreign")))
        stranger = ok(await stack.call("run_desktop_flow", args(None)))  # same flow, connection, inputs, identity
        before = runs(stack)
        uncertain = error_of(await stack.call("run_desktop_flow", args("foreign")))
        await stack.clock.sleep(HORIZON_SECONDS)
        conflict = error_of(await stack.call("run_desktop_flow", args("foreign")))
        again = error_of(await stack.call("run_desktop_flow", args("foreign")))
    assert uncertain["code"] == "run_status_unknown" and stranger["run_id"] in uncertain["message"]
    assert conflict["code"] == "conflict" and stranger["run_id"] in conflict["message"]
    assert "none was adopted and no run was started" in conflict["message"] and again == conflict
    assert runs(stack) == before  # the key started nothing, and claimed nothing
    assert stack.wire.paths().count(f"POST {RUN}") == 2  # the lost attempt and the stranger


class StallsRunStarts(httpx.AsyncBaseTransport):
    """Run starts reach the emulator (which creates the run ``late`` s afterwards); the answer never comes."""

    def __init__(self, inner: httpx.AsyncBaseTransport, late: float) -> None:
        self.inner, self.late, self.arrived = inner, late, anyio.Event()
        self.stalled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(RUN) and not self.stalled:
            self.stalled += 1
            faults = self.inner_emulator.faults
            faults.enabled = True
            faults.add(RUN, method="POST", status=504, creates_run_after=self.late)
            await (await self.inner.handle_async_request(request)).aread()
            self.arrived.set()
            await anyio.sleep_forever()
        return await self.inner.handle_async_request(request)

    inner_emulator: Any = None


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_cancelled_mid_start_leaves_the_attempt_uncertain_never_forgotten(mode: str) -> None:
    stall: list[StallsRunStarts] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        stall.append(StallsRunStarts(inner, late=25))
        return stall[0]

    async with full_stack(mode, wrap=wrap) as stack:
        stall[0].inner_emulator = stack.emulator
        before = runs(stack)
        async with anyio.create_task_group() as group:
            group.start_soon(stack.call, "run_desktop_flow", args("cancelled"))
            await stall[0].arrived.wait()
            group.cancel_scope.cancel()  # the client gives up; the SDK tells the server, which cancels the call
        answer, waits = await retry_until_answered(stack, "cancelled")
        made = await runs_in_the_end(stack, before)
    assert len(made) == 1 and answer["run_id"] == made[0] and answer["reused"] is True and waits
    assert stack.wire.paths().count(f"POST {RUN}") == 1
