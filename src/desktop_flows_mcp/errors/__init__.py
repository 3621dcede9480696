"""Every failure an agent can see: one error type, and the constructors that word each one.

    taxonomy.py      ErrorCode (the public categories) and the immutable DesktopFlowsError
    status_table.py  from_status: the one table from an HTTP status and a Dataverse code to a category and hint
    dataverse.py     other failed calls to Dataverse or discovery: the network, odd answers, rate limits
    flows.py         flows that cannot be run: not allowed, not found, not a desktop flow, a per-flow tool gone
    server.py        this side: a bad argument, a bug, the shared store (Redis) unreachable, shutting down
    idempotency.py   a key whose earlier start is uncertain, or reused: call again later, or decide among the runs named
    runs.py          a start or cancel refused as asked: inputs over 2 MB, a run already finished
    approval.py      a start or cancel a person must approve: asked, declined, a confirm_token that does not fit
    sign_in.py       signing in failed on this side of Entra's answer: no token, network, msal, a person, a caller
    entra.py         Entra refused: its AADSTS code → what to fix (the table is knowledge/aadsts.py)
    text.py          scrub and cap: text from Dataverse or a flow, made safe to show

Import from the package; the modules are its layout, not its interface.
"""

from .approval import approval_declined, approval_invalid, approval_needs_tool_call, approval_required
from .dataverse import (
    discovery_failed,
    discovery_unreachable,
    run_accepted_without_id,
    throttled,
    transport_error,
    unexpected_answer,
)
from .entra import SignInContext, aadsts_codes, application_user_hint, entra_error, first_line
from .flows import flow_id_not_found, flow_name_not_found, flow_tool_gone, not_a_desktop_flow, not_allowed
from .idempotency import (
    key_reused_with_other_arguments,
    key_store_unavailable,
    run_status_unknown,
    too_many_candidates,
    uncertain_keyed_start,
    unproven_runs,
)
from .runs import inputs_too_large, run_already_finished
from .server import (
    cursor_of_another_caller,
    forbidden,
    internal_crash,
    invalid_argument,
    shared_state_unavailable,
    shutting_down,
)
from .sign_in import (
    ENTRA_NETWORK_HINT,
    MANAGED_IDENTITY_NETWORK_HINT,
    authority_unreadable,
    browser_sign_in_timed_out,
    caller_token_expired,
    claims_challenge,
    managed_identity_unusable,
    msal_failed,
    no_access_token,
    no_browser,
    no_caller_token,
    no_token_for_resource,
    on_behalf_of_consent_missing,
    settings_unusable,
    several_cached_accounts,
    sign_in_network_failed,
    sign_in_stalled,
    sign_in_unreachable,
    wrong_account,
)
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
    "ENTRA_NETWORK_HINT",
    "LOGS_PRIVILEGE",
    "MACHINES_PRIVILEGE",
    "MANAGED_IDENTITY_NETWORK_HINT",
    "MAX_TEXT",
    "RUN_OUTCOME_UNKNOWN_HINT",
    "DesktopFlowsError",
    "ErrorCode",
    "Operation",
    "SignInContext",
    "aadsts_codes",
    "application_user_hint",
    "approval_declined",
    "approval_invalid",
    "approval_needs_tool_call",
    "approval_required",
    "authority_unreadable",
    "browser_sign_in_timed_out",
    "caller_token_expired",
    "cap",
    "claims_challenge",
    "cursor_of_another_caller",
    "discovery_failed",
    "discovery_unreachable",
    "entra_error",
    "exceeds_aggregate_limit",
    "first_line",
    "flow_id_not_found",
    "flow_name_not_found",
    "flow_tool_gone",
    "forbidden",
    "from_status",
    "inputs_too_large",
    "internal_crash",
    "invalid_argument",
    "key_reused_with_other_arguments",
    "key_store_unavailable",
    "managed_identity_unusable",
    "msal_failed",
    "no_access_token",
    "no_browser",
    "no_caller_token",
    "no_token_for_resource",
    "not_a_desktop_flow",
    "not_allowed",
    "on_behalf_of_consent_missing",
    "run_accepted_without_id",
    "run_already_finished",
    "run_status_unknown",
    "scrub",
    "settings_unusable",
    "several_cached_accounts",
    "shared_state_unavailable",
    "shutting_down",
    "sign_in_network_failed",
    "sign_in_stalled",
    "sign_in_unreachable",
    "throttled",
    "too_many_candidates",
    "transport_error",
    "uncertain_keyed_start",
    "unexpected_answer",
    "unproven_runs",
    "wrong_account",
]
