"""Counts and samples folded into groups: status counts, success rate, percentiles, failures and licences. Pure.

    ok         Succeeded            success  ok / (ok + failed), two decimals (in a group only when neither is 0)
    failed     Failed, Faulted, TimedOut, Aborted (``run_hints.FAILED_STATUSES``)
    cancelled  Cancelled            waiting / running   Waiting / Running now (in the window)
    wait_s     [p50, p95] seconds from request to start (to the end, for a run that never started)
    run_s      [p50, p95] seconds from start to end
Percentiles are nearest-rank over the sample. Failure meanings and fixes come from the knowledge tables
(``knowledge.facts``); a code they do not know is the flow's own error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..knowledge.facts import licence_check, licence_required, run_error
from ..knowledge.run_hints import FAILED_STATUSES
from ..models import RunStatus, status_label
from ..models.aggregates import Key, RunCount, RunSample
from .results import Failure, GroupRow, Totals

FAILED_CODES = frozenset(RunStatus[name].value for name in FAILED_STATUSES)
MIN_SAMPLE = 3  # fewer sampled runs than this give no percentiles
FLOW_OWN_ERROR = (
    "Not a documented service code: the flow itself reported it.",
    "diagnose_desktop_flow_run on one such run names the failed action.",
)
NO_BOT = "if the machine has no unattended bot: "


@dataclass
class Tally:
    runs: int = 0
    statuses: Counter[int] = field(default_factory=Counter[int])
    errors: Counter[str] = field(default_factory=Counter[str])
    error_modes: dict[str, Counter[int]] = field(default_factory=dict[str, Counter[int]])
    waits: list[int] = field(default_factory=list[int])
    durations: list[int] = field(default_factory=list[int])

    def add(self, count: RunCount) -> None:
        self.runs += count.runs
        self.statuses[count.status if count.status is not None else 0] += count.runs
        if count.status in FAILED_CODES and count.error_code:
            self.errors[count.error_code] += count.runs
            self.error_modes.setdefault(count.error_code, Counter())[count.run_mode or 0] += count.runs

    def sample(self, sample: RunSample) -> None:
        if sample.wait_ms is not None:
            self.waits.append(sample.wait_ms)
        if sample.run_ms is not None:
            self.durations.append(sample.run_ms)

    @property
    def failed(self) -> int:
        return sum(self.statuses[code] for code in FAILED_CODES)

    @property
    def success(self) -> float | None:
        ok, failed = self.statuses[RunStatus.Succeeded], self.failed
        return round(ok / (ok + failed), 2) if ok + failed else None


def fold(
    counts: Iterable[RunCount], samples: Iterable[RunSample], key_of: Callable[[Key], str | None]
) -> dict[str | None, Tally]:
    tallies: dict[str | None, Tally] = {}
    for count in counts:
        tallies.setdefault(key_of(count.key), Tally()).add(count)
    for sample in samples:
        tally = tallies.get(key_of(sample.key))
        if tally is not None:
            tally.sample(sample)
    return tallies


def total(tallies: Iterable[Tally]) -> Tally:
    whole = Tally()
    for tally in tallies:
        whole.runs += tally.runs
        whole.statuses.update(tally.statuses)
        whole.errors.update(tally.errors)
        for code, modes in tally.error_modes.items():
            whole.error_modes.setdefault(code, Counter()).update(modes)
        whole.waits += tally.waits
        whole.durations += tally.durations
    return whole


def percentiles(milliseconds: list[int]) -> list[int] | None:
    """[p50, p95] in whole seconds (nearest rank), or None for too small a sample."""
    if len(milliseconds) < MIN_SAMPLE:
        return None
    ordered = sorted(milliseconds)

    def rank(share: float) -> int:
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    return [round(rank(0.5) / 1000), round(rank(0.95) / 1000)]


def _nonzero(value: int) -> int | None:
    return value or None


def group_row(key: str | None, tally: Tally, *, name: str | None = None, with_top_error: bool = True) -> GroupRow:
    top = tally.errors.most_common(1)
    return GroupRow(
        key=key,
        name=name,
        runs=tally.runs,
        ok=_nonzero(tally.statuses[RunStatus.Succeeded]),
        failed=_nonzero(tally.failed),
        cancelled=_nonzero(tally.statuses[RunStatus.Cancelled]),
        waiting=_nonzero(tally.statuses[RunStatus.Waiting]),
        running=_nonzero(tally.statuses[RunStatus.Running]),
        success=tally.success if tally.failed and tally.statuses[RunStatus.Succeeded] else None,
        top_error=top[0][0] if top and with_top_error else None,
        wait_s=percentiles(tally.waits),
        run_s=percentiles(tally.durations),
    )


def totals(whole: Tally) -> Totals:
    statuses = {status_label(code): runs for code, runs in sorted(whole.statuses.items()) if runs}
    return Totals(
        runs=whole.runs,
        statuses=statuses,
        success=whole.success,
        wait_s=percentiles(whole.waits),
        run_s=percentiles(whole.durations),
    )


def failures(whole: Tally, most: int, *, explained: int) -> list[Failure]:
    """The failing codes, most runs first; the first ``explained`` with their documented meaning, an
    administrator's fix and the licence they call for."""
    found: list[Failure] = []
    for rank, (code, runs) in enumerate(whole.errors.most_common(most)):
        if rank >= explained:
            found.append(Failure(code=code, runs=runs))
            continue
        entry = run_error(code)
        meaning, fix = (entry.meaning, entry.admin_fix) if entry else FLOW_OWN_ERROR
        found.append(Failure(code=code, runs=runs, meaning=meaning, fix=fix, licence=_licence(code, whole)))
    return found


def _licence(code: str, whole: Tally) -> str | None:
    """The licence a failing code calls for: a licence-check code names it; NoCandidateMachine on unattended runs
    may mean the machine has no unattended bot (a Process licence)."""
    modes = whole.error_modes.get(code, Counter[int]())
    check = licence_check(code)
    if check is not None and check.ok is False and code.endswith(("License", "Addon", "Licence")):
        needed = licence_required("attended" if code.startswith("Attended") else "unattended")
        return f"{needed.licence}, for {needed.holder}"
    if code == "NoCandidateMachine" and modes[2]:
        needed = licence_required("unattended")
        return f"{NO_BOT}{needed.licence}, for {needed.holder}"
    return None
