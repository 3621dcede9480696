"""The durable key stores, file (SQLite, the default) and Redis, held to one contract: records outlive the object
(a restart), one holder per key, and nothing sensitive at rest: no key, no input value, only digests."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.errors import DesktopFlowsError
from desktop_flows_mcp.idempotency import Attempt, IdempotencyKeys, KeyRecord, digest, inputs_digest
from desktop_flows_mcp.shared_state import open_shared_state
from desktop_flows_mcp.shared_state.file_keys import FileIdempotencyKeys
from desktop_flows_mcp.shared_state.redis_keys import RedisIdempotencyKeys
from desktop_flows_mcp.shared_state.redis_state import client_for
from tests.helpers import FakeClock

pytestmark = pytest.mark.anyio
BEGAN = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
SECRET_KEY = "invoice-INV-7731-for-ACME"
SECRET_INPUTS = {"InvoiceNumber": "INV-7731", "Iban": "DE89370400440532013000"}


def now() -> datetime:
    return BEGAN + timedelta(seconds=3)


@asynccontextmanager
async def two_stores(kind: str, where: Path, redis_url: str | None) -> AsyncGenerator[tuple[Any, Any, Any], None]:
    """Two stores on one backing (two processes, or a process and its restart), and a dump of what is at rest."""
    clock = FakeClock()
    if kind == "file":
        a = FileIdempotencyKeys(str(where), "scope", clock=Clock(monotonic=clock, now=now))
        b = FileIdempotencyKeys(str(where), "scope", clock=Clock(monotonic=clock, now=now))

        async def at_rest() -> str:
            db = sqlite3.connect(a.path)
            try:
                rows = db.execute("SELECT * FROM idempotency_keys").fetchall()
            finally:
                db.close()
            return json.dumps(rows) + a.path.read_bytes().decode("latin-1")

        yield a, b, at_rest
        return
    assert redis_url is not None
    ra, rb = client_for(redis_url), client_for(redis_url)
    prefix = f"dfmcp:test-{secrets.token_hex(4)}:"
    try:

        async def redis_at_rest() -> str:
            names: list[Any] = await ra.keys(prefix + "*")  # pyright: ignore[reportUnknownMemberType]
            values: list[Any] = [await ra.get(name) for name in names]
            return repr(names) + repr(values)

        yield (
            RedisIdempotencyKeys(ra, prefix, clock=Clock(monotonic=clock, now=now)),
            RedisIdempotencyKeys(rb, prefix, clock=Clock(monotonic=clock, now=now)),
            redis_at_rest,
        )
    finally:
        await ra.aclose()
        await rb.aclose()


@pytest.fixture(params=["file", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_records_outlive_the_store_object_and_keep_only_digests(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    marker = digest("marker")
    attempt = Attempt("flow", "conn", "connection", inputs_digest(SECRET_INPUTS, marker), marker, BEGAN, BEGAN, 0)
    async with two_stores(kind, tmp_path, redis_url) as (first, restarted, at_rest):
        await first.remember(SECRET_KEY, KeyRecord("fp", 0, None, attempt))
        uncertain = await restarted.get(SECRET_KEY)
        dump = await at_rest()
        await restarted.remember(SECRET_KEY, KeyRecord("fp", 0, "run-1"))
        claimed_for_other = await first.claimed_among(["run-1", "run-2"], except_key="other")
        claimed_for_key = await first.claimed_among(["run-1"], except_key=SECRET_KEY)
        await first.forget(SECRET_KEY)
        forgotten = await restarted.get(SECRET_KEY)
    assert uncertain is not None and uncertain.attempt is not None and uncertain.attempt.inputs == attempt.inputs
    assert uncertain.attempt.ended_at == FakeClock()() - 3.0  # ended 3 s ago, rebuilt on this process's clock
    for secret in (SECRET_KEY, "INV-7731", "DE89370400440532013000", "Iban"):
        assert secret not in dump, f"{secret!r} is kept in clear text"
    assert attempt.inputs in dump  # what is kept is the digest
    assert claimed_for_other == {"run-1"} and claimed_for_key == set()
    assert forgotten is None


async def test_one_holder_per_key_across_two_store_objects(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    order: list[str] = []
    async with two_stores(kind, tmp_path, redis_url) as (a, b, _):
        holding = anyio.Event()

        async def first(keys: IdempotencyKeys) -> None:
            async with keys.lock("k"):
                holding.set()
                order.append("a in")
                await anyio.sleep(0.1)  # b must be waiting meanwhile (real time: the lock is shared for real)
                order.append("a out")

        async def second(keys: IdempotencyKeys) -> None:
            await holding.wait()
            async with keys.lock("k"):
                order.append("b in")

        async with anyio.create_task_group() as group:
            group.start_soon(first, a)
            group.start_soon(second, b)
    assert order == ["a in", "a out", "b in"]


HOLD_AND_DIE = """
import anyio, os, sys
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.shared_state.file_keys import FileIdempotencyKeys

async def main():
    keys = FileIdempotencyKeys(sys.argv[1], "scope", clock=Clock(monotonic=lambda: 0.0))
    async with keys.lock("k"):
        print("held", flush=True)
        os._exit(9)  # killed while holding: no release, the lease row stays

anyio.run(main)
"""


@pytest.mark.slow
async def test_a_file_lock_whose_process_died_is_free_at_once(tmp_path: Path) -> None:
    died = subprocess.run([sys.executable, "-c", HOLD_AND_DIE, str(tmp_path)], capture_output=True, timeout=60)
    assert died.returncode == 9 and b"held" in died.stdout
    keys = FileIdempotencyKeys(str(tmp_path), "scope", clock=Clock(monotonic=FakeClock(), now=now))
    with anyio.fail_after(5):  # far less than the 10 s lease: the dead holder's process is gone
        async with keys.lock("k"):
            pass


async def test_the_default_store_is_the_file_under_the_state_dir_and_it_is_private(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "xdg")})
    explicit = Settings.from_env({"DESKTOP_FLOWS_STATE_DIR": str(tmp_path / "chosen")})
    async with open_shared_state(settings) as shared, open_shared_state(explicit) as chosen:
        assert isinstance(shared.keys, FileIdempotencyKeys) and isinstance(chosen.keys, FileIdempotencyKeys)
        assert shared.keys.path == tmp_path / "xdg" / "desktop-flows-mcp" / "idempotency-keys.sqlite3"
        assert not shared.keys.path.exists()  # opened on first use: a server that sees no key writes nothing
        await chosen.keys.remember("k", KeyRecord("fp", 0, "run-1"))
    assert chosen.keys.path == tmp_path / "chosen" / "idempotency-keys.sqlite3"
    if os.name == "posix":
        assert chosen.keys.path.stat().st_mode & 0o077 == 0 and chosen.keys.path.parent.stat().st_mode & 0o077 == 0


async def test_an_unusable_state_dir_fails_the_keyed_start_closed(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    keys = FileIdempotencyKeys(str(blocked), "scope", clock=Clock(monotonic=FakeClock(), now=now))
    with pytest.raises(DesktopFlowsError) as caught:
        await keys.get("k")
    assert caught.value.code.value == "shared_state_unavailable" and "No run was started" in caught.value.message


async def test_a_held_file_lease_is_renewed_while_its_start_takes_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_flows_mcp.shared_state import file_keys

    monkeypatch.setattr(file_keys, "RENEW_EVERY", 0.01)
    wall = [1_000_000.0]
    keys = FileIdempotencyKeys(
        str(tmp_path), "scope", clock=Clock(monotonic=FakeClock(), now=now), wall=lambda: wall[0]
    )

    def lease_ends() -> float:
        db = sqlite3.connect(keys.path)
        try:
            return float(db.execute("SELECT expires FROM idempotency_locks").fetchone()[0])
        finally:
            db.close()

    taken = renewed = 0.0
    async with anyio.create_task_group() as group:
        group.start_soon(keys.renew_leases)
        async with keys.lock("k"):
            taken = lease_ends()
            wall[0] += 60  # a minute on: without renewal the lease would have run out
            with anyio.fail_after(5):
                while lease_ends() <= taken:
                    await anyio.sleep(0.01)
            renewed = lease_ends()
        group.cancel_scope.cancel()
    assert taken == 1_000_000.0 + file_keys.LEASE_SECONDS and renewed == wall[0] + file_keys.LEASE_SECONDS
