"""Time, injected once: the ``Clock`` the app is built with and hands to every service below it.

It sits in the core (it imports nothing of this package), so the client, the services and the stores all take the
same value instead of a ``now``, a ``monotonic`` and a ``sleep`` one by one; tests pass a fake one
(``tests/helpers.py``), so no test ever sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """``now`` is the wall clock (compared with Dataverse's timestamps); ``monotonic`` and ``sleep`` measure and
    wait."""

    now: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep


SYSTEM_CLOCK = Clock()
