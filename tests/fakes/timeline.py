"""Virtual time for many concurrent sleepers: once every task is blocked, time jumps to the earliest wake-up.

``FakeClock`` moves time by each sleep, which is right for one sleeper at a time; with many (listeners, waits) the
moments would add up. Here each sleep waits for its own moment, as on the real clock, only without the waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

import anyio


class Timeline:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._wakeups: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        woken = anyio.Event()
        heapq.heappush(self._wakeups, (self.now + seconds, next(self._order), woken))
        await woken.wait()

    async def run_until(self, end: float) -> None:
        """Move time forward, waking sleepers in order, until the next wake-up is after ``end`` (run it as a task)."""
        while True:
            await _all_blocked()
            if not self._wakeups or self._wakeups[0][0] > end:
                self.now = end
                return
            moment, _, woken = heapq.heappop(self._wakeups)
            self.now = max(self.now, moment)
            woken.set()


async def _all_blocked() -> None:
    """``anyio.wait_all_tasks_blocked`` without its 0.1 s real pause per busy task (asyncio only, as the tests run)."""
    this = asyncio.current_task()
    while True:
        await asyncio.sleep(0)
        busy = False
        for task in asyncio.all_tasks():
            waiter = getattr(task, "_fut_waiter", None)
            if task is not this and (waiter is None or waiter.done()):
                busy = True
                break
        if not busy:
            return
