"""Dataverse Web API emulator for desktop flows: the other side of the wire.

It serves the Dataverse subset a desktop-flows client calls, under ``/api/data/v9.2/``, from
in-memory seed data, and shares no code or tables with the client so it catches the client's
mistakes instead of repeating them. Runs advance on an injectable clock, lazily, so tests
time-travel with ``await emulator.advance(seconds)`` and never sleep.

Behaviour choices where the reference leaves Dataverse's behaviour open, and why:

- Drafts: desktop flows seeded as drafts (statecode 0, componentstate 1 Unpublished) are listed
  only with ``MSCRM.IncludeUnpublished: true``, and are 404 by id without it (community
  observation). Running a draft with the header answers 400 0x80040203; so does a suspended flow
  (statecode 2, CompanyDLPViolation) and a workflow of another category (not a desktop flow).
- Empty Memo ``$value``: ``workflows(id)/inputs/$value`` of a flow without inputs answers 204 No
  Content with an empty body, as OData specifies for ``$value`` of a null property.
- RunDesktopFlow validation: parameter names are case-sensitive and unknown ones are 400 code
  0x0 (OData action semantics); a JSON object/array given for ``inputs`` is 400 0x0 ("unexpected
  'StartObject' node"); other rule violations are 400 0x80040203 (InvalidArgument). Inputs over
  2 MB (UTF-8 size of the string) are 400, not 413: the request itself is well under Dataverse's
  body limit, so it is a parameter rule. ``runMode`` is case-insensitive; ``runPriority`` takes
  any string (custom priorities exist). ``callbackUrl`` must be an absolute http(s) URL; the real
  service's HTTPS/DNS-only rule is relaxed so local demos can receive callbacks.
- Unknown inputs (names not in the flow's schema) are accepted, stored and ignored, and missing
  inputs fall back to defaults: Dataverse does not validate inputs against the schema in the
  documented API, and PAD ignores variables it does not declare.
- Unknown connection name with connectionType 1: synchronous 400 0x80040203, so the mistake is
  visible at the call that made it. Unknown connection reference (type 2): 404 0x80060891
  (RecordNotFoundByEntityKey); a reference not bound to a connection or not for shared_uiflow: 400.
- Throttling: the 71st run start on one connection within 60 s answers 429 with ``Retry-After``
  (seconds until the oldest start leaves the window) and code 0x8005F103 (Throttling, "Too many
  requests"), message starting ``DesktopFlowsActionThrottled:``. Rejected starts do not count.
- Run-only principal (§1.5 "User privileges run, Owner privileges read/cancel"): it has
  flowsession read at User depth, so it can read and cancel the runs it started (it owns them)
  but gets 403 0x80040220 "... missing prvReadflowsession privilege" on runs owned by others, and
  ``GET flowsessions`` lists only its own runs (Dataverse filters by depth, it does not 403 lists).
  It has no read privilege at all on flowmachine, flowmachinegroup and flowlog: every read of
  those, including ``$expand`` into them, is 403 0x80040220 naming the missing privilege.
- Machines and diagnosis (``machines``, ``placement``, ``scenarios``, ``flowlogs``): each
  connection targets a machine group or a standalone machine; runs carry ``_machinegroupid_value``
  and ``_machineid_value``, queue on busy groups, wait on an offline machine, fail on a hosted group
  that failed to provision or a machine without an unattended bot (RunDesktopFlow then answers a
  failed ``licenseCheck``). Seeded scenario runs with fixed ids cover every diagnosis; failed runs
  started from a cloud flow carry ``flowlogs`` action logs as ``organizations`` log settings say.
  ``$expand`` works on navigation properties (see ``expand``); internal memo columns are large.
- Aggregates (``aggregate``, ``fetchxml``): ``$apply`` filter/groupby/aggregate and aggregate FetchXML (date
  parts in UTC), over at most 50,000 rows (``Store.aggregate_limit``; past it 400 0x8004E023). Runs carry
  ``runwaitduration``, ``runexecutionduration`` and ``runduration`` in milliseconds once known; ``estate`` adds
  four weeks of Web API runs so summaries have failures, queues and groups to show.
- Cancel on a terminal run: 400 0x80040203 "... has already completed ... cannot be cancelled".
- Run outputs: ``flowsessions(id)/outputs/$value`` exists only for Succeeded runs; otherwise 404
  0x80040217 "No file attachment found for attribute: outputs ...". ``inputs/$value`` likewise.
- Lifecycle timing: Waiting for the flow's queue time (1 s default), then Running for its run
  time (seconds). NoCandidateMachine fails after a 4 s queue instead of the real six hours.
  TimedOut (10) carries errorcode ``DesktopFlowsActionTimeout``; Cancelled (7) has no errorcode.
- ``$top`` is ignored when ``Prefer: odata.maxpagesize`` is sent (page-results docs); ``$skip``
  and other unsupported ``$`` options are 400. Without ``$orderby`` rows come in primary-key order.
- Errors: 401 uses code 0x8005F101; unknown paths 404 0x8006088a; wrong HTTP verb 405 0x80040315;
  malformed key GUID 400 0x80060888 "Bad Request - Error in query syntax."
- Callbacks: ``await emulator.advance(s)`` delivers the callbacks that became due before it
  returns; on the real clock a scheduler in the ASGI lifespan delivers them (serve() runs it;
  ``httpx.ASGITransport`` does not run lifespans, so in-process users call ``advance`` or
  ``deliver_due_callbacks``). Transport errors are retried like 5xx.
- Faults (``test_api=True`` only): a dropped connection aborts the socket under uvicorn and raises
  ``httpx.RemoteProtocolError`` in-process, which is what httpx raises for a server that hung up.

Seeded connections (connectionType 1): ``shared-uiflow-7f3c1a`` (Finance bots machine group),
``shared-uiflow-2b9e44`` (Ops workstation), ``shared-uiflow-4d1e90`` (offline WH-PC-07),
``shared-uiflow-c35a02`` (busy claims group), ``shared-uiflow-91b7e6`` (hosted group that failed to
provision) and ``shared-uiflow-e6f208`` (HR-PC-03, no unattended bot). Desktop-flow connection references (type 2):
``contoso_DesktopFlowsFinanceBots`` → 7f3c1a, ``contoso_DesktopFlowsOpsWorkstation`` → 2b9e44,
``contoso_DesktopFlowsUnbound`` (no connection). ``contoso_SharePointOnline`` and
``contoso_Office365Outlook`` use other connectors. Tokens: ``EMULATOR_TOKEN`` (full access) and
``RUN_ONLY_TOKEN``; pass ``tokens={token: Principal(...)}`` to choose your own.
"""

from .app import Emulator, EmulatorApp, create_app
from .faults import Fault, Faults, FaultsDisabledError
from .principals import DEMO_USER, EMULATOR_TOKEN, RUN_ONLY_TOKEN, RUN_ONLY_USER, Principal
from .seed import CONNECTIONS
from .server import serve

DEMO_CONNECTION = next(iter(CONNECTIONS))  # what --emulator runs on when no connection is configured

__all__ = [
    "DEMO_CONNECTION",
    "DEMO_USER",
    "EMULATOR_TOKEN",
    "RUN_ONLY_TOKEN",
    "RUN_ONLY_USER",
    "Emulator",
    "EmulatorApp",
    "Fault",
    "Faults",
    "FaultsDisabledError",
    "Principal",
    "create_app",
    "serve",
]
