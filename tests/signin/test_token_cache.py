"""Where the person's sign-in is kept: encrypted, plain only on opt-in, always private to the user."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import msal_extensions  # pyright: ignore[reportMissingTypeStubs]  # untyped; used as the platform keyring stand-in
import pytest

from desktop_flows_mcp.signin.token_cache import ENCRYPTED_FILE, PLAINTEXT_FILE, open_token_cache

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def no_keyring(path: str) -> Any:
    raise ImportError("Unable to import module 'gi'")


def keyring(path: str) -> Any:
    persistence = msal_extensions.FilePersistence(path)
    persistence.is_encrypted = True  # stands in for DPAPI / Keychain / libsecret
    return persistence


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_an_encrypted_cache_is_used_where_the_platform_can_encrypt(tmp_path: Path) -> None:
    opened = open_token_cache(str(tmp_path / "c"), allow_plaintext=False, encrypted_persistence=keyring)
    opened.cache.modify("AccessToken", {}, {})  # force a write through msal-extensions

    assert (opened.storage, opened.path) == ("encrypted", tmp_path / "c" / ENCRYPTED_FILE)
    assert (mode(tmp_path / "c"), mode(tmp_path / "c" / ENCRYPTED_FILE)) == (0o700, 0o600)


def test_without_encryption_nothing_is_written_unless_the_person_opts_in(tmp_path: Path) -> None:
    opened = open_token_cache(str(tmp_path), allow_plaintext=False, encrypted_persistence=no_keyring)

    assert opened.storage == "memory"
    assert "DATAVERSE_TOKEN_CACHE_PLAINTEXT=true" in opened.note
    assert list(tmp_path.iterdir()) == []


@posix_only
def test_the_plaintext_opt_in_writes_a_file_only_the_user_can_read(tmp_path: Path) -> None:
    existing = tmp_path / PLAINTEXT_FILE
    existing.write_text("{}")
    existing.chmod(0o644)

    opened = open_token_cache(str(tmp_path), allow_plaintext=True, encrypted_persistence=no_keyring)

    assert (opened.storage, opened.path) == ("plaintext", existing)
    assert mode(existing) == 0o600


def test_no_cache_directory_means_memory_only() -> None:
    assert open_token_cache(None, allow_plaintext=True).storage == "memory"


# ---- a cache file that cannot be read ----------------------------------------------------------------------


def undecryptable(path: str) -> Any:
    from msal_extensions.persistence import PersistenceDecryptionError  # pyright: ignore[reportMissingTypeStubs]

    persistence = keyring(path)

    def load() -> str:
        raise PersistenceDecryptionError(message="The data is invalid", location=path)

    persistence.load = load
    return persistence


def test_an_undecryptable_cache_is_named_with_the_fix_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / ENCRYPTED_FILE).write_bytes(b"\x01\x02 sealed by another key")

    opened = open_token_cache(str(tmp_path), allow_plaintext=False, encrypted_persistence=undecryptable)

    assert opened.storage == "memory"
    assert str(tmp_path / ENCRYPTED_FILE) in opened.note and "delete that file" in opened.note
    assert "PersistenceDecryptionError" in opened.note
    assert (tmp_path / ENCRYPTED_FILE).read_bytes() == b"\x01\x02 sealed by another key"


@posix_only
def test_an_existing_folder_others_can_open_is_tightened_to_the_user_alone(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o777)

    opened = open_token_cache(str(folder), allow_plaintext=True, encrypted_persistence=no_keyring)

    assert opened.storage == "plaintext"
    assert (mode(folder), mode(folder / PLAINTEXT_FILE)) == (0o700, 0o600)


@posix_only
def test_a_folder_shared_with_other_users_is_not_used_and_not_changed(tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: everyone may create files there

    opened = open_token_cache(str(shared), allow_plaintext=True, encrypted_persistence=no_keyring)

    assert opened.storage == "memory"
    assert "shared with other users" in opened.note and "DATAVERSE_TOKEN_CACHE_DIR" in opened.note
    assert mode(shared) == 0o1777 and list(shared.iterdir()) == []


def test_where_the_file_cannot_be_replaced_it_is_written_in_place_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to replace a file another process holds open."""
    import desktop_flows_mcp.signin.token_cache as token_cache

    def refuse(source: str, target: str) -> None:
        raise PermissionError(13, "in use", target)

    opened = open_token_cache(str(tmp_path), allow_plaintext=True, encrypted_persistence=no_keyring)
    monkeypatch.setattr(token_cache.os, "replace", refuse)
    opened.cache.modify("AccessToken", {}, {})

    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")] == []
    assert "AccessToken" in (tmp_path / PLAINTEXT_FILE).read_text()


def test_a_platform_store_that_is_not_a_file_saves_as_it_does(tmp_path: Path) -> None:
    saved: list[str] = []

    class Keychain:
        is_encrypted = True

        def get_location(self) -> str:
            return str(tmp_path / ENCRYPTED_FILE)

        def time_last_modified(self) -> float:
            return 0.0

        def load(self) -> str:
            return "{}"

        def save(self, content: str) -> None:
            saved.append(content)

    opened = open_token_cache(str(tmp_path), allow_plaintext=False, encrypted_persistence=lambda path: Keychain())
    opened.cache.modify("AccessToken", {}, {})

    assert opened.storage == "encrypted" and saved and "AccessToken" in saved[-1]
