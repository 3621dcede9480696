"""Cancelling a run: the one write on a run that already exists, held to the same allow-list as starting one, and
to the same approval (DESKTOP_FLOWS_APPROVAL) once the run is known not to have finished."""

from __future__ import annotations

import logging

from ..approval import cancel_preview
from ..dataverse.odata import parse_guid
from ..errors import DesktopFlowsError, not_allowed, run_already_finished
from ..models import CancelledRun, FlowRun, RunOwnership
from .context import RunContext
from .reading import RunReader

audit = logging.getLogger("desktop_flows_mcp.audit")


async def cancel_run(context: RunContext, reader: RunReader, run_id: str) -> CancelledRun:
    run_id = parse_guid(run_id, argument="run_id")
    row = await context.client.get_flow_session(run_id)
    before = FlowRun.from_row(row)
    catalogue = context.catalogue
    if catalogue.allowed.active:  # a run of a flow this server may not run, it may not cancel either
        if before.flow_id is None:
            raise not_allowed(f"the flow of run {run_id}")
        await catalogue.resolve_allowed(before.flow_id)
    if before.is_terminal:
        raise run_already_finished(run_id, before.status)
    await _approve(context, before)
    await context.client.cancel_flow_session(run_id)
    context.cancelled_here.put(run_id, True)
    audit.info(
        "run cancelled flow_id=%s run_id=%s connection=%r run_mode=%s previous_status=%s",
        before.flow_id,
        run_id,
        RunOwnership.from_row(row).connection_id,
        before.run_mode,
        before.status,
        extra={"flow": before.flow_id, "run_id": run_id, "outcome": "cancelled"},
    )
    after = await reader.get_run(run_id)
    hint = None if after.is_terminal else "Cancellation was requested; the run stops shortly."
    return CancelledRun(run_id=run_id, cancelled=True, status=after.status, hint=hint)


async def _approve(context: RunContext, run: FlowRun) -> None:
    """DESKTOP_FLOWS_APPROVAL: a person approves the cancel first (the flow's name read only when it matters)."""
    gate = context.approvals
    if gate is None or not gate.policy.configured:
        return
    name = None
    if run.flow_id is not None and (gate.policy.mode == "flows" or gate.covers(run.flow_id, None, run.run_mode)):
        try:
            name = (await context.catalogue.resolve(run.flow_id)).name
        except DesktopFlowsError:  # the name is for the person's eyes (and a list of names): the id still shows
            name = None
    if gate.covers(run.flow_id, name, run.run_mode):
        preview = cancel_preview(
            run_id=run.run_id, flow=name, flow_id=run.flow_id, status=run.status, run_mode=run.run_mode
        )
        await gate.approve(preview)
