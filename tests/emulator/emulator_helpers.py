"""Constants and helpers shared by the emulator tests (a plain module: conftest is not importable)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from desktop_flows_mcp.emulator import EMULATOR_TOKEN, Emulator

START = 1_780_000_000.0  # 2026-05-28T20:26:40Z
BASE = "http://emulator.local"
API = f"{BASE}/api/data/v9.2/"

INVOICE_FLOW = "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"
VENDOR_LOOKUP_FLOW = "7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53"
SALES_REPORT_FLOW = "e2b8d4f6-1a3c-4d5e-8f70-9b6a2c4e1d38"
PERMIT_FLOW = "5d9b3f17-6e2a-4c8d-b1f4-3a7e9c2d6b80"
PDF_FLOW = "f4a7c2d9-8b1e-4f3a-9d65-7c2e4a8b1f90"
VPN_FLOW = "1a9c7e5b-3f6d-4b2a-8d19-7f4c2e9a6b58"
DRAFT_FLOW = "5f2b8d6e-4c1a-4e7f-a3b9-1d6e4c8f2a93"
SUSPENDED_FLOW = "7a5e3c1f-8d2b-4f6a-b9c4-5e8a1d3f7c62"
CLOUD_FLOW = "0d4f8b2a-6e1c-4a9d-8b35-3f7a9c1e5d42"
CONNECTION = "shared-uiflow-7f3c1a"

StartRun = Callable[..., Awaitable[httpx.Response]]


def api_client(emulator: Emulator, token: str | None = EMULATOR_TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url=API, headers=headers)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]
