"""Keys outlive the process: a server killed mid-start (the file store, or a Redis replica) and a retry after it
never give two runs, and two processes of one machine sharing the key file start one run for one key. Real
subprocesses over a real emulator (its clock moved through its test API); each case counts the emulator's runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import ok
from tests.shared_state.fleet import Fleet, fleet
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def run_args(key: str) -> dict[str, Any]:
    return {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "idempotency_key": key}


async def kill_mid_start_then_retry(replicas: Fleet, dies: int, retries: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replica ``dies`` is killed while Dataverse holds its start (the run appears 25 s later); ``retries`` calls
    again before the run appears (the uncertain answer), and after (the answer that settles it): both answers
    as they came (``structuredContent``)."""
    key = f"killed-{uuid.uuid4()}"
    await replicas.lie_about_next_start(creates_run_after=25, answer_after=5)
    async with anyio.create_task_group() as group:

        async def doomed() -> None:
            try:
                await replicas.call_alone(dies, "run_desktop_flow", run_args(key))
            except Exception:  # the replica died under this call
                return

        group.start_soon(doomed)
        await replicas.until_a_start_arrived()
        replicas.kill(dies)
    if dies == retries:
        await replicas.restart(dies)
    uncertain = await replicas.call_alone(retries, "run_desktop_flow", run_args(key))
    await replicas.advance(30)
    settled = await replicas.call_alone(retries, "run_desktop_flow", run_args(key))
    await replicas.advance(300)  # every late run created: the count is final
    return uncertain.structured_content or {}, settled.structured_content or {}


async def test_a_server_killed_mid_start_and_restarted_on_the_key_file_starts_no_second_run(tmp_path: Path) -> None:
    async with fleet(None, size=1, state_dir=str(tmp_path)) as replicas:
        uncertain, settled = await kill_mid_start_then_retry(replicas, dies=0, retries=0)
        starts = await replicas.starts()
    print(f"killed mid-start, restarted on the key file: {uncertain}, then {settled}; {len(starts)} run(s)")
    assert len(starts) == 1 and starts[0]["accepted"]
    assert uncertain["error"]["code"] == "run_status_unknown" and "run_id" not in uncertain["error"]
    assert settled["reused"] is True


async def test_a_redis_replica_killed_mid_start_leaves_the_attempt_uncertain_then_adopted(redis_url: str) -> None:
    async with fleet(redis_url, size=2) as replicas:
        uncertain, settled = await kill_mid_start_then_retry(replicas, dies=0, retries=1)
        starts = await replicas.starts()
    print(f"Redis replica killed mid-start: {uncertain}, then {settled}; {len(starts)} run(s)")
    assert len(starts) == 1 and starts[0]["accepted"]
    assert uncertain["error"]["code"] == "run_status_unknown" and "run_id" not in uncertain["error"]
    assert settled["reused"] is True


async def test_two_processes_sharing_the_key_file_start_one_run_for_one_key(tmp_path: Path) -> None:
    async with fleet(None, size=2, state_dir=str(tmp_path)) as replicas:
        key = f"two-{uuid.uuid4()}"
        answers: list[dict[str, Any]] = []

        async def send(replica: int) -> None:
            answers.append(ok(await replicas.call(replica, "run_desktop_flow", run_args(key))))

        async with anyio.create_task_group() as group:
            for replica in range(2):
                group.start_soon(send, replica)
        starts = await replicas.starts()
    print(f"two processes, one key file, one key at once: {len(starts)} run(s), answers {answers}")
    assert len({answer["run_id"] for answer in answers}) == 1
    assert sorted(answer["reused"] for answer in answers) == [False, True]
    assert len(starts) == 1
