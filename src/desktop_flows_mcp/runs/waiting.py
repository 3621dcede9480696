"""Following a run to its end without reading it more than needed.

Polling backs off per run (``poll_interval``/``back_off``, shared with task polls, kept across calls); a run this
process started moments ago is not read again at once; while a run's callback is expected, a wait reads it only on a
wake-up, every ``SAFETY_READ_SECONDS`` and at its deadline, and still reports progress so clients see it is alive.
"""

from __future__ import annotations

import anyio

from ..call_scope import owned
from ..dataverse.odata import parse_guid
from ..models import FlowRun, RunStatus
from ..run_callbacks import pause
from .context import MAX_POLL_INTERVAL, SAFETY_READ_SECONDS, Progress, RunContext, no_progress
from .reading import RunReader


class RunWaiter:
    def __init__(self, context: RunContext, reader: RunReader) -> None:
        self._context = context
        self._reader = reader

    async def poll_run(self, run_id: str, *, background: bool = False) -> FlowRun:
        """``get_run`` for pollers (task polls and task notifications): while the run's callback is expected, a read
        younger than ``SAFETY_READ_SECONDS`` stands in for a new one. The callback's re-read (``get_run``) ends that,
        so the first poll after it sees the run's end. ``background``: see ``get_run``."""
        run_id = parse_guid(run_id, argument="run_id")
        context = self._context
        last = None if run_id in context.cancelled_here else context.last_read.get(run_id)  # a cancel's end: read
        if last is None or context.finished.get(run_id) is not None or not await self.expects_callback(run_id):
            return await self._reader.get_run(run_id, background=background)
        return context.with_queued_hint(last.model_copy(deep=True))

    async def wait(self, run_id: str, timeout_seconds: float, progress: Progress = no_progress) -> FlowRun:
        """Poll with back-off until the run ends or ``timeout_seconds`` pass; the deadline is not an error.

        While the run's callback is expected, read it only on a wake-up, every ``SAFETY_READ_SECONDS`` and at the
        deadline. Cancelling the call (the MCP client gives up) stops the waiting, never the run itself.
        """
        run_id = parse_guid(run_id, argument="run_id")
        context = self._context
        started = context.clock.monotonic()
        deadline = started + timeout_seconds
        # The back-off goes on across calls: an agent that waits 60 s at a time on a long run reads it ever
        # more rarely, not nine times in every call.
        interval = self.poll_interval(run_id)
        async with context.wakeups.subscribe(
            owned(run_id)
        ) as woken:  # before the callback check: no wake-up slips past
            expecting = await self.expects_callback(run_id)
            queued_at = context.just_started.get(run_id)
            read_at = context.read_at.get(run_id)
            first_pause = 0.0
            if expecting and read_at is not None:  # read moments ago: the callback, not a read, says when it ends
                first_pause = min(read_at + SAFETY_READ_SECONDS - started, timeout_seconds)
            elif queued_at is not None and context.finished.get(run_id) is None:
                # This process started it moments ago and Dataverse said Waiting: a read now would only say so again.
                first_pause = max(0.0, min(queued_at + interval - started, timeout_seconds))
            if first_pause > 0:
                status = "Waiting" if queued_at is not None else "in progress"
                await self._hold(woken, first_pause, run_id, started, timeout_seconds, status, expecting, progress)
        while True:
            async with context.wakeups.subscribe(owned(run_id)) as woken:  # open before the read: no wake-up slips past
                run = await self._reader.get_run(run_id)
                elapsed = context.clock.monotonic() - started
                await progress(min(elapsed, timeout_seconds), timeout_seconds, f"Run {run_id} is {run.status}")
                if run.is_terminal:
                    if run.status == RunStatus.Succeeded.name:
                        run.outputs = (await self._reader.get_outputs(run_id)).outputs
                    return run
                remaining = deadline - context.clock.monotonic()
                if remaining <= 0:
                    run.hint = (
                        f"The run is still {run.status} after {timeout_seconds:g} seconds of waiting; it goes on in "
                        "the background. Call wait_for_desktop_flow_run again with the same run_id to keep waiting, "
                        "or cancel_desktop_flow_run to stop it."
                    ) + (f" {run.hint}" if run.hint else "")
                    return run
                if expecting:
                    seconds = min(SAFETY_READ_SECONDS, remaining)
                else:
                    seconds = min(interval, remaining)
                    interval = self.back_off(run_id, interval)
                await self._hold(woken, seconds, run_id, started, timeout_seconds, run.status, expecting, progress)

    async def _hold(
        self,
        woken: anyio.Event,
        seconds: float,
        run_id: str,
        started: float,
        timeout_seconds: float,
        status: str,
        expecting: bool,
        progress: Progress,
    ) -> None:
        """Pause until ``woken`` or ``seconds`` pass; while a callback is expected, report progress without
        reading the run every ``MAX_POLL_INTERVAL`` seconds, so clients see the wait is alive."""
        while seconds > 0:
            step = min(seconds, MAX_POLL_INTERVAL) if expecting else seconds
            if await pause(woken, step, self._context.clock.sleep):
                return
            seconds -= step
            if seconds > 0:
                elapsed = min(self._context.clock.monotonic() - started, timeout_seconds)
                await progress(elapsed, timeout_seconds, f"Run {run_id} is {status}; waiting for it to report back")

    async def wait_for_change(self, run_id: str, seconds: float) -> bool:
        """Sleep up to ``seconds``; True at once when the run's verified callback arrives (or it is known finished).

        For pollers outside ``wait`` (task polls): read the run after it returns, whichever way it returned.
        """
        context = self._context
        async with context.wakeups.subscribe(owned(run_id)) as woken:
            if context.finished.get(run_id) is not None:
                return True
            if context.callbacks is not None and await context.callbacks.spent(run_id):
                return True  # its callback reached another replica before this pause subscribed
            return await pause(woken, seconds, context.clock.sleep)

    async def expects_callback(self, run_id: str) -> bool:
        """True while a callback for this run is still to come: pollers may then read it rarely."""
        callbacks = self._context.callbacks
        return callbacks is not None and await callbacks.expected(run_id)

    def poll_interval(self, run_id: str) -> float:
        """Seconds until the run is worth reading again: the back-off ``wait`` follows (tasks share it)."""
        return self._context.intervals.get(run_id) or self._context.settings.run.poll_interval_seconds

    def back_off(self, run_id: str, interval: float | None = None) -> float:
        """One back-off step from ``interval`` (default: the run's current one), remembered for the run."""
        current = self.poll_interval(run_id) if interval is None else interval
        longer = min(max(current * 1.5, 1.0), MAX_POLL_INTERVAL)
        self._context.intervals.put(run_id, longer)
        return longer
