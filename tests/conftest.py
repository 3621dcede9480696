"""Shared fixtures: an asyncio anyio backend, a fake clock, settings and a respx-faked Dataverse."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import respx
from hypothesis import settings as hypothesis_settings

from tests.helpers import (
    API,
    FakeClock,
)

# CI runs the property tests on a fixed seed, so a landing never depends on the draw; on a developer's machine they
# keep exploring (and remember what failed, under .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers this test starts (subprocesses, or settings read from os.environ) keep idempotency keys and start-up
    snapshots in temporary folders, never in the user's real state or cache directory."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("LOCALAPPDATA", str(state))
    monkeypatch.delenv("DESKTOP_FLOWS_STATE_DIR", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dataverse() -> Iterator[respx.MockRouter]:
    """respx routes relative to the Web API root; any request without a route fails the test."""
    with respx.mock(base_url=API, assert_all_called=False, assert_all_mocked=True) as router:
        yield router
