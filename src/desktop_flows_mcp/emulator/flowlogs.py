"""Action logs (``flowlog`` rows, logs V2) and the organization's log settings that decide which runs have them.

The seeded environment keeps action logs "On run failure" in the Flow Logs table (V2), verbosity Full, for 14
days; queue events for 7 days. As documented, only runs started from a cloud flow (``triggertype`` 0) log
their actions; runs started with the RunDesktopFlow Web API (3) have none, nor do runs that never executed an
action (queue and session failures). Each action is one row of type 100000001 (DesktopFlowRunAction) whose
``data`` JSON holds ``name``, ``startTime`` (milliseconds, the documented ordering key) and the emulator's own
``endTime``, ``status``, ``subflowName``, ``actionIndex`` (the action's position in its subflow, as PAD
error messages number it) and, on the failed action, ``error``. ``createdon``
has whole seconds only, as Dataverse dates do, so actions within one second tie there. Row ids are random, so
without ``$orderby`` rows come in no useful order. A row disappears once ``createdon + ttlinseconds`` passes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from .principals import ORGANIZATION_ID
from .runs import FAILED, SUCCEEDED, TRIGGER_TYPE_CLOUD_FLOW, Run, end_of, iso

ACTION_LOG, INFO, ERROR = 100000001, 100000002, 100000004
ENABLED, ON_FAILURE, DISABLED = 0, 1, 2
FLOW_LOGS_VERSIONS = (1, 2)  # FlowLogs, AdditionalContextAndFlowLogs
CLOUD_FLOW = "0d4f8b2a-6e1c-4a9d-8b35-3f7a9c1e5d42"  # "Enter invoices into legacy ERP (cloud trigger)"
LOG_NAMESPACE = uuid.UUID("0f10c0de-5e55-4a1e-9d00-f10e5e551012")
# (position in the subflow, action name): a loop over files whose action 7 fails on the last file, as the
# PDF flow's error message says; other flows log a plain sequence (only when logs of every run are kept).
_OPENING = ((1, "Get files in folder"), (2, "Create new list"), (3, "Launch Excel"))
_LOOP = ((4, "For each"), (5, "Extract text from PDF"), (6, "Parse text"))
_LOOP_END = ((7, "Extract tables from PDF"), (8, "Write to Excel worksheet"))
_STEPS = ("Set variable", "Launch application", "Populate text field in window", "Press button in window")


def organization_row() -> dict[str, object]:
    return {
        "organizationid": ORGANIZATION_ID,
        "name": "Contoso (emulator)",
        "desktopflowrunactionlogsstatus": ON_FAILURE,
        "desktopflowrunactionlogversion": 1,
        "desktopflowrunactionlogverbosity": 0,
        "flowlogsttlinminutes": 20_160,
        "desktopflowqueuelogsttlinminutes": 10_080,
        "versionnumber": 1_004_388,
    }


def _iso_ms(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _actions(run: Run) -> list[tuple[int, str]]:
    files = 4 + int(hashlib.sha256(run.id.encode()).hexdigest(), 16) % 3
    if run.outcome.failed_action is None:
        return list(enumerate(["Set variable", *_STEPS, "Close window"], start=1))
    return [*_OPENING, *((_LOOP + _LOOP_END) * (files - 1)), *_LOOP, (7, run.outcome.failed_action)]


def keeps_logs(run: Run, organization: dict[str, object]) -> bool:
    """Whether this run's actions are logged to flowlog, by the environment's settings and how it was started."""
    end, outcome = end_of(run)
    executed = outcome.leaves_queue and run.created_at + run.queue_seconds < end
    status = organization["desktopflowrunactionlogsstatus"]
    wanted = status == ENABLED or (status == ON_FAILURE and outcome.statuscode == FAILED)
    has_actions = outcome.failed_action is not None or outcome.statuscode == SUCCEEDED
    return (
        run.trigger_type == TRIGGER_TYPE_CLOUD_FLOW
        and organization["desktopflowrunactionlogversion"] in FLOW_LOGS_VERSIONS
        and executed
        and wanted
        and has_actions
    )


def action_logs(run: Run, organization: dict[str, object]) -> list[dict[str, object]]:
    """The flowlog rows of one finished run, oldest action first."""
    if not keeps_logs(run, organization):
        return []
    start = run.created_at + run.queue_seconds
    end, outcome = end_of(run)
    actions = _actions(run)
    step = (end - start) / len(actions)
    ttl = int(str(organization["flowlogsttlinminutes"])) * 60
    rows: list[dict[str, object]] = []
    for index, (position, name) in enumerate(actions):
        began, finished = start + index * step, start + (index + 1) * step
        failed = outcome.statuscode == FAILED and index == len(actions) - 1
        data: dict[str, object] = {
            "name": name,
            "startTime": _iso_ms(began),
            "endTime": _iso_ms(finished),
            "status": "Failed" if failed else "Succeeded",
            "subflowName": "main",
            "actionIndex": position,
        }
        if failed:
            data["error"] = outcome.errormessage
        rows.append(
            {
                "flowlogid": str(uuid.uuid5(LOG_NAMESPACE, f"{run.id}:{index}")),
                "name": name,
                "type": ACTION_LOG,
                "level": ERROR if failed else INFO,
                "data": json.dumps(data, ensure_ascii=False),
                "_parentobjectid_value": run.id,
                "parentobjectididtype": "flowsession",
                "_flowsessionid_value": run.id,
                "_desktopflowid_value": run.workflow_id,
                "_cloudflowid_value": CLOUD_FLOW,
                "_cloudflowrunid_value": None,
                "cloudflowrunidpid": None,
                "_flowmachineid_value": run.machine_id,
                "_flowmachinegroupid_value": run.group_id,
                "_workqueueid_value": None,
                "_workqueueitemid_value": None,
                "partitionid": f"flowsession_{run.id}",
                "ttlinseconds": ttl,
                "createdon": iso(finished),
                "modifiedon": iso(finished),
                "versionnumber": 7_000_000 + index,
            }
        )
    return rows
