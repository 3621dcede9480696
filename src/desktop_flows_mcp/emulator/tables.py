"""Column types of the tables the emulator serves, their navigation properties, and choice labels.

Written from the workflow, flowsession and connectionreference table references; only the
columns a desktop-flows client reads are modelled. Anything else is an unknown property (400).
Machines, machine groups, flow logs and the organization are in ``machine_tables``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class ColumnType(Enum):
    STRING = "Edm.String"
    INT = "Edm.Int32"
    GUID = "Edm.Guid"
    DATETIME = "Edm.DateTimeOffset"
    BOOLEAN = "Edm.Boolean"


S, N, G, D, B = ColumnType.STRING, ColumnType.INT, ColumnType.GUID, ColumnType.DATETIME, ColumnType.BOOLEAN


@dataclass(frozen=True)
class Navigation:
    """A navigation property: single-valued through this table's lookup ``column``, or collection-valued
    through the ``column`` of the ``target`` entity set that looks up this table."""

    name: str
    target: str
    column: str
    collection: bool = False


@dataclass(frozen=True)
class Table:
    entity_set: str
    logical_name: str
    key: str
    columns: dict[str, ColumnType]
    navigations: Mapping[str, Navigation] = field(default_factory=dict[str, Navigation])


def navigations(*items: Navigation) -> dict[str, Navigation]:
    return {item.name: item for item in items}


WORKFLOW = Table(
    "workflows",
    "workflow",
    "workflowid",
    {
        "workflowid": G,
        "name": S,
        "description": S,
        "category": N,
        "type": N,
        "statecode": N,
        "statuscode": N,
        "uiflowtype": N,
        "modernflowtype": N,
        "primaryentity": S,
        "componentstate": N,
        "ismanaged": B,
        "inputs": S,
        "outputs": S,
        "createdon": D,
        "modifiedon": D,
        "_ownerid_value": G,
        "versionnumber": N,
    },
)

FLOWSESSION = Table(
    "flowsessions",
    "flowsession",
    "flowsessionid",
    {
        "flowsessionid": G,
        "name": S,
        "statuscode": N,
        "statecode": N,
        "startedon": D,
        "completedon": D,
        "createdon": D,
        "modifiedon": D,
        "errorcode": S,
        "errormessage": S,
        "runmode": N,
        "triggertype": N,
        "_regardingobjectid_value": G,
        "connectionid": S,
        "callbackurl": S,
        "_ownerid_value": G,
        "_createdby_value": G,
        "versionnumber": N,
        "_machineid_value": G,
        "_machinegroupid_value": G,
        "errordetails": S,
        "errorinnererror": S,
        "runduration": N,
        "runwaitduration": N,
        "runexecutionduration": N,
    },
    navigations(
        Navigation("MachineId", "flowmachines", "_machineid_value"),
        Navigation("MachineGroupId", "flowmachinegroups", "_machinegroupid_value"),
        Navigation("flowsession_flowlog_parentobjectid", "flowlogs", "_parentobjectid_value", collection=True),
        Navigation("flowsession_flowlog_flowsessionid", "flowlogs", "_flowsessionid_value", collection=True),
    ),
)

CONNECTION_REFERENCE = Table(
    "connectionreferences",
    "connectionreference",
    "connectionreferenceid",
    {
        "connectionreferenceid": G,
        "connectionreferencelogicalname": S,
        "connectionreferencedisplayname": S,
        "connectorid": S,
        "connectionid": S,
        "description": S,
        "statecode": N,
        "statuscode": N,
        "createdon": D,
        "modifiedon": D,
        "_ownerid_value": G,
        "versionnumber": N,
    },
)

SYSTEMUSER = Table(
    "systemusers",
    "systemuser",
    "systemuserid",
    {"systemuserid": G, "fullname": S, "domainname": S, "applicationid": G, "isdisabled": B, "versionnumber": N},
)

FLOWSESSION_STATUS = {
    0: "NotSpecified",
    1: "Paused",
    2: "Running",
    3: "Waiting",
    4: "Succeeded",
    5: "Skipped",
    6: "Suspended",
    7: "Cancelled",
    8: "Failed",
    9: "Faulted",
    10: "TimedOut",
    11: "Aborted",
    12: "Ignored",
    13: "Deleted",
    14: "Terminated",
}
# Per the flowsession reference, only these statuses belong to statecode 1 (Inactive).
INACTIVE_FLOWSESSION_STATUSES = frozenset({0, 13, 14})

WORKFLOW_CATEGORY = {
    0: "Workflow",
    1: "Dialog",
    2: "Business Rule",
    3: "Action",
    4: "Business Process Flow",
    5: "Modern Flow",
    6: "Desktop Flow",
    7: "AI Flow",
}
