"""A typed async client for the Dataverse Web API calls desktop flows need, and nothing about MCP.

One method per Web API call. Every failure is raised as ``DesktopFlowsError`` (see ``errors/``);
``errors.from_status`` is the only place an HTTP status and a Dataverse code become an error category (``core``
reads the status only to choose between returning, retrying and raising; ``discovery`` words its own failures).

    core.py             DataverseCore: _send (retries, throttling, run-rate limits), JSON reads, paging
    resilience.py       the retry table, the shared 429 gate and the per-connection run limit
    request_builder.py  each request as httpx.AsyncClient.build_request builds it, its URL parsed once
    answers.py          reading bodies and rows; a failed response or network error as a DesktopFlowsError
    odata.py            OData query values, quoted and checked
    flow_operations.py  desktop flows, starting/cancelling/reading runs, connection references
    diagnosis_reads.py  machines and groups, action logs and their settings, the caller's identity
    run_aggregates.py   runs counted by Dataverse ($apply, FetchXML), a bounded sample, names of what is counted
    discovery.py        the environments a person can reach (Global Discovery), beside the client
"""

from __future__ import annotations

from .core import Page, default_timeout
from .diagnosis_reads import DiagnosisReads
from .flow_operations import FlowOperations, RunDesktopFlowRequest, RunDesktopFlowResponse
from .run_aggregates import RunAggregates

__all__ = ["DataverseClient", "Page", "RunDesktopFlowRequest", "RunDesktopFlowResponse", "default_timeout"]


class DataverseClient(FlowOperations, DiagnosisReads, RunAggregates):
    """Talks to ``<environment>/api/data/v9.2/`` through a caller-owned, pooled ``httpx.AsyncClient``."""
