"""Every failure an agent can see: one error type, and the constructors that word each one.

    taxonomy.py      ErrorCode (the public categories) and the immutable DesktopFlowsError
    status_table.py  from_status: the one table from an HTTP status and a Dataverse code to a category and hint
    dataverse.py     other failed calls to Dataverse or discovery: the network, odd answers, rate limits
    flows.py         flows that cannot be run: not allowed, not found, not a desktop flow, a per-flow tool gone
    server.py        this side: a bad argument, a bug, the shared store (Redis) unreachable
    idempotency.py   a key whose earlier start is uncertain: call again later, or decide among the runs named
    text.py          scrub and cap: text from Dataverse or a flow, made safe to show

Import from the package; the modules are its layout, not its interface.
"""

from .dataverse import (
    discovery_failed,
    discovery_unreachable,
    run_accepted_without_id,
    throttled,
    transport_error,
    unexpected_answer,
)
from .flows import flow_id_not_found, flow_name_not_found, flow_tool_gone, not_a_desktop_flow, not_allowed
from .idempotency import key_store_unavailable, run_status_unknown, uncertain_keyed_start, unproven_runs
from .server import internal_crash, invalid_argument, shared_state_unavailable
from .status_table import (
    LOGS_PRIVILEGE,
    MACHINES_PRIVILEGE,
    RUN_OUTCOME_UNKNOWN_HINT,
    Operation,
    exceeds_aggregate_limit,
    from_status,
)
from .taxonomy import DesktopFlowsError, ErrorCode
from .text import MAX_TEXT, cap, scrub

__all__ = [
    "LOGS_PRIVILEGE",
    "MACHINES_PRIVILEGE",
    "MAX_TEXT",
    "RUN_OUTCOME_UNKNOWN_HINT",
    "DesktopFlowsError",
    "ErrorCode",
    "Operation",
    "cap",
    "discovery_failed",
    "discovery_unreachable",
    "exceeds_aggregate_limit",
    "flow_id_not_found",
    "flow_name_not_found",
    "flow_tool_gone",
    "from_status",
    "internal_crash",
    "invalid_argument",
    "key_store_unavailable",
    "not_a_desktop_flow",
    "not_allowed",
    "run_accepted_without_id",
    "run_status_unknown",
    "scrub",
    "shared_state_unavailable",
    "throttled",
    "transport_error",
    "uncertain_keyed_start",
    "unexpected_answer",
    "unproven_runs",
]
