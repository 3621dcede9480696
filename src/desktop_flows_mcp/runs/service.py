"""``RunService``: the one object tools, tasks and the callback endpoint hold for runs.

It only assembles the seams around one shared ``RunContext`` and passes each call to the seam that owns it:
``starting`` (run), ``waiting`` (wait, poll_run, wait_for_change, expects_callback, poll_interval, back_off),
``reading`` (get_run, get_outputs, list_runs, licence_check_seen) and ``cancelling`` (cancel).
"""

from __future__ import annotations

from ..approval import ApprovalGate
from ..clock import SYSTEM_CLOCK, Clock
from ..config import Settings
from ..cursors import CursorCodec
from ..dataverse.client import DataverseClient
from ..dataverse.resilience import SharedReadBudget
from ..flows import FlowCatalogue
from ..idempotency import IdempotencyKeys, IdempotencyStore
from ..models import CancelledRun, FlowRun, RunList, RunOutputs, StartedRun
from ..run_callbacks import InProcessWakeups, RunCallbacks, RunWakeups
from .cancelling import cancel_run
from .context import Progress, RunContext, no_progress
from .reading import RunReader
from .starting import RunRequest, RunStarter
from .waiting import RunWaiter


class RunService:
    def __init__(
        self,
        client: DataverseClient,
        catalogue: FlowCatalogue,
        settings: Settings,
        cursors: CursorCodec,
        *,
        clock: Clock = SYSTEM_CLOCK,
        callbacks: RunCallbacks | None = None,
        wakeups: RunWakeups | None = None,
        keys: IdempotencyKeys | None = None,
        shared_reads: SharedReadBudget | None = None,
        approvals: ApprovalGate | None = None,
    ) -> None:
        wakeups = wakeups or InProcessWakeups()
        self._context = RunContext(client, catalogue, settings, clock, wakeups, callbacks, shared_reads, approvals)
        self._callbacks = callbacks
        self.wakeups: RunWakeups = wakeups
        self._reader = RunReader(self._context, cursors)
        self._waiter = RunWaiter(self._context, self._reader)
        self._starter = RunStarter(self._context, keys or IdempotencyStore(clock), self._waiter)

    async def run(self, request: RunRequest, progress: Progress = no_progress) -> StartedRun:
        return await self._starter.run(request, progress)

    def licence_check_seen(self, run_id: str) -> str | None:
        """The licence check Dataverse answered when this process started the run, if it did."""
        return self._reader.licence_check_seen(run_id)

    async def get_run(self, run_id: str) -> FlowRun:
        return await self._reader.get_run(run_id)

    async def poll_run(self, run_id: str, *, background: bool = False) -> FlowRun:
        """``get_run`` for pollers (task polls and task notifications); see ``RunWaiter.poll_run``."""
        return await self._waiter.poll_run(run_id, background=background)

    async def wait(self, run_id: str, timeout_seconds: float, progress: Progress = no_progress) -> FlowRun:
        """Poll with back-off until the run ends or ``timeout_seconds`` pass; the deadline is not an error."""
        return await self._waiter.wait(run_id, timeout_seconds, progress)

    async def wait_for_change(self, run_id: str, seconds: float) -> bool:
        """Sleep up to ``seconds``; True at once when the run's verified callback arrives (or it is known finished)."""
        return await self._waiter.wait_for_change(run_id, seconds)

    async def expects_callback(self, run_id: str) -> bool:
        """True while a callback for this run is still to come: pollers may then read it rarely."""
        return await self._waiter.expects_callback(run_id)

    def poll_interval(self, run_id: str) -> float:
        """Seconds until the run is worth reading again: the back-off ``wait`` follows (tasks share it)."""
        return self._waiter.poll_interval(run_id)

    def back_off(self, run_id: str, interval: float | None = None) -> float:
        """One back-off step from ``interval`` (default: the run's current one), remembered for the run."""
        return self._waiter.back_off(run_id, interval)

    async def get_outputs(self, run_id: str) -> RunOutputs:
        return await self._reader.get_outputs(run_id)

    async def cancel(self, run_id: str) -> CancelledRun:
        return await cancel_run(self._context, self._reader, run_id)

    def cancelled_here(self, run_id: str) -> bool:
        """Whether this process had Dataverse cancel the run (in the last 24 hours)."""
        return self._context.cancelled_here.get(run_id) is not None

    async def list_runs(self, *, flow: str | None, status: str | None, limit: int, cursor: str | None) -> RunList:
        return await self._reader.list_runs(flow=flow, status=status, limit=limit, cursor=cursor)
