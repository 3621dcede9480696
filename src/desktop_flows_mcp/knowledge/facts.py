"""The facts a run diagnosis needs first: error codes, licences, the machine health rule, option-set labels.

Pure data and rules at the core (see ``knowledge/__init__``).

Source: ``shared/reference/machines-and-diagnosis.md`` (sections 1, 2, 4.2, 5, 5.1, 6 and 8), which names the
Microsoft pages behind each fact: the flowmachine/flowmachinegroup/flowlog/organization table references (FM, FMG,
FL, ORG), KB 4555406 and KB 5004537 (RUNERR, QERR), the run-time licence check (LIC, LIC-2022), licence types
(LICTYPES), hosted machine groups (HMG) and machine management (MM, MMG). The error-code table lives in
``error_codes`` and the option-set labels in ``labels``; both are re-exported here, the one import a client needs.

Machine health (``machine_health``; the rule is ours, from the columns' documented meaning, section 8):

    statuscode / state                                 verdict
    Error, RequiresReconnection, RequiresGroupKey,     error
    ProvisionedWithError, ToDelete, Overcapacity*;
    hosted machine state Error; group key expired;
    over capacity (overcapacitysince set)
    ManualMaintenance, DrainMode, Temporary,           maintenance
    Provisioning, any other state 2 (Maintenance)
    Inactive, Disabled (or state 1)                    offline
    otherwise: no heartbeat, or heartbeat older        offline
    than HEARTBEAT_STALE_AFTER (10 min, inclusive ok)
    otherwise                                          online

No heartbeat interval or offline threshold is documented; 10 minutes is our choice. There is no online/offline
column: only the heartbeat tells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from .error_codes import RUN_ERROR_CODES, Mode, Retry, RunErrorCode
from .labels import (
    ACTION_LOG_TYPE,
    GROUP_MANAGEMENT_TYPE,
    GROUP_STATE,
    GROUP_STATUS,
    GROUP_TYPE,
    HOSTED_MACHINE_STATE,
    HOSTING_TYPE,
    KEY_DELIVERY_STATUS,
    LOG_ACTIVATION,
    LOG_LEVEL,
    LOG_VERBOSITY,
    LOG_VERSION,
    MACHINE_STATE,
    MACHINE_STATUS,
    PROVISIONING_STATE,
    QUEUING_TYPE,
    TRIGGER_TYPE,
    group_kind,
    label,
)

__all__ = [
    "ACTION_LOG_TYPE",
    "GROUP_MANAGEMENT_TYPE",
    "GROUP_STATE",
    "GROUP_STATUS",
    "GROUP_TYPE",
    "HEARTBEAT_STALE_AFTER",
    "HOSTED_MACHINE_STATE",
    "HOSTING_TYPE",
    "KEY_DELIVERY_STATUS",
    "LICENCE_CHECK_CODES",
    "LOG_ACTIVATION",
    "LOG_LEVEL",
    "LOG_VERBOSITY",
    "LOG_VERSION",
    "MACHINE_STATE",
    "MACHINE_STATUS",
    "PROVISIONING_STATE",
    "QUEUE_LIMITS",
    "QUEUING_TYPE",
    "RUN_ERROR_CODES",
    "TRIGGER_TYPE",
    "UNKNOWN_CODE_HINT",
    "Health",
    "HealthVerdict",
    "LicenceCheck",
    "LicenceRequirement",
    "Mode",
    "QueueLimits",
    "Retry",
    "RunErrorCode",
    "group_kind",
    "known_codes_in",
    "label",
    "licence_check",
    "licence_required",
    "machine_health",
    "run_error",
]

UNKNOWN_CODE_HINT = (
    "This code is not in Microsoft's documented list: the desktop flow itself, or the service, reported it. Read the "
    "error message and details and the action log, fix the inputs, the flow or the machine, then run again."
)


def run_error(code: str | None) -> RunErrorCode | None:
    """The documented entry for a ``flowsession.errorcode`` (exact, else case-insensitive); None when unknown."""
    if not code:
        return None
    found = RUN_ERROR_CODES.get(code.strip())
    if found is None:
        folded = code.strip().casefold()
        found = next((entry for name, entry in RUN_ERROR_CODES.items() if name.casefold() == folded), None)
    return found


def known_codes_in(text: str | None) -> list[str]:
    """Documented codes mentioned in a message or details text (queue sub-codes are stored in free text)."""
    if not text:
        return []
    return [code for code in RUN_ERROR_CODES if code in text]


# --- Licences (section 5.1: LIC, LIC-2022, LICTYPES, HMG, HRPA) ---


@dataclass(frozen=True)
class LicenceRequirement:
    run_mode: Literal["attended", "unattended"]
    hosted: bool
    licence: str
    holder: str
    note: str
    supported: bool = True


def licence_required(run_mode: Literal["attended", "unattended"], *, hosted: bool = False) -> LicenceRequirement:
    """The licence a run in this mode needs, and who must hold it."""
    if hosted and run_mode == "attended":
        return LicenceRequirement(
            run_mode, hosted, "none: not supported", "-", "Hosted machines and groups run unattended only.", False
        )
    if hosted:
        return LicenceRequirement(
            run_mode, hosted, "Power Automate Hosted Process (formerly Hosted RPA add-on)", "the environment",
            "One hosted bot per unit, load-balanced across hosted groups; a group's capacity is the environment's "
            "Hosted Process units.",
        )  # fmt: skip
    if run_mode == "attended":
        return LicenceRequirement(
            run_mode, hosted, "Power Automate Premium", "the connection's owner",
            "Premium covers attended runs and machine registration.",
        )  # fmt: skip
    return LicenceRequirement(
        run_mode, hosted, "Power Automate Process (or the Unattended RPA add-on)", "the target machine",
        "One unattended bot per unit allocated to the machine: one unattended run at a time. A Premium trial may "
        "run unattended on the user's own registered machine.",
    )  # fmt: skip


@dataclass(frozen=True)
class LicenceCheck:
    """``licenseCheck.code`` of a RunDesktopFlow answer, read."""

    code: str
    ok: bool | None  # None: the check itself could not run
    meaning: str
    fix: str


_LICENCE_FIX = (
    "A Microsoft 365 admin assigns Power Automate Premium to the connection's owner; a Power Platform admin "
    "allocates Process or Unattended RPA capacity to the machine. Until then the calling cloud flow may be suspended."
)
_MISSING = "A licence the run needs is missing."
LICENCE_CHECK_CODES: Mapping[str, LicenceCheck] = {
    check.code: check
    for check in (
        LicenceCheck("ValidLicenseCoverage", True, "The run is covered by a licence.", "-"),
        LicenceCheck(
            "LicensingCheckFailed", None, "The licence check could not run.", "Nothing to do now; check licences."
        ),
        LicenceCheck(
            "AttendedNoLicense",
            False,
            "Attended runs need Power Automate Premium for the connection's owner.",
            _LICENCE_FIX,
        ),
        LicenceCheck(
            "UnattendedNoAddon",
            False,
            "Unattended runs need a Power Automate Process licence or Unattended RPA add-on on the target machine.",
            _LICENCE_FIX,
        ),
        *(
            LicenceCheck(code, False, f"{_MISSING} (legacy per-user/per-flow plan wording.)", _LICENCE_FIX)
            for code in (
                "UnattendedWithoutParentCloudFlowNoLicense",
                "UnattendedNoLicenseNoFlowPlan",
                "UnattendedNoLicenseNoFlowPlanNoAddon",
                "UnattendedWithoutParentCloudFlowNoLicenseNoAddon",
            )
        ),
    )
}


def licence_check(code: str | None) -> LicenceCheck | None:
    """Read a licence-check code; unknown ``Attended*``/``Unattended*`` codes mean a missing licence (LIC)."""
    if not code:
        return None
    if code in LICENCE_CHECK_CODES:
        return LICENCE_CHECK_CODES[code]
    if code.startswith(("Attended", "Unattended")):
        return LicenceCheck(code, False, _MISSING, _LICENCE_FIX)
    return LicenceCheck(code, None, "An undocumented licence-check code.", "Check the licences in the admin center.")


# --- Queue limits (section 6 and 2: QERR, MMG, HMG; the queue time limit is moving) ---


@dataclass(frozen=True)
class QueueLimits:
    queue_time_documented: tuple[timedelta, ...]
    max_queued_runs: int
    max_run_time: timedelta
    hosted_provisioning_wait: timedelta


QUEUE_LIMITS = QueueLimits((timedelta(hours=6), timedelta(hours=12)), 500, timedelta(hours=24), timedelta(minutes=10))


# --- Machine health (the rule in the module docstring) ---


class Health(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    ERROR = "error"


@dataclass(frozen=True)
class HealthVerdict:
    health: Health
    reason: str


HEARTBEAT_STALE_AFTER = timedelta(minutes=10)
_ERROR_STATUSES = frozenset({3, 6, 8, 11, 12, 13, 14, 15})
_MAINTENANCE_STATUSES = frozenset({4, 5, 7, 10})
_OFFLINE_STATUSES = frozenset({2, 9})


def machine_health(
    *,
    statecode: int | None,
    statuscode: int | None,
    heartbeat_age: timedelta | None,
    hosted_machine_state: int | None = None,
    over_capacity: bool = False,
    key_delivery_status: int | None = None,
) -> HealthVerdict:
    """Online, offline, maintenance or error, from the machine's status, state and heartbeat age."""
    status = label(MACHINE_STATUS, statuscode)
    if statuscode in _ERROR_STATUSES:
        return HealthVerdict(Health.ERROR, f"status {status}")
    if hosted_machine_state == 2:
        return HealthVerdict(Health.ERROR, "the hosted machine is in error")
    if key_delivery_status == 3:
        return HealthVerdict(Health.ERROR, "the group key expired on this machine")
    if over_capacity:
        return HealthVerdict(Health.ERROR, "flagged over capacity")
    if statuscode in _MAINTENANCE_STATUSES or (statuscode not in MACHINE_STATUS and statecode == 2):
        return HealthVerdict(Health.MAINTENANCE, f"status {status or label(MACHINE_STATE, statecode)}")
    if statuscode in _OFFLINE_STATUSES or (statuscode not in MACHINE_STATUS and statecode == 1):
        return HealthVerdict(Health.OFFLINE, f"status {status or label(MACHINE_STATE, statecode)}")
    if heartbeat_age is None:
        return HealthVerdict(Health.OFFLINE, "no heartbeat was ever received")
    if heartbeat_age > HEARTBEAT_STALE_AFTER:
        return HealthVerdict(Health.OFFLINE, f"last heartbeat {_age(heartbeat_age)} ago")
    return HealthVerdict(Health.ONLINE, f"last heartbeat {_age(heartbeat_age)} ago")


def _age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
