"""Machine and group rows → ``Machine`` / ``MachineGroup`` (with the health verdict of ``knowledge``), and what the
machine services read of a run's row: where it went (``RunPlacement``) and which hosted machine or group is in error.

A standalone machine's group row is of type Default (one per machine, required by the lookup): it is not shown
as a group. Imported when machines are first read, not at start-up (``knowledge.facts`` comes with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from ..bounds import MAX_NAME, clean, clean_secret_free
from ..knowledge.facts import (
    GROUP_STATUS,
    HOSTED_MACHINE_STATE,
    HOSTING_TYPE,
    MACHINE_STATE,
    MACHINE_STATUS,
    PROVISIONING_STATE,
    group_kind,
    label,
    machine_health,
)
from . import Row, parse_timestamp
from .cells import nested, number, text
from .machines import Machine, MachineGroup

DEFAULT_GROUP_TYPE = 545940002
ERROR_TEXT_LIMIT = 400
HOSTED_MACHINE_ERROR = 2  # hostedmachinestate: the hosted machine is in error (its hostedmachineerror says why)
GROUP_PROVISIONING_FAILED = 3  # provisioningstate of a hosted group


def shown(row: Mapping[str, Any], column: str) -> str | None:
    """A name a machine or its owner wrote, fit to show: no control or bidi characters, at most MAX_NAME long."""
    value = text(row, column)
    return (clean(value, MAX_NAME) or None) if value else None


def short_error(value: str | None) -> str | None:
    """A memo error text cut to its first line: these columns hold tens of kilobytes of diagnostics."""
    first = value.strip().splitlines()[0] if value and value.strip() else None
    return clean_secret_free(first, ERROR_TEXT_LIMIT) if first else None


def machine_from_row(row: Row, now: datetime, *, group: Row | None = None, error: str | None = None) -> Machine:
    heartbeat = parse_timestamp(row.get("lastheartbeatdate"))
    age = now - heartbeat if heartbeat else None
    hosted_state = number(row, "hostedmachinestate")
    hosting = number(row, "hostingtype")
    verdict = machine_health(
        statecode=number(row, "statecode"),
        statuscode=number(row, "statuscode"),
        heartbeat_age=max(age, timedelta(0)) if age is not None else None,
        hosted_machine_state=hosted_state if hosting else None,
        over_capacity=row.get("overcapacitysince") is not None,
        key_delivery_status=number(row, "keydeliverystatus"),
    )
    real_group = group is not None and number(group, "flowgrouptype") != DEFAULT_GROUP_TYPE
    return Machine(
        id=str(row.get("flowmachineid") or ""),
        name=shown(row, "name") or "",
        group=shown(group, "name") if group is not None and real_group else None,
        health=verdict.health.value,
        health_reason=verdict.reason,
        status=label(MACHINE_STATUS, number(row, "statuscode")),
        state=label(MACHINE_STATE, number(row, "statecode")),
        last_heartbeat=heartbeat,
        heartbeat_age_minutes=int(age.total_seconds() // 60) if age is not None else None,
        hosting=label(HOSTING_TYPE, hosting),
        hosted_state=label(HOSTED_MACHINE_STATE, hosted_state) if hosting else None,
        error=short_error(error),
        agent_version=shown(row, "agentversion"),
        session_capacity=number(row, "sessioncapacity"),
    )


def group_from_row(row: Row, *, machine_count: int | None = None, error: str | None = None) -> MachineGroup:
    kind = group_kind(number(row, "managementtype"))
    return MachineGroup(
        id=str(row.get("flowmachinegroupid") or ""),
        name=shown(row, "name") or "",
        kind=kind,
        status=label(GROUP_STATUS, number(row, "statuscode")),
        provisioning=label(PROVISIONING_STATE, number(row, "provisioningstate")) if kind == "hosted" else None,
        machine_count=machine_count,
        error=short_error(error),
    )


def is_standalone_group(row: Row | None) -> bool:
    return row is not None and number(row, "flowgrouptype") == DEFAULT_GROUP_TYPE


def machine_id(row: Row) -> str:
    return str(row.get("flowmachineid"))


def group_id(row: Row) -> str:
    return str(row.get("flowmachinegroupid"))


def group_members(row: Row) -> list[Row] | None:
    """A group row's machines, when it was read with ``$expand=flowmachinegroup_flowmachine``."""
    members = row.get("flowmachinegroup_flowmachine")
    return cast(list[Row], members) if isinstance(members, list) else None


def hosted_machine_in_error(row: Row) -> bool:
    """A hosted machine whose state is error: its ``hostedmachineerror`` memo says why."""
    return bool(number(row, "hostingtype")) and number(row, "hostedmachinestate") == HOSTED_MACHINE_ERROR


def hosted_group_in_error(row: Row) -> bool:
    """A hosted group whose provisioning failed: its ``provisioningerror`` memo says why."""
    return bool(number(row, "managementtype")) and number(row, "provisioningstate") == GROUP_PROVISIONING_FAILED


@dataclass(frozen=True)
class RunPlacement:
    """Where a flowsession row says its run went: the lookups, and the machine and group rows when expanded."""

    group_id: str | None
    machine_id: str | None
    group: Row | None  # MachineGroupId, expanded
    machine: Row | None  # MachineId, expanded
    created_on: datetime | None
    error_code: str | None
    trigger_type: int | None

    @classmethod
    def from_row(cls, row: Row) -> RunPlacement:
        return cls(
            group_id=text(row, "_machinegroupid_value"),
            machine_id=text(row, "_machineid_value"),
            group=nested(row, "MachineGroupId"),
            machine=nested(row, "MachineId"),
            created_on=parse_timestamp(row.get("createdon")),
            error_code=text(row, "errorcode"),
            trigger_type=number(row, "triggertype"),
        )

    @property
    def standalone(self) -> bool:
        """On a standalone machine (or no group at all): its group row is the machine's Default group."""
        return self.group_id is None or is_standalone_group(self.group)


def listed_machine(row: Row, now: datetime) -> Machine:
    """A row of list_machines (``$expand=FlowMachineGroupId``)."""
    return machine_from_row(row, now, group=nested(row, "FlowMachineGroupId"))
