"""A person approves before a run starts or is cancelled (DESKTOP_FLOWS_APPROVAL; the policy is ``config.approval``).

The run seams (``runs.starting``, ``runs.cancelling``) call ``ApprovalGate.approve`` after every check that sends
nothing (arguments, allow-list, inputs against the schema) and before the write. The tool call in progress is
``call.approval_call``: who calls, which tool, its arguments, a confirm_token if given, and how this client can
ask its person (``Asker``, lent by the tool layer). The gate decides, in this order:

    ============================  ======================================================================
    an approved idempotency key   the same caller, key and request were approved before: go on, no question
    a confirm_token               single use, 5 minutes, bound to caller + tool + argument hash: go on, or
                                  ``approval_invalid`` (unknown, used, expired, other arguments or caller)
    a client that asks its person form elicitation (2025: elicitation/create; 2026-07-28: the tool answers
                                  input_required and the client retries); yes: go on; no or no answer:
                                  ``approval_declined``
    otherwise                     ``approval_required`` with the preview and a fresh confirm_token
    ============================  ======================================================================

Tokens are kept only as SHA-256 (``store``; in Redis with DESKTOP_FLOWS_REDIS_URL, so any replica redeems them).
Each question and each decision is one audit line: caller, tool, flow, a prefix of the argument hash; never values.
"""

from .call import ApprovalCall, ApprovalPending, Asker, approval_call
from .gate import KEY_APPROVAL_SECONDS, TOKEN_SECONDS, ApprovalGate
from .preview import Preview, cancel_preview, start_preview
from .store import ApprovalStore, InProcessApprovals, Verdict

__all__ = [
    "KEY_APPROVAL_SECONDS",
    "TOKEN_SECONDS",
    "ApprovalCall",
    "ApprovalGate",
    "ApprovalPending",
    "ApprovalStore",
    "Asker",
    "InProcessApprovals",
    "Preview",
    "Verdict",
    "approval_call",
    "cancel_preview",
    "start_preview",
]
