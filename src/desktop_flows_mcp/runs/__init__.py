"""Running desktop flows and following their runs (the flowsession table).

    service.py     RunService: the facade tools, tasks and the callback endpoint hold; assembles the seams
    context.py     RunContext: the collaborators and the per-run memory the seams share (table there)
    starting.py    RunRequest, RunStarter: checks before any request, callback tokens, idempotency + adoption
    waiting.py     RunWaiter: back-off polling, callback-aware waits, poll_run and wait_for_change for tasks
    reading.py     RunReader: get_run (the finished-run cache), outputs, list_runs with cursors
    cancelling.py  cancel_run: the allow-listed cancel

A finished run never changes, so its row and outputs are kept (``FINISHED_TTL``); a run that is not terminal is
always read fresh.
"""

from .context import FINISHED_TTL, MAX_POLL_INTERVAL, SAFETY_READ_SECONDS, Progress
from .service import RunService
from .starting import MAX_INPUT_BYTES, RunRequest

__all__ = [
    "FINISHED_TTL",
    "MAX_INPUT_BYTES",
    "MAX_POLL_INTERVAL",
    "SAFETY_READ_SECONDS",
    "Progress",
    "RunRequest",
    "RunService",
]
