"""What the run seams share: the collaborators, and what this process remembers about each run.

Starting, waiting, reading and cancelling each write or read the same per-run memory; it lives here, in one
place, so that none of them owns another's state. Every entry expires on the injected ``Clock``:

    memory          run id →                    kept for               read by
    finished        its final row               FINISHED_TTL           get_run (no read), waits, polls
    outputs         its outputs                 FINISHED_TTL           get_outputs (no read)
    just_started    when this process started   MAX_POLL_INTERVAL      the first wait skips a read of "Waiting"
    intervals       its current poll interval   15 min                 wait and task polls: back-off across calls
    read_at         when its status was read    SAFETY_READ_SECONDS    a callback-aware wait's first pause
    last_read       …and what it said           SAFETY_READ_SECONDS    poll_run while a callback is expected
    cancelled_here  this process cancelled it   24 h                   poll_run reads it afresh until it ends;
                                                                       tasks: such a task reads `cancelled`
    licence_checks  licenseCheck.code           24 h                   licence_check_seen

A finished run never changes, so its row and outputs are kept; a run that is not terminal is always read fresh.
Every memory is per caller (``Recent(per_caller=True)``, ``call_scope``): what one person's call read or started
is never answered to another from memory; each asks Dataverse, which decides what that person may see.

Every read of a run's status counts against one budget for the identity (``reads``; the fleet's, with Redis):
background reads (task listeners) wait for their turn, so however many listen they stay at
``BACKGROUND_READS_PER_SECOND``, well under Dataverse's service-protection limit (about 20 requests a second per
user); reads a person waits on are counted and go first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..approval import ApprovalGate
from ..clock import Clock
from ..config import Settings
from ..dataverse.client import DataverseClient
from ..dataverse.resilience import ReadPacer, SharedReadBudget
from ..flows import FlowCatalogue
from ..knowledge.run_hints import queued_hint
from ..models import FlowRun, RunOutputs
from ..recent import Recent
from ..run_callbacks import RunCallbacks, RunWakeups

MAX_POLL_INTERVAL = 15.0
FINISHED_TTL = 3600.0  # a finished run's row and outputs are reused this long
SAFETY_READ_SECONDS = 180.0  # while a run's callback is expected, a wait reads it this rarely (and at its deadline)
BACKGROUND_READS_PER_SECOND = 5.0  # a quarter of Dataverse's ~20/s per user: the rest is for tool calls
BACKGROUND_READ_BURST = 10

Progress = Callable[[float, float, str], Awaitable[None]]


async def no_progress(progress: float, total: float, message: str) -> None:
    return None


@dataclass
class RunContext:
    client: DataverseClient
    catalogue: FlowCatalogue
    settings: Settings
    clock: Clock
    wakeups: RunWakeups
    callbacks: RunCallbacks | None  # set when Dataverse can reach this deployment (DESKTOP_FLOWS_PUBLIC_URL)
    shared_reads: SharedReadBudget | None = None  # the fleet's read budget (Redis); None: this process's own
    approvals: ApprovalGate | None = None  # DESKTOP_FLOWS_APPROVAL: a person approves starts and cancels first
    finished: Recent[str, FlowRun] = field(init=False)
    outputs: Recent[str, RunOutputs] = field(init=False)
    just_started: Recent[str, float] = field(init=False)
    intervals: Recent[str, float] = field(init=False)
    read_at: Recent[str, float] = field(init=False)
    last_read: Recent[str, FlowRun] = field(init=False)
    cancelled_here: Recent[str, bool] = field(init=False)
    licence_checks: Recent[str, str] = field(init=False)
    reads: ReadPacer = field(init=False)

    def __post_init__(self) -> None:
        clock = self.clock
        self.reads = ReadPacer(
            BACKGROUND_READS_PER_SECOND, BACKGROUND_READ_BURST, clock=clock, shared=self.shared_reads
        )
        self.finished = Recent(FINISHED_TTL, 256, clock, per_caller=True)
        self.outputs = Recent(FINISHED_TTL, 64, clock, per_caller=True)
        self.just_started = Recent(MAX_POLL_INTERVAL, 256, clock, per_caller=True)
        self.intervals = Recent(15 * 60.0, 256, clock, per_caller=True)
        self.read_at = Recent(SAFETY_READ_SECONDS, 1024, clock, per_caller=True)
        self.last_read = Recent(SAFETY_READ_SECONDS, 1024, clock, per_caller=True)
        self.cancelled_here = Recent(24 * 3600.0, 1024, clock, per_caller=True)
        self.licence_checks = Recent(24 * 3600.0, 512, clock, per_caller=True)

    def with_queued_hint(self, run: FlowRun) -> FlowRun:
        """The run, its hint replaced by the queue diagnosis when it has waited long."""
        run.hint = queued_hint(run.status, run.created_on, self.clock.now()) or run.hint
        return run
