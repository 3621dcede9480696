"""What ``doctor`` found: one result per check, printed for a person (✔/✘, the time, the fix) or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["ok", "fail", "warn", "skip"]
MARKS: dict[Status, str] = {"ok": "✔", "fail": "✘", "warn": "!", "skip": "–"}


@dataclass
class CheckResult:
    """One check: ``fail`` makes doctor exit 1; ``warn`` is worth reading but blocks nothing; ``skip`` did not run."""

    check: str
    status: Status
    summary: str
    fix: str | None = None
    details: list[str] = field(default_factory=list[str])
    seconds: float = 0.0


def ok(summary: str, details: list[str] | None = None) -> CheckResult:
    return CheckResult("", "ok", summary, details=details or [])


def fail(summary: str, fix: str | None, details: list[str] | None = None) -> CheckResult:
    return CheckResult("", "fail", summary, fix=fix, details=details or [])


def warn(summary: str, fix: str | None = None, details: list[str] | None = None) -> CheckResult:
    return CheckResult("", "warn", summary, fix=fix, details=details or [])


@dataclass
class DoctorReport:
    target: str  # the environment checked, as the start-up line names it
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> str:
        checks = [{**asdict(check), "seconds": round(check.seconds, 3)} for check in self.checks]
        return json.dumps({"ok": self.ok, "target": self.target, "checks": checks}, ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        width = max(len(check.check) for check in self.checks)
        lines = [f"desktop-flows-mcp doctor: {self.target}"]
        for check in self.checks:
            took = f"{check.seconds:5.2f} s" if check.status != "skip" else " " * 7
            lines.append(f"{MARKS[check.status]} {check.check:<{width}}  {took}  {check.summary}")
            lines += [f"    {detail}" for detail in check.details]
            if check.fix:
                lines.append(f"    fix: {check.fix}")
        failed = [check.check for check in self.checks if check.status == "fail"]
        ran = [check for check in self.checks if check.status != "skip"]
        if failed:
            lines.append(
                f"{len(failed)} of {len(self.checks)} checks failed ({', '.join(failed)}); fix the first one first."
            )
        else:
            lines.append(f"All {len(ran)} checks passed.")
        return "\n".join(lines)
