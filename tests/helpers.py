"""What many tests share: the fake clock, settings, Dataverse-shaped rows, an in-memory client, result readers.

Fixtures live in ``conftest.py``; a test module imports from here, never from another test module."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from mcp import Client
from mcp.types import CallToolResult

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.server import build_server

ENV_URL = "https://contoso.crm.dynamics.com"
API = ENV_URL + "/api/data/v9.2/"
TOKEN = "test-token-5f2b"
FLOW_ID = "f091ffab-58bb-4630-a115-659453d56f59"
OTHER_FLOW_ID = "eafba1a2-e8d4-4efa-b549-11d4dfd9a3d1"
RUN_ID = "d9687093-d0c0-ec11-983e-0022480b428a"
OTHER_RUN_ID = "5b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"


class FakeClock(Clock):
    """The app's ``Clock`` on fake time: ``seconds`` moves only when something sleeps (every sleep is recorded);
    ``now()`` reads it as seconds after the epoch. Called, it is the monotonic time (the emulator's clock)."""

    seconds: float
    sleeps: list[float]

    def __init__(self) -> None:
        super().__init__(now=self._wall, monotonic=self, sleep=self._sleep)
        self.seconds = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.seconds

    def _wall(self) -> datetime:
        return datetime.fromtimestamp(self.seconds, UTC)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds


def make_settings(**env: str) -> Settings:
    base = {"DATAVERSE_URL": ENV_URL, "DATAVERSE_ACCESS_TOKEN": TOKEN, "DESKTOP_FLOWS_CONNECTION": "conn-1"}
    return Settings.from_env({**base, **env})


def flow_row(flow_id: str = FLOW_ID, name: str = "Invoice entry", statecode: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.etag": 'W/"1069462"',
        "workflowid": flow_id,
        "name": name,
        "description": "",
        "statecode": statecode,
        "category": 6,
        "modifiedon": "2026-11-01T10:00:00Z",
        **extra,
    }


def run_row(run_id: str = RUN_ID, statuscode: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.etag": 'W/"1276122"',
        "flowsessionid": run_id,
        "statuscode": statuscode,
        "statecode": 0,
        "createdon": "2026-11-28T09:00:00Z",
        "startedon": "2026-11-28T09:00:05Z",
        "completedon": None,
        "errorcode": None,
        "errormessage": None,
        "runmode": 1,
        "_regardingobjectid_value": FLOW_ID,
        **extra,
    }


INPUT_SCHEMA = {
    "schema": {
        "properties": {
            "InvoiceNumber": {
                "default": "",
                "description": "",
                "format": None,
                "title": "InvoiceNumber",
                "type": "string",
                "value": "",
            },
            "Amount": {
                "default": "",
                "description": "",
                "format": None,
                "title": "Amount",
                "type": "number",
                "value": "0",
            },
        },
        "type": "object",
    }
}


@asynccontextmanager
async def connect(
    settings: Settings | None = None, clock: FakeClock | None = None, mode: str = "auto"
) -> AsyncGenerator[Client, None]:
    """An in-memory MCP client on a server whose HTTP goes to respx (tests add the routes)."""
    clock = clock or FakeClock()
    server = build_server(App(settings or make_settings(), clock=clock))
    async with Client(server, mode=mode, raise_exceptions=True) as client:  # type: ignore[arg-type]
        yield client


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result
    assert result.structured_content is not None
    error: dict[str, Any] = result.structured_content["error"]
    # The same error is in the text content, for clients that ignore structuredContent.
    assert json.loads(result.content[0].text)["error"] == error  # type: ignore[union-attr]
    return error


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def compact_size(body: dict[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
