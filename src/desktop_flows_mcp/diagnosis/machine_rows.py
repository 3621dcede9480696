"""Dataverse machine and group rows → ``Machine`` / ``MachineGroup``, with the health verdict of ``knowledge``.

A standalone machine's group row is of type Default (one per machine, required by the lookup): it is not shown
as a group.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from ..models import Row, parse_timestamp
from .results import Machine, MachineGroup

DEFAULT_GROUP_TYPE = 545940002
ERROR_TEXT_LIMIT = 400


def text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    return value if isinstance(value, str) and value else None


def shown(row: Mapping[str, Any], column: str) -> str | None:
    """A name a machine or its owner wrote, fit to show: no control or bidi characters, at most MAX_NAME long."""
    value = text(row, column)
    return (clean(value, MAX_NAME) or None) if value else None


def number(row: Mapping[str, Any], column: str) -> int | None:
    value = row.get(column)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def nested(row: Mapping[str, Any], navigation: str) -> Row | None:
    value = row.get(navigation)
    return cast(Row, value) if isinstance(value, dict) else None


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
