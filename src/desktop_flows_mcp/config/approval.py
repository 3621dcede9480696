"""Who must approve what before it touches the real world (DESKTOP_FLOWS_APPROVAL, DESKTOP_FLOWS_APPROVAL_ATTENDED).

    none (default)  nothing asks
    runs            every run start (run_desktop_flow and the per-flow tools) and every cancel
    <csv>           starts and cancels of these flows only (GUIDs or exact names, case-insensitive)
    ATTENDED=true   also every attended run start (a person's desktop is taken over), whatever the above says

What approving means (a person asked through the client, or a confirm_token) is ``approval/``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .values import ConfigError, EnvReader

_EXAMPLE = "runs"


@dataclass(frozen=True)
class ApprovalPolicy:
    mode: Literal["none", "runs", "flows"] = "none"
    flows: tuple[str, ...] = ()  # mode "flows": the GUIDs and names, lower-cased
    attended: bool = False

    @property
    def configured(self) -> bool:
        """Whether any call may need approval: run and cancel tools then offer confirm_token."""
        return self.mode != "none" or self.attended

    def covers(self, flow_id: str | None, flow_name: str | None, run_mode: str | None) -> bool:
        """Whether starting (or cancelling) a run of this flow, in this run mode, needs a person's approval."""
        if self.mode == "runs" or (self.attended and run_mode == "attended"):
            return True
        named = {(flow_id or "").lower(), (flow_name or "").lower()} - {""}
        return self.mode == "flows" and bool(named & set(self.flows))


def read_approval(values: EnvReader) -> ApprovalPolicy:
    attended = values.flag("DESKTOP_FLOWS_APPROVAL_ATTENDED")
    raw = values.get("DESKTOP_FLOWS_APPROVAL")
    if raw is None or raw.lower() == "none":
        return ApprovalPolicy(attended=attended)
    if raw.lower() == "runs":
        return ApprovalPolicy("runs", attended=attended)
    entries = tuple(entry.lower() for entry in values.csv("DESKTOP_FLOWS_APPROVAL"))
    if not entries:
        raise ConfigError("DESKTOP_FLOWS_APPROVAL", f"is none, runs, or a comma list of flows (got {raw!r}).", _EXAMPLE)
    reserved = {"none", "runs"} & set(entries)
    if reserved:
        raise ConfigError(
            "DESKTOP_FLOWS_APPROVAL",
            f"mixes {sorted(reserved)[0]!r} with flow names; give none, runs, or only flow names.",
            _EXAMPLE,
        )
    return ApprovalPolicy("flows", entries, attended)
