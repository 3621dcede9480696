"""A token cache file that cannot be read is named once, with the fix, and sign-in goes on with an empty cache."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError
from desktop_flows_mcp.signin.token_cache import PLAINTEXT_FILE
from tests.fakes.entra import FakeEntra
from tests.signin.helpers_signin import plaintext_device_code

pytestmark = pytest.mark.anyio

GARBAGE = '{"AccessToken": {"half-written'


def scribble(path: Path) -> None:
    path.write_text(GARBAGE)
    later = time.time() + 60  # newer than the cache's last sync, whatever the file system's time resolution
    os.utime(path, (later, later))


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "cannot read the token cache" in record.getMessage()]


async def test_a_corrupt_cache_is_named_once_at_start_up_and_sign_in_works_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file = tmp_path / PLAINTEXT_FILE
    cache_file.write_text(GARBAGE)
    entra = FakeEntra()
    provider = plaintext_device_code(tmp_path, entra)
    try:
        with pytest.raises(DesktopFlowsError) as prompt:
            await provider.token()
        entra.approve("FAKE-0001")
        token = await provider.token()
        again = await provider.token()
    finally:
        provider.close()

    assert "FAKE-0001" in prompt.value.message  # a sign-in prompt, not a cache error
    assert (token, again) == ("fake-access-token-1", "fake-access-token-1")
    [warning] = cache_warnings(caplog)
    assert str(cache_file) in warning and "delete that file" in warning
    assert GARBAGE not in caplog.text
    assert cache_file.read_text() == GARBAGE  # left for the person to delete


async def test_a_cache_that_breaks_while_running_is_named_once_and_the_sign_in_stays_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    entra = FakeEntra()
    provider = plaintext_device_code(tmp_path, entra)
    try:
        with pytest.raises(DesktopFlowsError):
            await provider.token()
        entra.approve("FAKE-0001")
        assert await provider.token() == "fake-access-token-1"
        scribble(tmp_path / PLAINTEXT_FILE)  # another program writes over it

        tokens = [await provider.token(), await provider.token()]
    finally:
        provider.close()

    assert tokens == ["fake-access-token-1", "fake-access-token-1"]
    assert len(cache_warnings(caplog)) == 1
    assert (tmp_path / PLAINTEXT_FILE).read_text() == GARBAGE
