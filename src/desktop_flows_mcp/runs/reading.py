"""Reading runs: one run (a finished one from memory), its outputs, and pages of runs behind signed cursors.

Every read of a run's status goes through ``get_run``: it is where a run is seen to end, so it is also where the
memory learns it (``finished``), the callback is spent and waiters are woken.
"""

from __future__ import annotations

import copy
import json
from typing import Any, cast

from ..bounds import MAX_MESSAGE_DEPTH, json_too_deep
from ..call_scope import owned
from ..cursors import CursorCodec, PageToken, refuse_other_arguments
from ..dataverse.odata import parse_guid
from ..models import FlowRun, RunList, RunOutputs, RunStatus
from .context import RunContext


class RunReader:
    def __init__(self, context: RunContext, cursors: CursorCodec) -> None:
        self._context = context
        self._cursors = cursors

    def licence_check_seen(self, run_id: str) -> str | None:
        """The licence check Dataverse answered when this process started the run, if it did."""
        return self._context.licence_checks.get(run_id)

    async def get_run(self, run_id: str, *, background: bool = False) -> FlowRun:
        """``background``: a read nobody is waiting on (a task listener) waits for its turn in the identity's read
        budget; other reads count against it and go first."""
        run_id = parse_guid(run_id, argument="run_id")
        context = self._context
        if (finished := context.finished.get(run_id)) is not None:
            return detached(finished)
        if background:
            await context.reads.acquire()
            if (finished := context.finished.get(run_id)) is not None:  # it ended while this read waited its turn
                return detached(finished)
        else:
            await context.reads.charge()
        run = FlowRun.from_row(await context.client.get_flow_session(run_id))
        run.run_id = run_id
        context.read_at.put(run_id, context.clock.monotonic())
        context.last_read.put(run_id, detached(run))
        if run.is_terminal:
            context.last_read.drop(run_id)
            context.finished.put(run_id, detached(run))
            if context.callbacks is not None:  # best effort: a stalled store never holds or fails a read
                await context.callbacks.finished(run_id)
                # a wait (on any replica) expecting a callback that is now spent (a cancel)
                await context.callbacks.best_effort(
                    f"run {run_id}: waking its waits", lambda: context.wakeups.publish(owned(run_id)), None
                )
        return context.with_queued_hint(run)

    async def get_outputs(self, run_id: str) -> RunOutputs:
        run_id = parse_guid(run_id, argument="run_id")
        known = self._context.outputs.get(run_id)
        if known is not None:
            return known.model_copy(deep=True)
        content = await self._context.client.get_flow_session_outputs(run_id)
        if content is None:
            run = await self.get_run(run_id)  # not_found here means the run itself does not exist
            if not run.is_terminal:
                note = (
                    f"The run is {run.status}; outputs appear once it has finished. Call wait_for_desktop_flow_run "
                    "first."
                )
                return RunOutputs(run_id=run_id, outputs={}, note=note)
            result = RunOutputs(run_id=run_id, outputs={}, note="The run finished without outputs.")
        else:
            result = _parse_outputs(run_id, content)  # Dataverse writes the outputs file once, when the run ends
        self._context.outputs.put(run_id, result.model_copy(deep=True))
        return result

    async def list_runs(self, *, flow: str | None, status: str | None, limit: int, cursor: str | None) -> RunList:
        next_link: str | None = None
        flow_id: str | None = None
        if flow:
            flow_id = (await self._context.catalogue.resolve(flow)).id
        if cursor:
            token = self._cursors.decode("runs", cursor, tool="list_desktop_flow_runs")
            made_for_flow, _, made_for_status = token.extra.partition("|")
            refuse_other_arguments(
                {"flow": made_for_flow or None, "status": made_for_status or None}, {"flow": flow_id, "status": status}
            )
            next_link, limit = token.next_link, token.page_size
        page = await self._context.client.list_flow_sessions(
            flow_id=flow_id,
            status_code=int(RunStatus[status]) if status else None,
            page_size=limit,
            next_link=next_link,
        )
        runs = [FlowRun.from_row(row) for row in page.rows]
        extra = f"{flow_id or ''}|{status or ''}"
        next_cursor = self._cursors.encode("runs", PageToken(page.next_link, limit, extra)) if page.next_link else None
        return RunList(runs=runs, next_cursor=next_cursor)


def detached(run: FlowRun) -> FlowRun:
    """A copy sharing nothing mutable with ``run``, as ``model_copy(deep=True)`` makes, at a tenth of its cost
    (~4 µs, not ~40): a run's other fields are text, numbers and timestamps, which no one changes in place."""
    update: dict[str, Any] = {}
    if run.error is not None:  # only fields that are set: model_copy(update=) would mark a None as set
        update["error"] = run.error.model_copy()
    if isinstance(run.outputs, dict):
        update["outputs"] = copy.deepcopy(run.outputs)
    return run.model_copy(update=update)


def _parse_outputs(run_id: str, content: bytes) -> RunOutputs:
    text = content.decode("utf-8", errors="replace")
    if json_too_deep(text, MAX_MESSAGE_DEPTH):  # a flow wrote them: not parsed, so nothing recurses on them
        note = f"The outputs are nested deeper than {MAX_MESSAGE_DEPTH} levels; returned as text."
        return RunOutputs(run_id=run_id, outputs=text, note=note)
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return RunOutputs(run_id=run_id, outputs=text, note="The outputs are not JSON; returned as text.")
    if isinstance(parsed, dict):
        return RunOutputs(run_id=run_id, outputs=cast(dict[str, Any], parsed))
    return RunOutputs(run_id=run_id, outputs=text, note="The outputs are JSON but not an object; returned as text.")
