"""Columns and navigation properties of flowmachine, flowmachinegroup, flowlog and organization.

Written from the flowmachine, flowmachinegroup, flowlog and organization table references. Navigation
property names are Dataverse's own and case-sensitive: flowsession ``MachineId`` / ``MachineGroupId``;
flowmachine ``FlowMachineGroupId`` and ``flowmachine_flowsession_MachineId``; flowmachinegroup
``flowmachinegroup_flowmachine`` and ``flowmachinegroup_flowsession_MachineGroupId``; flowsession
``flowsession_flowlog_parentobjectid``. flowlog is an elastic table: the emulator gives it no navigation
properties, so ``$expand`` on it is a 400 and clients query it flat.
"""

from __future__ import annotations

from .tables import CONNECTION_REFERENCE, FLOWSESSION, SYSTEMUSER, WORKFLOW, ColumnType, Navigation, Table, navigations

S, N, G, D, B = ColumnType.STRING, ColumnType.INT, ColumnType.GUID, ColumnType.DATETIME, ColumnType.BOOLEAN
_STANDARD = {"_ownerid_value": G, "createdon": D, "modifiedon": D, "versionnumber": N}

FLOWMACHINE = Table(
    "flowmachines",
    "flowmachine",
    "flowmachineid",
    {
        "flowmachineid": G,
        "name": S,
        "description": S,
        "agentversion": S,
        "lastheartbeatdate": D,
        "sessioncapacity": N,
        "overcapacitysince": D,
        "_flowmachinegroupid_value": G,
        "hostingtype": N,
        "hostedmachinestate": N,
        "hostedmachineerror": S,
        "snapshotstartedat": D,
        "keydeliverystatus": N,
        "keyreceiveddate": D,
        "lastknownpictureinpicturesupport": N,
        "_flowmachineimageversionid_value": G,
        "_flowmachinenetworkid_value": G,
        "connectivityconfiguration": S,
        "machinemetadata": S,
        "statecode": N,
        "statuscode": N,
        **_STANDARD,
    },
    navigations(
        Navigation("FlowMachineGroupId", "flowmachinegroups", "_flowmachinegroupid_value"),
        Navigation("flowmachine_flowsession_MachineId", "flowsessions", "_machineid_value", collection=True),
        Navigation("flowmachine_flowlog_flowmachineid", "flowlogs", "_flowmachineid_value", collection=True),
    ),
)

FLOWMACHINEGROUP = Table(
    "flowmachinegroups",
    "flowmachinegroup",
    "flowmachinegroupid",
    {
        "flowmachinegroupid": G,
        "name": S,
        "description": S,
        "managementtype": N,
        "maxmanagedmachinecount": N,
        "flowgrouptype": N,
        "provisioningstate": N,
        "provisioningerror": S,
        "preferredqueuingtype": N,
        "usagetype": N,
        "disconnectionplannedon": D,
        "lastrundate": D,
        "trytoreusewindowssession": B,
        "domainsetting": N,
        "keycreationdate": D,
        "keyvalidityperiod": N,
        "keyexpirygraceperiod": N,
        "passwordchangeddate": D,
        "_flowmachineimage_value": G,
        "_flowmachinenetwork_value": G,
        "groupmetadata": S,
        "primarykeypackage": S,
        "secondarykeypackage": S,
        "primarypublickey": S,
        "secondarypublickey": S,
        "ismanaged": B,
        "statecode": N,
        "statuscode": N,
        **_STANDARD,
    },
    navigations(
        Navigation("flowmachinegroup_flowmachine", "flowmachines", "_flowmachinegroupid_value", collection=True),
        Navigation(
            "flowmachinegroup_flowsession_MachineGroupId", "flowsessions", "_machinegroupid_value", collection=True
        ),
    ),
)

FLOWLOG = Table(
    "flowlogs",
    "flowlog",
    "flowlogid",
    {
        "flowlogid": G,
        "name": S,
        "type": N,
        "level": N,
        "data": S,
        "_parentobjectid_value": G,
        "parentobjectididtype": S,
        "_flowsessionid_value": G,
        "_desktopflowid_value": G,
        "_cloudflowid_value": G,
        "_cloudflowrunid_value": G,
        "cloudflowrunidpid": S,
        "_flowmachineid_value": G,
        "_flowmachinegroupid_value": G,
        "_workqueueid_value": G,
        "_workqueueitemid_value": G,
        "partitionid": S,
        "ttlinseconds": N,
        "createdon": D,
        "modifiedon": D,
        "versionnumber": N,
    },
)

ORGANIZATION = Table(
    "organizations",
    "organization",
    "organizationid",
    {
        "organizationid": G,
        "name": S,
        "desktopflowrunactionlogsstatus": N,
        "desktopflowrunactionlogversion": N,
        "desktopflowrunactionlogverbosity": N,
        "flowlogsttlinminutes": N,
        "desktopflowqueuelogsttlinminutes": N,
        "versionnumber": N,
    },
)

TABLES = {
    table.entity_set: table
    for table in (
        WORKFLOW,
        FLOWSESSION,
        CONNECTION_REFERENCE,
        SYSTEMUSER,
        FLOWMACHINE,
        FLOWMACHINEGROUP,
        FLOWLOG,
        ORGANIZATION,
    )
}
