"""Two processes share one token cache file: one that reads while the other saves still finds the person signed in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msal  # pyright: ignore[reportMissingTypeStubs]
import msal_extensions.persistence  # pyright: ignore[reportMissingTypeStubs]
import pytest

from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from desktop_flows_mcp.signin.token_cache import PLAINTEXT_FILE, open_token_cache
from tests.fakes.entra import ADA, FakeEntra
from tests.signin.helpers_signin import plaintext_device_code

pytestmark = pytest.mark.anyio


@pytest.fixture
def signed_in_process(entra: FakeEntra, tmp_path: Path) -> Iterator[DeviceCodeProvider]:
    provider = plaintext_device_code(tmp_path, entra)
    yield provider
    provider.close()


def accounts_another_process_finds(cache_dir: Path) -> list[str]:
    """What a second server finds when it starts now: it opens the cache and looks for accounts."""
    opened = open_token_cache(str(cache_dir), allow_plaintext=True)
    found = list(opened.cache.search(msal.TokenCache.CredentialType.ACCOUNT))
    return sorted(str(account.get("username")) for account in found)


async def test_a_process_reading_while_another_saves_finds_the_sign_in_not_an_empty_cache(
    signed_in_process: DeviceCodeProvider, entra: FakeEntra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Exception, match="FAKE-0001"):
        await signed_in_process.token()
    entra.approve("FAKE-0001", ADA)
    await signed_in_process.token()
    assert accounts_another_process_finds(tmp_path) == [ADA.username]

    seen_mid_write: list[list[str]] = []
    # msal-extensions' own file opener (O_TRUNC): the moment a save starts.
    open_for_writing = cast(Callable[[str], int], msal_extensions.persistence._open)  # pyright: ignore[reportPrivateUsage, reportUnknownMemberType]

    def open_and_look(location: str) -> Any:
        handle = open_for_writing(location)  # msal-extensions opens with O_TRUNC, then writes
        seen_mid_write.append(accounts_another_process_finds(tmp_path))
        return handle

    monkeypatch.setattr(msal_extensions.persistence, "_open", open_and_look)
    await signed_in_process.token(force_refresh=True)  # a new token: msal saves the cache

    assert seen_mid_write and all(seen == [ADA.username] for seen in seen_mid_write)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(PLAINTEXT_FILE + ".")] in (
        [],
        [PLAINTEXT_FILE + ".lockfile"],
    )  # no partial file left behind
