"""Where a person's sign-in is kept between restarts (device_code and interactive only).

msal's cache holds a refresh token that works for about 90 days, so it is a credential and is stored
encrypted with msal-extensions: DPAPI on Windows, the Keychain on macOS, libsecret on Linux. When the platform
cannot encrypt (Linux without a keyring, a container), the cache is written as a plain file only if the person
opted in with ``DATAVERSE_TOKEN_CACHE_PLAINTEXT=true``; otherwise it lives in memory and the person signs in
again after each restart. Files are created in a per-user directory (mode 0700) with mode 0600.

App-only modes (client_secret, certificate, managed_identity) keep their tokens in memory: they can always
get a new one without a person, so there is nothing worth persisting.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger("desktop_flows_mcp.signin")

ENCRYPTED_FILE = "msal_token_cache.bin"
PLAINTEXT_FILE = "msal_token_cache.plaintext.json"

Storage = Literal["encrypted", "plaintext", "memory"]


@dataclass(frozen=True)
class OpenedCache:
    cache: Any  # an msal.SerializableTokenCache (msal_extensions.PersistedTokenCache when persisted)
    storage: Storage
    path: Path | None
    note: str  # one line for stderr: where the sign-in is kept, or why it is not


def _extensions() -> Any:
    return importlib.import_module("msal_extensions")


def _default_encrypted(path: str) -> Any:
    return _extensions().build_encrypted_persistence(path)


def open_token_cache(
    directory: str | None,
    *,
    allow_plaintext: bool,
    encrypted_persistence: Callable[[str], Any] = _default_encrypted,
) -> OpenedCache:
    """The cache for a public client. ``encrypted_persistence`` is the platform keyring seam (tests replace it)."""
    msal = importlib.import_module("msal")
    if directory is None:
        return OpenedCache(
            msal.SerializableTokenCache(), "memory", None, "no per-user cache directory; sign-in kept in memory only"
        )
    folder = Path(directory).expanduser()
    try:
        _private_directory(folder)
    except OSError as exc:
        return OpenedCache(
            msal.SerializableTokenCache(),
            "memory",
            None,
            f"cannot create {folder} ({exc.strerror or type(exc).__name__}); sign-in kept in memory only",
        )
    encrypted_path = folder / ENCRYPTED_FILE
    try:
        persistence = encrypted_persistence(str(encrypted_path))
    except Exception as exc:  # each platform's keyring fails in its own way (ImportError, OSError, gi errors)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unavailable'}"
    else:
        _restrict(encrypted_path)
        return OpenedCache(
            _extensions().PersistedTokenCache(persistence),
            "encrypted",
            encrypted_path,
            f"encrypted at {encrypted_path}",
        )
    if not allow_plaintext:
        return OpenedCache(
            msal.SerializableTokenCache(),
            "memory",
            None,
            f"this platform cannot encrypt the token cache ({reason}); sign-in kept in memory only. Set "
            "DATAVERSE_TOKEN_CACHE_PLAINTEXT=true to keep it in a plain file readable only by you.",
        )
    plain_path = folder / PLAINTEXT_FILE
    persistence = _extensions().FilePersistence(str(plain_path))
    if not plain_path.exists():
        persistence.save("{}")
    _restrict(plain_path)
    return OpenedCache(
        _extensions().PersistedTokenCache(persistence),
        "plaintext",
        plain_path,
        f"PLAIN TEXT at {plain_path} (mode 0600; DATAVERSE_TOKEN_CACHE_PLAINTEXT=true)",
    )


def _private_directory(folder: Path) -> None:
    """Create the folder readable only by this user; an existing folder (the person's choice) is left alone."""
    if folder.is_dir():
        return
    folder.mkdir(mode=0o700, parents=True)
    if os.name == "posix":
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask


def _restrict(path: Path) -> None:
    """msal-extensions creates new files 0600 but leaves an existing file's mode alone; tighten it."""
    if os.name == "posix" and path.exists():
        path.chmod(0o600)
