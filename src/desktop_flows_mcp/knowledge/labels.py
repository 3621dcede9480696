"""Labels of the option sets a diagnosis shows, and how to read a machine group's kind.

Source: the flowmachine (FM), flowmachinegroup (FMG), flowsession (FS), flowlog (FL) and organization (ORG) table
references as summarised in ``shared/reference/machines-and-diagnosis.md`` sections 1, 2, 4 and 8. Option sets grow
between documentation versions, so ``label`` passes an unknown value through instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

MACHINE_STATE: Mapping[int, str] = {0: "Active", 1: "Inactive", 2: "Maintenance"}
MACHINE_STATUS: Mapping[int, tuple[str, int]] = {
    1: ("Active", 0), 2: ("Inactive", 1), 3: ("RequiresReconnection", 2), 4: ("ManualMaintenance", 2),
    5: ("DrainMode", 2), 6: ("ToDelete", 2), 7: ("Temporary", 2), 8: ("Error", 2), 9: ("Disabled", 2),
    10: ("Provisioning", 2), 11: ("RequiresGroupKey", 2), 12: ("ProvisionedWithError", 2),
    13: ("HostedMachineOvercapacity", 0), 14: ("HostedMachineOvercapacityDeleted", 2),
    15: ("HostedMachineOvercapacityDisabled", 2),
}  # fmt: skip
HOSTING_TYPE: Mapping[int, str] = {0: "Customer", 1: "Hosted", 2: "CloudPc"}
HOSTED_MACHINE_STATE: Mapping[int, str] = {0: "Disabled", 1: "Enabled", 2: "Error"}
KEY_DELIVERY_STATUS: Mapping[int, str] = {1: "Default", 2: "PendingNewKey", 3: "KeyExpired"}
GROUP_STATE: Mapping[int, str] = MACHINE_STATE
GROUP_STATUS: Mapping[int, tuple[str, int]] = {
    1: ("Active", 0), 2: ("Inactive", 1), 3: ("ManualMaintenance", 2), 4: ("KeyExpired", 1),
    5: ("HmgIslandMove", 2), 6: ("Quarantined", 2), 7: ("HmgCmkOperation", 2),
}  # fmt: skip
GROUP_MANAGEMENT_TYPE: Mapping[int, str] = {0: "Customer", 1: "Managed", 2: "Shared"}
GROUP_TYPE: Mapping[int, str] = {545940000: "Keyless", 545940001: "Standard", 545940002: "Default"}
PROVISIONING_STATE: Mapping[int, str] = {0: "Created", 1: "Provisioning", 2: "Provisioned", 3: "Error"}
QUEUING_TYPE: Mapping[int, str] = {0: "FIFO", 1: "ExtendedQueuePrioritization"}
LOG_ACTIVATION: Mapping[int, str] = {0: "Enabled", 1: "OnFailure", 2: "Disabled"}
LOG_VERSION: Mapping[int, str] = {0: "AdditionalContext", 1: "FlowLogs", 2: "AdditionalContextAndFlowLogs"}
LOG_VERBOSITY: Mapping[int, str] = {0: "Full", 1: "Debug", 2: "Custom", 3: "Warning", 4: "Error"}
LOG_LEVEL: Mapping[int, str] = {
    100000000: "Verbose", 100000001: "Debug", 100000002: "Info", 100000003: "Warning", 100000004: "Error"
}  # fmt: skip
ACTION_LOG_TYPE = 100000001  # flowlog.type DesktopFlowRunAction; 100000002-100000007 are queue events
TRIGGER_TYPE: Mapping[int, str] = {
    0: "ApiFlow",
    1: "DesktopFlow",
    2: "Local",
    3: "RunDesktopFlowDataverseApi",
    4: "Cua",
}


def label(table: Mapping[int, str] | Mapping[int, tuple[str, int]], value: int | None) -> str | None:
    """The label of an option value; an undocumented value passes through as ``"Unknown (n)"``."""
    if value is None:
        return None
    found = table.get(value)
    if found is None:
        return f"Unknown ({value})"
    return found if isinstance(found, str) else found[0]


def group_kind(management_type: int | None) -> Literal["standard", "hosted"]:
    """Customer-managed groups are standard; Managed (and the undocumented Shared) are hosted, as FABRIC reads it."""
    return "standard" if management_type in (0, None) else "hosted"
