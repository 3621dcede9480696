"""The parts of a diagnosis that follow from the rows (parsed in ``models.evidence``): the run's failure, its licence
findings, the queue estimate."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ..dataverse.client import Page
from ..errors import cap, scrub
from ..knowledge.facts import UNKNOWN_CODE_HINT, known_codes_in, licence_check, licence_required, run_error
from ..models import FlowRun, Row
from ..models.evidence import QueuedRun, RunErrorTexts
from ..models.machines import Machine, MachineGroup
from .results import Licence, Queue, RunFailure

MESSAGE_LIMIT = 1000
DETAILS_LIMIT = 1000
FAILED = ("Failed", "Faulted", "TimedOut", "Aborted")
QUEUE_NOTE = "An estimate from the runs this identity can see; priorities and 'move to top' are not visible."


def _capped(value: str | None, limit: int) -> str | None:
    return cap(scrub(value), limit) if value else None


def failure_of(row: Row, status: str) -> RunFailure | None:
    """The run's error with its documented meaning; a sub-code named in the texts refines the fix."""
    texts = RunErrorTexts.from_row(row)
    code, message, details, inner = texts.code, texts.message, texts.details, texts.inner
    if not (code or message or status in FAILED):
        return None
    entry = run_error(code)
    written = " ".join(t for t in (message, details, inner) if t)
    sub = next((run_error(c) for c in known_codes_in(written) if not code or c.casefold() != code.casefold()), None)
    best = sub or entry
    meaning = entry.meaning if entry else None
    if entry and sub:
        meaning = f"{entry.meaning} Sub-code {sub.code}: {sub.meaning}"
    return RunFailure(
        code=cap(code, 200) if code else None,
        message=_capped(message, MESSAGE_LIMIT),
        details=_capped(details, DETAILS_LIMIT),
        meaning=meaning,
        fix=best.person_fix if best else UNKNOWN_CODE_HINT,
        admin_fix=best.admin_fix if best else None,
        documented=entry is not None,
        retry=(entry.retry.value if entry else None),
    )


def licence_of(run: FlowRun, group: MachineGroup | None, machine: Machine | None, check: str | None) -> Licence | None:
    """The licence the run's mode needs, and the check Dataverse answered at its start when this process saw it."""
    if run.run_mode not in ("attended", "unattended"):
        return None
    mode: Literal["attended", "unattended"] = run.run_mode
    hosted = (group is not None and group.kind == "hosted") or (machine is not None and machine.hosting == "Hosted")
    needed = licence_required(mode, hosted=hosted)
    read = licence_check(check)
    finding = None if needed.supported else needed.note
    if read is not None:
        finding = read.meaning if read.ok is not False else f"{read.meaning} {read.fix}"
    return Licence(
        needs=needed.licence, holder=needed.holder, check=check, ok=read.ok if read else None, finding=finding
    )


def queue_of(run: FlowRun, page: Page, targets: list[Machine] | None, now: datetime) -> Queue:
    rows = [QueuedRun.from_row(row) for row in page.rows]
    waiting = [r for r in rows if r.waiting]
    running = sum(1 for r in rows if r.running)
    mine = run.created_on
    ahead = sum(
        1
        for r in waiting
        if r.run_id != run.run_id
        and (created := r.created_on) is not None
        and (mine is None or created < mine or (created == mine and str(r.run_id) < run.run_id))
    )
    stamps = [r.created_on for r in waiting if r.created_on is not None]
    oldest = int((now - min(stamps)).total_seconds() // 60) if stamps else None
    capacity = None
    if targets is not None:
        capacity = sum(m.session_capacity or 1 for m in targets if m.health == "online")
    note = QUEUE_NOTE + (" More than 100 runs are active: counts are a lower bound." if page.next_link else "")
    return Queue(runs_ahead=ahead, running=running, capacity=capacity, oldest_waiting_minutes=oldest, note=note)
