"""Idempotency keys in a SQLite file under the user's state directory: they outlive the process, and every process
of this user on this machine shares them (two stdio servers, a restart, a crash).

Why SQLite (stdlib ``sqlite3``): one file, transactions that several processes can share safely (file locks, WAL),
and nothing to install; a JSON file would need our own locking and atomic rewrites. Each call runs in a worker
thread (``anyio.to_thread``), so the event loop never waits on the disk; ``sqlite3`` is imported and the file
opened on first use (10-30 ms saved at start-up), so a server that never sees a key never touches either.

    idempotency_keys   name (SHA-256 of scope and key) → the record (``idempotency.encode_record``), its run, expiry
    idempotency_locks  name → the holder's token, process id and lease expiry

One holder per key: ``lock`` takes a row in ``idempotency_locks`` (a 10 s lease that ``renew_leases`` extends every
3 s), or takes it over when the lease ran out or its process is gone (a killed server frees its keys at once on
POSIX). Nothing sensitive is stored: keys only as digests, attempts only digests of their inputs and marker.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncGenerator, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from ..clock import Clock
from ..errors import DesktopFlowsError, key_store_unavailable
from ..idempotency import TTL_SECONDS, KeyRecord, decode_record, digest, encode_record, leased

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger("desktop_flows_mcp")
LEASE_SECONDS = 10.0
RENEW_EVERY = 3.0
FILE_NAME = "idempotency-keys.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    name TEXT PRIMARY KEY, record TEXT NOT NULL, run_id TEXT, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idempotency_keys_run ON idempotency_keys (run_id);
CREATE TABLE IF NOT EXISTS idempotency_locks (
    name TEXT PRIMARY KEY, token TEXT NOT NULL, pid INTEGER NOT NULL, expires REAL NOT NULL);
"""
T = TypeVar("T")


class _Failed:
    def __init__(self, problem: str) -> None:
        self.problem = problem


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform.startswith("win"):
        return True  # on Windows, the lease alone decides (os.kill there is no probe)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class FileIdempotencyKeys:
    def __init__(
        self,
        directory: str,
        scope: str,
        *,
        clock: Clock,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(directory).expanduser() / FILE_NAME
        self._scope = scope
        self._clock = clock
        self._wall = wall  # leases and expiry are shared with other processes: real wall-clock time
        self._ready = False
        self._local: dict[str, anyio.Lock] = {}
        self._held: dict[str, str] = {}  # this process's holders: token → lock name

    def _name(self, key: str) -> str:
        return digest(self._scope, key)

    # ---- the file, in a worker thread ----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        import sqlite3

        if not self._ready:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        if not self._ready:
            self._set_up(db)
            self._ready = True
        return db

    @staticmethod
    def _set_up(db: sqlite3.Connection) -> None:
        """WAL and the tables, once per process. Switching to WAL can answer "database is locked" at once, without
        waiting out the busy timeout, while another process opens the same new file: try again for up to 2 s."""
        import sqlite3

        for attempt in range(40):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 39:
                    raise
                time.sleep(0.05)  # in the store's worker thread, never on the event loop

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_thread() -> T | _Failed:
            import sqlite3

            try:
                db = self._connect()
                try:
                    db.execute("BEGIN IMMEDIATE")
                    result = work(db)
                    db.execute("COMMIT")
                    return result
                finally:
                    db.close()
            except (sqlite3.Error, OSError) as error:
                return _Failed(f"{type(error).__name__}: {str(error)[:160]}")

        result = await anyio.to_thread.run_sync(in_thread)
        if isinstance(result, _Failed):
            raise key_store_unavailable(str(self.path), result.problem)
        return result

    # ---- the lock ------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncGenerator[None, None]:
        name, token = self._name(key), secrets.token_hex(16)

        async def release() -> None:
            try:
                await self._run(lambda db: db.execute(_RELEASE, (name, token)))
            except DesktopFlowsError as error:  # the lease runs out by itself
                log.warning("could not release an idempotency key lock: %s", error.message)

        async with (
            self._local.setdefault(name, anyio.Lock()),  # this process's callers queue here
            leased(lambda: self._run(lambda db: self._take(db, name, token)), release, self._held, token, name),
        ):
            yield

    def _take(self, db: sqlite3.Connection, name: str, token: str) -> bool:
        row = db.execute("SELECT pid, expires FROM idempotency_locks WHERE name = ?", (name,)).fetchone()
        if row is not None and row[1] > self._wall() and _process_alive(int(row[0])):
            return False
        db.execute(
            "INSERT OR REPLACE INTO idempotency_locks VALUES (?, ?, ?, ?)",
            (name, token, os.getpid(), self._wall() + LEASE_SECONDS),
        )
        return True

    async def renew_leases(self) -> None:
        """Runs for the life of the server: a holder keeps its key however long its start takes."""
        while True:
            await anyio.sleep(RENEW_EVERY)
            held = list(self._held.items())
            if not held:
                continue
            rows = [(self._wall() + LEASE_SECONDS, name, token) for token, name in held]
            try:
                await self._run(lambda db, rows=rows: db.executemany(_RENEW, rows))
            except DesktopFlowsError as error:
                log.warning("could not renew an idempotency key lock: %s", error.message)

    # ---- records -------------------------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyRecord | None:
        name, wall = self._name(key), self._wall()
        row = await self._run(
            lambda db: db.execute(
                "SELECT record FROM idempotency_keys WHERE name = ? AND expires > ?", (name, wall)
            ).fetchone()
        )
        return None if row is None else decode_record(json.loads(row[0]), clock=self._clock)

    async def remember(self, key: str, record: KeyRecord) -> None:
        name, text, wall = self._name(key), json.dumps(encode_record(record)), self._wall()

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM idempotency_keys WHERE expires <= ?", (wall,))
            db.execute(
                "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?)",
                (name, text, record.run_id, wall + TTL_SECONDS),
            )

        await self._run(write)

    async def forget(self, key: str) -> None:
        name = self._name(key)
        await self._run(lambda db: db.execute("DELETE FROM idempotency_keys WHERE name = ?", (name,)))

    async def claimed_among(self, run_ids: Collection[str], *, except_key: str) -> set[str]:
        ids, mine, wall = list(run_ids), self._name(except_key), self._wall()

        def owned(db: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT run_id FROM idempotency_keys WHERE run_id IN ({marks}) AND name != ? AND expires > ?",
                    (*chunk, mine, wall),
                )
                found.update(str(row[0]) for row in rows)
            return found

        return await self._run(owned)


_RELEASE = "DELETE FROM idempotency_locks WHERE name = ? AND token = ?"
_RENEW = "UPDATE idempotency_locks SET expires = ? WHERE name = ? AND token = ?"


def key_scope(dataverse_url: str, identity: tuple[str | None, ...]) -> str:
    """Keys are one environment's and one sign-in's: two servers of one user for other identities never share."""
    return digest(dataverse_url.lower(), *(part or "" for part in identity))


__all__ = ["FileIdempotencyKeys", "key_scope"]
