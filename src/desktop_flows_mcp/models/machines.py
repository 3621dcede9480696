"""What list_machines and diagnose_desktop_flow_run say of a machine and a group (parsed in ``machine_rows``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Health = Literal["online", "offline", "maintenance", "error"]


class Machine(BaseModel):
    id: str
    name: str
    group: str | None = None
    health: Health
    health_reason: str
    status: str | None = None
    state: str | None = None
    last_heartbeat: datetime | None = None
    heartbeat_age_minutes: int | None = None
    hosting: str | None = None
    hosted_state: str | None = None
    error: str | None = None
    agent_version: str | None = None
    session_capacity: int | None = None


class MachineGroup(BaseModel):
    id: str
    name: str
    kind: Literal["standard", "hosted"]
    status: str | None = None
    provisioning: str | None = None
    machine_count: int | None = None
    error: str | None = None
