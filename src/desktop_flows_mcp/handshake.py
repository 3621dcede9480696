"""The start-up snapshot: this server's own earlier answers to a client's opening requests, kept on disk so that the
next start can give them while the MCP SDK is still being imported.

Desktop hosts spawn the server on every start, and importing the SDK takes most of a second, most of it before a
line of ours runs. The answers to ``initialize``, ``server/discover`` and ``tools/list`` depend only on the code, the
installed packages and the settings, so the answer the SDK gave last time, to the same request, is the answer it
will give now. ``wire.StdioWire`` gives them from here; ``stdio.serve_stdio`` then hands the same requests to the
SDK anyway, checks that its answers match, drops them, and records any that differ (with a warning, and a
``notifications/tools/list_changed`` when the tool list moved and the client was told it may).

What makes a snapshot valid is its fingerprint: our package's files (names, sizes, modification times), the
installed distributions beside the SDK (their names carry their versions), the Python version, and every
``DATAVERSE_*``/``DESKTOP_FLOWS_*`` setting with the values of secrets left out. One file per set of settings, so
two servers of this program in one host (two environments, say) keep their own. Nothing secret is written: the
file holds what ``tools/list`` shows any client.

Requests are matched whole (method and params), so a client that sends other params (another protocol version,
other capabilities) is answered by the SDK, and its answers are recorded for next time. Per-flow tools come from
Dataverse, so with ``DESKTOP_FLOWS_FLOW_TOOLS`` on, ``tools/list`` is never answered from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("desktop_flows_mcp")

FORMAT = 1
MAX_ANSWERS = 32  # distinct opening requests kept (a few per client a host has used)
MAX_LINE = 64 * 1024  # an opening request is small; longer lines are left to the SDK
OPENING = frozenset({"initialize", "server/discover"})
_SECRET_PARTS = ("TOKEN", "SECRET", "PASSWORD", "REDIS_URL")
_PREFIXES = ("DATAVERSE_", "DESKTOP_FLOWS_")

RequestId = str | int


def request_key(method: str, params: object) -> str:
    """What identifies a request's answer: its method and its params, whole."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{canonical}".encode(errors="surrogatepass")).hexdigest()


def settings_fingerprint(settings_env: Mapping[str, str]) -> str:
    """The settings that shape the answers; a secret's value is left out (only that it is set counts)."""
    chosen = {
        name: ("<set>" if any(part in name for part in _SECRET_PARTS) else value)
        for name, value in sorted(settings_env.items())
        if name.startswith(_PREFIXES)
    }
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode(errors="surrogatepass")).hexdigest()


def code_fingerprint(package_dir: Path, site_dirs: Iterable[Path]) -> str:
    """Our files and the distributions installed beside the SDK: any upgrade, or an edit in a checkout, moves it."""
    digest = hashlib.sha256(f"{FORMAT} {sys.version_info[:2]}".encode())
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                stat = os.stat(path)
                digest.update(f"{os.path.relpath(path, package_dir)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    for site in site_dirs:
        try:
            digest.update("\n".join(sorted(n for n in os.listdir(site) if n.endswith(".dist-info"))).encode())
        except OSError:
            digest.update(f"no {site}".encode())
    return digest.hexdigest()


def _sdk_site_dirs() -> list[Path]:
    """Where the SDK is installed, found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("mcp")
    if spec is None or spec.origin is None:
        return []
    return [Path(spec.origin).parent.parent]


class Snapshot:
    """Recorded answers (each a ``result`` as the SDK encoded it), keyed by ``request_key``.

    ``methods`` are the ones this configuration may answer from here. Not thread-safe by itself: the stdin reader
    reads it before the server runs, the server's loop after; ``wire.StdioWire`` hands it over under its lock.
    """

    def __init__(self, path: Path | None, fingerprint: str, methods: frozenset[str], answers: dict[str, str]) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.methods = methods
        self._answers = answers

    @classmethod
    def load(
        cls,
        folder: str | None,
        settings_env: Mapping[str, str],
        *,
        flow_tools: bool,
        package_dir: Path | None = None,
        site_dirs: Iterable[Path] | None = None,
    ) -> Snapshot:
        """The snapshot for these settings; empty (answers recorded for next time) when there is none or it is
        from other code. Never fails: a missing, unreadable or foreign file is an empty snapshot."""
        methods = OPENING if flow_tools else OPENING | {"tools/list"}
        fingerprint = code_fingerprint(
            package_dir or Path(__file__).parent, _sdk_site_dirs() if site_dirs is None else site_dirs
        )
        path = Path(folder) / f"start-up-{settings_fingerprint(settings_env)[:24]}.json" if folder else None
        answers: dict[str, str] = {}
        if path is not None:
            try:
                stored: Any = json.loads(path.read_bytes())
                if stored.get("format") == FORMAT and stored.get("fingerprint") == fingerprint:
                    answers = {k: v for k, v in stored["answers"].items() if isinstance(v, str)}
            except (OSError, ValueError, AttributeError, KeyError, TypeError):
                log.debug("start-up snapshot: %s not used", path, exc_info=True)
        return cls(path, fingerprint, methods, answers)

    def answer(self, method: str, params: object) -> str | None:
        return self._answers.get(request_key(method, params)) if method in self.methods else None

    def record(self, method: str, params: object, result: str) -> bool:
        """Keep the SDK's answer; True when it is new or different (then ``encoded`` is worth saving)."""
        if method not in self.methods:
            return False
        key = request_key(method, params)
        if self._answers.get(key) == result:
            return False
        self._answers.pop(key, None)
        self._answers[key] = result
        while len(self._answers) > MAX_ANSWERS:
            del self._answers[next(iter(self._answers))]
        return True

    def forget(self, method: str, params: object) -> None:
        self._answers.pop(request_key(method, params), None)

    def encoded(self) -> bytes:
        return json.dumps({"format": FORMAT, "fingerprint": self.fingerprint, "answers": self._answers}).encode()


def save(path: Path, data: bytes) -> None:
    """Write the file whole or not at all (another server may read it at the same moment); the folder and the
    file are the user's alone, as what the file says is given to the client unchecked until the server loads."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except OSError:
        log.debug("start-up snapshot: could not write %s", path, exc_info=True)
