"""How runs are started and followed (DESKTOP_FLOWS_*): the connection, the run mode, the allow-list, per-flow tools,
approval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from ..models import ConnectionType, RunMode
from .approval import ApprovalPolicy, read_approval
from .values import ConfigError, EnvReader

MAX_FLOW_TOOLS = 50
_ALLOWED_EXAMPLE = "Enter invoices into legacy ERP,7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53"


@dataclass(frozen=True)
class RunOptions:
    """How runs are started and followed (DESKTOP_FLOWS_*)."""

    connection_name: str | None = None
    connection_type: ConnectionType = "connection"
    run_mode: RunMode = "attended"
    allowed_flows: tuple[str, ...] = ()
    read_only: bool = False
    poll_interval_seconds: float = 2.0
    flow_tools: bool = False  # each allowed flow is also a tool of its own (tools/flow_tools.py)
    approval: ApprovalPolicy = field(
        default_factory=ApprovalPolicy
    )  # who must approve starts and cancels (config/approval.py)


def read_run_options(values: EnvReader) -> RunOptions:
    return RunOptions(
        connection_name=values.get("DESKTOP_FLOWS_CONNECTION"),
        connection_type=cast(
            ConnectionType,
            values.choice("DESKTOP_FLOWS_CONNECTION_TYPE", ("connection", "connection_reference"), "connection"),
        ),
        run_mode=cast(RunMode, values.choice("DESKTOP_FLOWS_RUN_MODE", ("attended", "unattended"), "attended")),
        allowed_flows=_allowed(values),
        read_only=values.flag("DESKTOP_FLOWS_READ_ONLY"),
        poll_interval_seconds=values.number("DESKTOP_FLOWS_POLL_SECONDS", 2.0, low=0.0, high=60.0),
        flow_tools=_flow_tools(values),
        approval=read_approval(values),
    )


def _allowed(values: EnvReader) -> tuple[str, ...]:
    """DESKTOP_FLOWS_ALLOWED; a value that lists nothing (",", " ; ") would allow everything, so it is refused."""
    raw = values.get("DESKTOP_FLOWS_ALLOWED")
    entries = values.csv("DESKTOP_FLOWS_ALLOWED")
    if raw is not None and not entries:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            f"lists no flow (got {raw!r}); unset it to allow every flow, or name the flows.",
            _ALLOWED_EXAMPLE,
        )
    return entries


def _flow_tools(values: EnvReader) -> bool:
    """DESKTOP_FLOWS_FLOW_TOOLS: a tool per allowed flow, so the allow-list must name the flows (at most 50)."""
    if not values.flag("DESKTOP_FLOWS_FLOW_TOOLS"):
        return False
    entries = values.csv("DESKTOP_FLOWS_ALLOWED")
    if not entries:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            "must name the flows when DESKTOP_FLOWS_FLOW_TOOLS is on (each becomes a tool).",
            _ALLOWED_EXAMPLE,
        )
    if len(entries) > MAX_FLOW_TOOLS:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            f"lists {len(entries)} flows; DESKTOP_FLOWS_FLOW_TOOLS serves at most {MAX_FLOW_TOOLS}.",
            _ALLOWED_EXAMPLE,
        )
    return True
