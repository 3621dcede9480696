"""``GET /_emulator/starts``: every run start that reached the run limit, accepted or refused (the replica tests count
with it how many runs a fleet started in any 60 s)."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import BASE, CONNECTION, START, StartRun

from desktop_flows_mcp.emulator import Emulator

pytestmark = pytest.mark.anyio


async def test_the_starts_hook_lists_accepted_and_refused_starts(emulator: Emulator, start_run: StartRun) -> None:
    statuses = [(await start_run()).status_code for _ in range(71)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url=BASE) as hooks:
        starts = (await hooks.get("/_emulator/starts")).json()["value"]
    assert statuses.count(200) == 70 and statuses[-1] == 429
    assert [start["accepted"] for start in starts] == [True] * 70 + [False]
    assert {start["connection"] for start in starts} == {CONNECTION} and starts[0]["at"] == START
