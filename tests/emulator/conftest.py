from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from emulator_helpers import CONNECTION, INVOICE_FLOW, START, StartRun, api_client

from desktop_flows_mcp.emulator import Emulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(clock=lambda: START, test_api=True)


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(emulator) as client:
        yield client


@pytest.fixture
def start_run(client: httpx.AsyncClient) -> StartRun:
    """POST RunDesktopFlow with a valid body; keyword arguments override or add body fields."""

    async def start(flow_id: str = INVOICE_FLOW, inputs: dict[str, Any] | None = None, **body: Any) -> httpx.Response:
        payload: dict[str, Any] = {"runMode": "unattended", "connectionName": CONNECTION, **body}
        if inputs is not None:
            payload["inputs"] = json.dumps(inputs)
        if "raw_inputs" in payload:  # sent as given, to test what Dataverse does with wrong shapes
            payload["inputs"] = payload.pop("raw_inputs")
        return await client.post(f"workflows({flow_id})/Microsoft.Dynamics.CRM.RunDesktopFlow", json=payload)

    return start
