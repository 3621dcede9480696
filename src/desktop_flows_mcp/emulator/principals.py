"""Who is calling: bearer tokens map to Dataverse principals with different privileges.

The run-only principal holds what SEC lists as the minimum to run a desktop flow (flowsession at User
depth, workflow read): no read on flowmachine, flowmachinegroup or flowlog, so those answer 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EMULATOR_TOKEN = "emulator-demo-token"
RUN_ONLY_TOKEN = "emulator-run-only-token"

TENANT_ID = "6b1e3c52-2f0d-4a8e-9c41-5d7f0e2a9b13"
ORGANIZATION_ID = "3f9a2d47-8c1e-4b6a-a5d0-7e2c9b4f1a86"
BUSINESS_UNIT_ID = "c8d41e9b-6a2f-4e7c-b3a1-9f5d2e8c0b47"
ENVIRONMENT_ID = "Default-6b1e3c52-2f0d-4a8e-9c41-5d7f0e2a9b13"
PRV_READ_FLOWSESSION = "5e7c1a9d-3b2f-4d8e-a6c0-1f9b4e2d7a35"
# Privilege ids and object type codes vary per environment in Dataverse; these are this environment's.
READ_PRIVILEGES = {
    "flowsession": ("prvReadflowsession", PRV_READ_FLOWSESSION, 4720),
    "flowmachine": ("prvReadflowmachine", "8c2f5a1e-7d4b-4e9a-b3c6-0a5d8f2e1b74", 10212),
    "flowmachinegroup": ("prvReadflowmachinegroup", "3d9b6e2a-1f5c-4a8d-9e47-6b1c3f8a5d20", 10214),
    "flowlog": ("prvReadflowlog", "e4a1c8f5-6b3d-4f2e-a9d7-2c5e9b1f4a86", 10230),
}


@dataclass(frozen=True)
class Principal:
    """A systemuser. ``reads_all_runs`` False = flowsession read at User (own records) depth only;
    ``reads_machines`` False = no read privilege on flowmachine and flowmachinegroup; ``reads_logs``
    False = none on flowlog."""

    user_id: str
    name: str
    reads_all_runs: bool = True
    domain_name: str = "avery.demo@contoso.example"
    reads_machines: bool = True
    reads_logs: bool = True


DEMO_USER = Principal("8d3f6b21-4c7a-4e9d-b2f8-1a6c5e9d3b70", "Avery Demo (emulator)")
RUN_ONLY_USER = Principal(
    "2c9e7a14-5b3d-4f8a-9e61-7d4b2a8c5f09",
    "Run-only service account",
    reads_all_runs=False,
    domain_name="runner@contoso.example",
    reads_machines=False,
    reads_logs=False,
)

DEFAULT_TOKENS: Mapping[str, Principal] = {EMULATOR_TOKEN: DEMO_USER, RUN_ONLY_TOKEN: RUN_ONLY_USER}
