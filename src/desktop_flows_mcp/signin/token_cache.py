"""Where a person's sign-in is kept between restarts (device_code and interactive only).

msal's cache holds a refresh token that works for about 90 days, so it is a credential and is stored
encrypted with msal-extensions: DPAPI on Windows, the Keychain on macOS, libsecret on Linux. When the platform
cannot encrypt (Linux without a keyring, a container), the cache is written as a plain file only if the person
opted in with ``DATAVERSE_TOKEN_CACHE_PLAINTEXT=true``; otherwise it lives in memory and the person signs in
again after each restart. Files are created in a per-user directory (mode 0700) with mode 0600; an existing
directory of this user's that others can open is tightened to 0700, and one shared with other users (``/tmp``,
someone else's) is not used at all: another user could plant the file name there.

Several processes may share the cache (msal-extensions locks the file around each change). msal-extensions
writes a file cache by truncating it and writing it again, so a process reading at that moment found no
sign-in and asked the person for a new code; a file cache is therefore written to a sibling file and renamed
over the old one in one step, and a reader sees the old cache or the new one, never half of it.

A cache file that cannot be read (corrupt, or encrypted with a key this user no longer has) is named once,
with the fix (delete it), and the server goes on with an empty cache in memory; the file is left as it is.

App-only modes (client_secret, certificate, managed_identity) keep their tokens in memory: they can always
get a new one without a person, so there is nothing worth persisting.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import stat
import threading
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


def _not_found() -> Any:
    """msal-extensions' 'no cache yet' exception, which its cache treats as empty."""
    return importlib.import_module("msal_extensions.persistence").PersistenceNotFound


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
        shared = _private_directory(folder)
    except OSError as exc:
        return OpenedCache(
            msal.SerializableTokenCache(),
            "memory",
            None,
            f"cannot create {folder} ({exc.strerror or type(exc).__name__}); sign-in kept in memory only",
        )
    if shared is not None:
        return OpenedCache(
            msal.SerializableTokenCache(),
            "memory",
            None,
            f"{folder} is shared with other users ({shared}); sign-in kept in memory only. Set "
            "DATAVERSE_TOKEN_CACHE_DIR to a folder of your own.",
        )
    encrypted_path = folder / ENCRYPTED_FILE
    try:
        persistence = encrypted_persistence(str(encrypted_path))
    except Exception as exc:  # each platform's keyring fails in its own way (ImportError, OSError, gi errors)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unavailable'}"
    else:
        _restrict(encrypted_path)
        return _persisted(persistence, "encrypted", encrypted_path, f"encrypted at {encrypted_path}")
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
    return _persisted(
        persistence,
        "plaintext",
        plain_path,
        f"PLAIN TEXT at {plain_path} (mode 0600; DATAVERSE_TOKEN_CACHE_PLAINTEXT=true)",
    )


def _persisted(persistence: Any, storage: Storage, path: Path, note: str) -> OpenedCache:
    """The persisted cache, or an empty one in memory when the file is there but cannot be read."""
    guarded = GuardedPersistence(persistence, path)
    try:
        guarded.load()  # read it now, so a broken file is named at start-up rather than on every call
    except _not_found():
        pass
    if guarded.unreadable is not None:
        return OpenedCache(importlib.import_module("msal").SerializableTokenCache(), "memory", path, guarded.unreadable)
    guarded.report = log.warning  # from now on a file that turns unreadable is named once in the log
    return OpenedCache(_extensions().PersistedTokenCache(guarded), storage, path, note)


class GuardedPersistence:
    """An msal-extensions persistence that treats a file it cannot read as absent, after naming it once.

    msal-extensions would raise on every cache lookup (after sleeping between retries) and the person would see
    an unrelated sign-in error each time. Instead: a read that fails twice in a row (once could be another
    process mid-write) marks the file unreadable; from then on reads find nothing and writes are skipped, so
    msal keeps the sign-in in memory and the file stays untouched until the person deletes it.
    """

    def __init__(self, inner: Any, path: Path) -> None:
        self._inner = inner
        self._path = path
        self.is_encrypted: bool = bool(getattr(inner, "is_encrypted", False))
        self.unreadable: str | None = None  # the one-line note naming the file and the fix
        self.report: Callable[[str], None] = lambda note: None

    def get_location(self) -> str:
        return str(self._inner.get_location())

    def time_last_modified(self) -> float:
        if self.unreadable is not None:
            raise _not_found()(location=str(self._path))
        return float(self._inner.time_last_modified())

    def load(self) -> str:
        not_found = _not_found()
        if self.unreadable is not None:
            raise not_found(location=str(self._path))
        failure: Exception | None = None
        for _ in range(2):
            try:
                return _checked(self._inner.load())
            except not_found:
                raise
            except Exception as exc:  # corrupt JSON, PersistenceDecryptionError, a keyring error
                failure = exc
        assert failure is not None
        self.unreadable = (
            f"cannot read the token cache {self._path} ({_why(failure)}); delete that file to keep sign-ins across "
            "restarts again. Until then the sign-in is kept in memory only."
        )
        self.report(self.unreadable)
        raise not_found(location=str(self._path)) from None

    def save(self, content: str) -> None:
        if self.unreadable is None:
            _save_whole(self._inner, content)


def _save_whole(persistence: Any, content: str) -> None:
    """Replace a file cache in one step (a sibling file, renamed over it); other stores save as they do."""
    if not isinstance(persistence, importlib.import_module("msal_extensions.persistence").FilePersistence):
        persistence.save(content)  # the Keychain or libsecret: the platform store holds the cache, not a file
        return
    location = str(persistence.get_location())
    sibling = f"{location}.{os.getpid()}-{threading.get_ident()}.partial"
    try:
        type(persistence)(sibling).save(content)  # the same kind of file (DPAPI-encrypted on Windows), mode 0600
        os.replace(sibling, location)
    except PermissionError:  # Windows will not replace a file another process holds open: write it in place
        with contextlib.suppress(OSError):
            os.unlink(sibling)
        persistence.save(content)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(sibling)
        raise


def _checked(text: str) -> str:
    """msal deserializes the text as a JSON object; anything else is a broken file."""
    if text and not isinstance(json.loads(text), dict):
        raise ValueError("not a JSON object")
    return text


def _why(exc: Exception) -> str:
    if isinstance(exc, ValueError):  # JSONDecodeError included; its text would quote the file
        return "its content is not a token cache"
    return f"{type(exc).__name__}: it may be encrypted with a key this user no longer has"


def _private_directory(folder: Path) -> str | None:
    """Make the folder this user's alone (create it 0700, or tighten it); what makes it shared when it cannot be."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True)
    if os.name != "posix":
        return None
    status = folder.stat()
    if stat.S_IMODE(status.st_mode) & 0o077 == 0:
        return None
    if status.st_uid != os.getuid() or status.st_mode & stat.S_ISVTX:  # someone else's, or a shared /tmp
        return f"owner uid {status.st_uid}, mode {stat.S_IMODE(status.st_mode):o}"
    folder.chmod(0o700)  # this user's folder (mkdir's mode is filtered by the umask; an old one may be 0777)
    return None


def _restrict(path: Path) -> None:
    """msal-extensions creates new files 0600 but leaves an existing file's mode alone; tighten it."""
    if os.name == "posix" and path.exists():
        path.chmod(0o600)
