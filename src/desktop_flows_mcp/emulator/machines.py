"""The seeded machines and machine groups, and where each connection sends its runs.

Groups: "Finance bots" (standard; FIN-BOT-01 and -02 online, FIN-BOT-03 in maintenance), "Claims processing
bots" (standard, two single-session machines kept busy by seeded runs: new runs queue behind them), "Citizen
portal bots" (hosted, provisioning failed with an error, no machines). Standalone machines: OPS-WS-014 (online
workstation), WH-PC-07 (Active, but its heartbeat stopped days ago), HR-PC-03 (online, no unattended bot
allocated) and HOSTED-INV-01 (a hosted machine in error). A standalone machine still has a group row, of type
Default, because the group lookup is required (reference section 1, inferred).

Online machines heartbeat continuously (``lastheartbeatdate`` follows the clock); WH-PC-07's heartbeat is frozen
three days and four hours before the emulator started. Internal memo columns (metadata, key packages, errors) are
tens of kilobytes, as in Dataverse, so a client that lists without ``$select`` is visibly wasteful.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Literal

from .runs import iso

DAY, HOUR = 86_400.0, 3_600.0
STANDARD, DEFAULT = 545940001, 545940002  # flowgrouptype
TargetKind = Literal["open", "fifo", "offline", "unprovisioned", "unlicensed"]

FINANCE_GROUP = "2f8c4a61-7d3e-4b9a-8e15-6c1d9f3a7b42"
CLAIMS_GROUP = "8a3d6e1f-4c9b-4a72-b5e8-1f7c3a9d2e60"
CITIZEN_GROUP = "c5e9b2d7-3a1f-4e6c-9d48-7b2a5f1c8e93"
OPS_GROUP = "0e6b3d9a-5c2f-4a7e-b1d8-3f9a6c2e5b14"
WAREHOUSE_GROUP = "5b1d8f3c-9e6a-4c2d-a7f4-8d3b1e6c9a52"
HR_GROUP = "9f4a7c2e-1d8b-4e5a-b3c6-2a7e5d9f1c83"
HOSTED_GROUP = "6e2c9a5f-3b7d-4f1e-8a4c-5d1f8b3e7a26"

FIN_BOT_1 = "6d2a9f4c-1b7e-4c3a-a8d5-2e9f6b1c4a70"
FIN_BOT_2 = "9b4e1c7a-3f6d-4a2b-8c91-5d7a3e9f1b26"
FIN_BOT_3 = "e1a7c3f9-5b2d-4e8a-9f64-3c8b1d7e5a42"
CLAIMS_BOT_1 = "4f9c2e7b-8a1d-4b5c-a3e6-9d2f7c1b8e54"
CLAIMS_BOT_2 = "7c1e8a3d-2b6f-4d9e-b5a7-4e1c9f3a6d28"
OPS_WORKSTATION = "3a8e5c1b-9d4f-4a6e-8b27-1c5f9e3d7a86"
WAREHOUSE_PC = "b8d3f6a2-4e7c-4b1d-9a53-6f2e8c4b1d97"
HR_PC = "d6f1b4e8-7a2c-4e9b-a1d6-8b3f5e2c9a14"
HOSTED_MACHINE = "1c7f4a9e-6b3d-4f2a-8e59-2a6d9c4f7b31"

HEARTBEAT_STOPPED = 3 * DAY + 4 * HOUR


@dataclass(frozen=True)
class GroupSeed:
    id: str
    name: str
    description: str | None
    group_type: int = STANDARD
    hosted: bool = False
    provisioning_error: str | None = None
    max_bots: int | None = None


@dataclass(frozen=True)
class MachineSeed:
    id: str
    name: str
    group_id: str
    agent_version: str
    description: str | None = None
    statecode: int = 0
    statuscode: int = 1
    heartbeat: Literal["live", "stopped", "never"] = "live"
    hosted_error: str | None = None
    unattended_bots: int = 1


@dataclass(frozen=True)
class Target:
    """What a connection (or a pinned demo flow) runs on, and how the queue there behaves."""

    machine_id: str | None
    group_id: str | None
    kind: TargetKind


_CITIZEN_ERROR = (
    "HostedMachineGroupProvisioningFailed: The virtual network 'vnet-citizen-portal' does not allow outbound "
    "traffic to the Power Automate service endpoints, so no hosted bot could be created."
)
_HOSTED_ERROR = (
    "HostedMachineProvisioningFailed: The custom VM image 'win11-rpa-v3' is not shared with the Windows 365 "
    "service principal."
)

GROUPS: tuple[GroupSeed, ...] = (
    GroupSeed(FINANCE_GROUP, "Finance bots", "Unattended bots for accounts payable and ledger work."),
    GroupSeed(CLAIMS_GROUP, "Claims processing bots", "Two single-session machines for insurance claims."),
    GroupSeed(CITIZEN_GROUP, "Citizen portal bots", "Hosted bots for the city's citizen portal.", hosted=True,
              provisioning_error=_CITIZEN_ERROR, max_bots=2),
    GroupSeed(OPS_GROUP, "OPS-WS-014", None, group_type=DEFAULT),
    GroupSeed(WAREHOUSE_GROUP, "WH-PC-07", None, group_type=DEFAULT),
    GroupSeed(HR_GROUP, "HR-PC-03", None, group_type=DEFAULT),
    GroupSeed(HOSTED_GROUP, "HOSTED-INV-01", None, group_type=DEFAULT),
)  # fmt: skip

MACHINES: tuple[MachineSeed, ...] = (
    MachineSeed(FIN_BOT_1, "FIN-BOT-01", FINANCE_GROUP, "2.49.182.24300"),
    MachineSeed(FIN_BOT_2, "FIN-BOT-02", FINANCE_GROUP, "2.49.182.24300"),
    MachineSeed(FIN_BOT_3, "FIN-BOT-03", FINANCE_GROUP, "2.49.182.24300", "Patching: Windows updates.",
                statecode=2, statuscode=4),
    MachineSeed(CLAIMS_BOT_1, "CLM-BOT-01", CLAIMS_GROUP, "2.48.160.24258"),
    MachineSeed(CLAIMS_BOT_2, "CLM-BOT-02", CLAIMS_GROUP, "2.48.160.24258"),
    MachineSeed(OPS_WORKSTATION, "OPS-WS-014", OPS_GROUP, "2.49.182.24300", "Operations desk, attended runs."),
    MachineSeed(WAREHOUSE_PC, "WH-PC-07", WAREHOUSE_GROUP, "2.41.172.24033", "Warehouse office PC.",
                heartbeat="stopped"),
    MachineSeed(HR_PC, "HR-PC-03", HR_GROUP, "2.49.182.24300", "HR desk PC.", unattended_bots=0),
    MachineSeed(HOSTED_MACHINE, "HOSTED-INV-01", HOSTED_GROUP, "2.49.182.24300", "Hosted machine for invoices.",
                statecode=2, statuscode=12, heartbeat="never", hosted_error=_HOSTED_ERROR),
)  # fmt: skip

OFFLINE_CONNECTION = "shared-uiflow-4d1e90"
BUSY_CONNECTION = "shared-uiflow-c35a02"
HOSTED_CONNECTION = "shared-uiflow-91b7e6"
UNLICENSED_CONNECTION = "shared-uiflow-e6f208"

TARGETS: dict[str, Target] = {
    "shared-uiflow-7f3c1a": Target(None, FINANCE_GROUP, "open"),
    "shared-uiflow-2b9e44": Target(OPS_WORKSTATION, None, "open"),
    OFFLINE_CONNECTION: Target(WAREHOUSE_PC, None, "offline"),
    BUSY_CONNECTION: Target(None, CLAIMS_GROUP, "fifo"),
    HOSTED_CONNECTION: Target(None, CITIZEN_GROUP, "unprovisioned"),
    UNLICENSED_CONNECTION: Target(HR_PC, None, "unlicensed"),
}

MACHINE_BY_ID = {machine.id: machine for machine in MACHINES}
GROUP_BY_ID = {group.id: group for group in GROUPS}


def usable_machines(group_id: str) -> list[MachineSeed]:
    """Machines of a group that take new runs: active, not in maintenance, heartbeating."""
    found = (m for m in MACHINES if m.group_id == group_id and m.statecode == 0 and m.heartbeat == "live")
    return sorted(found, key=lambda machine: machine.name)


@cache
def internal_blob(seed: str, size: int) -> str:
    """Deterministic filler for "internal use only" memo columns: JSON of the given size."""
    chunks: list[str] = []
    digest = seed.encode()
    while sum(map(len, chunks)) < size:
        digest = hashlib.sha256(digest).digest()
        chunks.append(digest.hex())
    return json.dumps({"v": 3, "payload": "".join(chunks)[: max(0, size - 23)]})


def _long_error(summary: str, seed: str) -> str:
    return f"{summary}\nDiagnostics: {internal_blob(seed, 30_000)}"


def machine_row(machine: MachineSeed, now: float, seeded_at: float, version: int) -> dict[str, object]:
    heartbeat = {"live": now - 20 - version % 37, "stopped": seeded_at - HEARTBEAT_STOPPED, "never": None}
    hosted = machine.hosted_error is not None
    return {
        "flowmachineid": machine.id,
        "name": machine.name,
        "description": machine.description,
        "agentversion": machine.agent_version,
        "lastheartbeatdate": iso(heartbeat[machine.heartbeat]),
        "sessioncapacity": 1,
        "overcapacitysince": None,
        "_flowmachinegroupid_value": machine.group_id,
        "hostingtype": 1 if hosted else 0,
        "hostedmachinestate": 2 if hosted else 0,
        "hostedmachineerror": _long_error(machine.hosted_error, machine.id) if machine.hosted_error else None,
        "snapshotstartedat": None,
        "keydeliverystatus": 1,
        "keyreceiveddate": iso(seeded_at - 30 * DAY),
        "lastknownpictureinpicturesupport": 0,
        "_flowmachineimageversionid_value": None,
        "_flowmachinenetworkid_value": None,
        "connectivityconfiguration": internal_blob(f"connectivity:{machine.id}", 8_000),
        "machinemetadata": internal_blob(f"metadata:{machine.id}", 20_000),
        "statecode": machine.statecode,
        "statuscode": machine.statuscode,
        "_ownerid_value": None,
        "createdon": iso(seeded_at - 200 * DAY),
        "modifiedon": iso(seeded_at - 2 * DAY),
        "versionnumber": version,
    }


def group_row(group: GroupSeed, seeded_at: float, last_run: float | None, version: int) -> dict[str, object]:
    return {
        "flowmachinegroupid": group.id,
        "name": group.name,
        "description": group.description,
        "managementtype": 1 if group.hosted else 0,
        "maxmanagedmachinecount": group.max_bots,
        "flowgrouptype": group.group_type,
        "provisioningstate": (3 if group.provisioning_error else 2) if group.hosted else None,
        "provisioningerror": _long_error(group.provisioning_error, group.id) if group.provisioning_error else None,
        "preferredqueuingtype": 1,
        "usagetype": 0,
        "disconnectionplannedon": None,
        "lastrundate": iso(last_run),
        "trytoreusewindowssession": False,
        "domainsetting": 0,
        "keycreationdate": iso(seeded_at - 180 * DAY),
        "keyvalidityperiod": 525_600,
        "keyexpirygraceperiod": 64_800,
        "passwordchangeddate": None,
        "_flowmachineimage_value": "a2d5f8b1-4c7e-4a3d-9b6f-1e8c4a7d2b59" if group.hosted else None,
        "_flowmachinenetwork_value": "f7b3e6c9-2a5d-4e8f-a1c4-7d3b9e6a2c15" if group.hosted else None,
        "groupmetadata": internal_blob(f"group:{group.id}", 20_000),
        "primarykeypackage": internal_blob(f"primary-key:{group.id}", 8_000),
        "secondarykeypackage": internal_blob(f"secondary-key:{group.id}", 8_000),
        "primarypublickey": internal_blob(f"primary-public:{group.id}", 1_200),
        "secondarypublickey": internal_blob(f"secondary-public:{group.id}", 1_200),
        "ismanaged": False,
        "statecode": 0,
        "statuscode": 1,
        "_ownerid_value": None,
        "createdon": iso(seeded_at - 220 * DAY),
        "modifiedon": iso(seeded_at - 5 * DAY),
        "versionnumber": version,
    }
