"""Three replicas behind one address (HTTP, loopback, subprocesses) over one emulator, sharing a real Redis."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import pytest

from tests.conftest import error_of, ok
from tests.shared_state.fleet import fleet
from tests.test_full_stack import INVOICE_FLOW, INVOICE_INPUTS

pytestmark = pytest.mark.anyio


def run_args(key: str, number: int = 1) -> dict[str, Any]:
    inputs = INVOICE_INPUTS | {"InvoiceNumber": f"INV-{number}"}  # distinct inputs: adoption can tell runs apart
    return {"flow": INVOICE_FLOW, "inputs": inputs, "idempotency_key": key}


def most_in_any_minute(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + 60) for i, start in enumerate(times)), default=0)


async def test_one_key_sent_to_three_replicas_at_once_starts_one_run(redis_url: str) -> None:
    async with fleet(redis_url) as replicas:
        answers: list[dict[str, Any]] = []
        key = f"same-{uuid.uuid4()}"

        async def send(replica: int) -> None:
            answers.append(ok(await replicas.call(replica, "run_desktop_flow", run_args(key))))

        async with anyio.create_task_group() as group:
            for replica in range(3):
                group.start_soon(send, replica)
        starts = await replicas.starts()
    assert len({answer["run_id"] for answer in answers}) == 1
    assert sorted(answer["reused"] for answer in answers) == [False, True, True]
    assert len(starts) == 1


async def test_75_runs_over_three_replicas_stay_within_70_a_minute_and_the_rest_are_throttled(
    redis_url: str,
) -> None:
    async with fleet(redis_url) as replicas:
        accepted: list[str] = []
        refused: list[dict[str, Any]] = []
        batch = uuid.uuid4()

        async def send(number: int) -> None:
            result = await replicas.call(number % 3, "run_desktop_flow", run_args(f"{batch}-{number}", number))
            if result.is_error:
                refused.append(error_of(result))
            else:
                accepted.append(ok(result)["run_id"])

        began = time.monotonic()
        async with anyio.create_task_group() as group:
            for number in range(75):
                group.start_soon(send, number)
        elapsed = time.monotonic() - began
        starts = await replicas.starts()
    seen = [start["at"] for start in starts if start["accepted"]]
    print(
        f"75 runs over 3 replicas in {elapsed:.2f} s: {len(accepted)} accepted, {len(refused)} throttled; "
        f"emulator saw {len(starts)} starts, refused {len(starts) - len(seen)}, most in 60 s {most_in_any_minute(seen)}"
    )
    assert len(accepted) == len(set(accepted)) == 70
    assert len(refused) == 5
    for error in refused:
        assert error["code"] == "throttled" and error["retryable"]
        assert 50 < error["retry_after_seconds"] <= 60 and "No run was started" in error["message"]
    assert len(starts) == len(seen) == 70  # the emulator refused none
    assert most_in_any_minute(seen) <= 70
