"""Serving over loopback HTTP with uvicorn: a real request, a real dropped connection, clean shutdown."""

from __future__ import annotations

import anyio
import httpx
import pytest

from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator, serve

pytestmark = pytest.mark.anyio


async def test_serve_answers_real_http_and_shuts_down_when_cancelled() -> None:
    emulator = Emulator(test_api=True)
    emulator.faults.add("WhoAmI", body="drop")
    urls: list[str] = []
    responses: list[httpx.Response] = []
    listening = anyio.Event()

    def ready(url: str) -> None:
        urls.append(url)
        listening.set()

    async def run() -> None:
        await serve(port=0, ready=ready, emulator=emulator)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await listening.wait()
            headers = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
            async with httpx.AsyncClient(base_url=f"{urls[0]}/api/data/v9.2/", headers=headers) as client:
                with pytest.raises(httpx.RemoteProtocolError):
                    await client.get("WhoAmI")
                responses.append(await client.get("workflows", params={"$select": "name", "$top": "1"}))
            group.cancel_scope.cancel()

    assert urls[0].startswith("http://127.0.0.1:") and not urls[0].endswith(":0")
    [response] = responses
    assert response.status_code == 200
    assert response.json()["@odata.context"] == f"{urls[0]}/api/data/v9.2/$metadata#workflows(name)"
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{urls[0]}/api/data/v9.2/WhoAmI")
