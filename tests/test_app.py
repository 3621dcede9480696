"""The composition root: an ``App`` exists before any MCP server and hands its services out only while it runs."""

from __future__ import annotations

import pytest
import respx

from desktop_flows_mcp.app import App
from tests.helpers import FakeClock, make_settings

pytestmark = pytest.mark.anyio


async def test_the_services_exist_only_while_the_app_runs(dataverse: respx.MockRouter) -> None:
    app = App(make_settings(DESKTOP_FLOWS_PUBLIC_URL="https://flows-mcp.contoso.com"))
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.services
    assert app.callback_receiver is None
    async with app.running() as services:
        assert app.services is services
        assert app.callback_receiver is services.callbacks is not None
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.services
    assert app.callback_receiver is None


async def test_without_a_public_url_there_is_no_callback_endpoint(dataverse: respx.MockRouter) -> None:
    async with App(make_settings()).running() as services:
        assert services.callbacks is None


async def test_every_service_reads_time_from_the_one_clock(dataverse: respx.MockRouter) -> None:
    clock = FakeClock()
    app = App(make_settings(), clock=clock)
    async with app.running():
        await app.wait_for_change("0f2a8c1e-6b1d-4d2c-9b8e-1a2b3c4d5e6f", 7.5)  # no callbacks: the clock's sleep
    assert clock.sleeps == [7.5]
