"""End to end over loopback HTTP: the server in Streamable HTTP mode with a loopback public URL, the emulator on its
own port posting its callback there, and an MCP client over HTTP. The emulator's clock is moved, never slept on."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest

from desktop_flows_mcp.callback_endpoint import UNKNOWN_LIMIT
from tests.processes import deployment

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_a_callback_over_http_ends_the_wait_within_a_second_of_the_runs_end_with_one_read() -> None:
    async with deployment() as d:
        run_id = await d.start_report()
        times: dict[str, float] = {}
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                arguments = {"run_id": run_id, "timeout_seconds": 60}
                result.update(
                    (await d.client.call_tool("wait_for_desktop_flow_run", arguments)).structured_content or {}
                )
                times["answered"] = time.monotonic()

            group.start_soon(wait)
            await d.waiting(run_id)
            times["ended"] = time.monotonic()
            await d.emulator.advance(25)  # the run ends (TimedOut at 21 s) and the emulator posts its callback
        deliveries = d.emulator.callbacks.deliveries
        assert result["status"] == "TimedOut"
        assert times["answered"] - times["ended"] < 1.0
        assert d.wire.status_reads(run_id) == 1
        assert [x.url.startswith(f"{d.base}/callbacks/") for x in deliveries] == [True]
        assert deliveries[0].attempts == [202]


async def test_forged_callbacks_over_http_change_nothing() -> None:
    async with deployment() as d:
        run_id = await d.start_report()
        real_url = d.emulator.store.runs[run_id].callback_url
        assert real_url is not None
        lie = {"statuscode": 4, "statecode": 0, "flowsessionid": run_id}
        result: dict[str, Any] = {}
        codes: dict[str, int] = {}
        flood: list[int] = []
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                arguments = {"run_id": run_id, "timeout_seconds": 60}
                result.update(
                    (await d.client.call_tool("wait_for_desktop_flow_run", arguments)).structured_content or {}
                )

            group.start_soon(wait)
            await d.waiting(run_id)
            async with httpx.AsyncClient(base_url=d.base) as http:
                codes["wrong"] = (await http.post("/callbacks/" + "A" * 43, json=lie)).status_code
                codes["huge"] = (await http.post(real_url, content=b" " * 20_000)).status_code
                codes["lying"] = (await http.post(real_url, json=lie)).status_code
                with anyio.fail_after(10):  # the lying callback's re-read
                    while d.wire.status_reads(run_id) < 1:
                        await anyio.sleep(0.005)
                await d.waiting(run_id)  # found Running: the wait goes on
                assert not result

                async def forge(i: int) -> None:
                    flood.append((await http.post(f"/callbacks/{'B' * 40}{i:03d}", json=lie)).status_code)

                async with anyio.create_task_group() as burst:
                    for i in range(60):
                        burst.start_soon(forge, i)
            # The flood's unknown tokens spend no overall limit: the real callback, from the same address, is served.
            await d.emulator.advance(25)
        assert codes == {"wrong": 404, "huge": 413, "lying": 202}
        assert len(flood) == 60 and flood.count(404) == UNKNOWN_LIMIT - 1  # with "wrong", one source's allowance
        assert flood.count(429) == 61 - UNKNOWN_LIMIT
        assert result["status"] == "TimedOut"
        assert d.wire.status_reads(run_id) == 2  # the lie's re-read and the real callback's
        assert d.emulator.callbacks.deliveries[0].attempts[-1] == 202
