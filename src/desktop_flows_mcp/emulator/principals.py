"""Who is calling: bearer tokens map to Dataverse principals with different run privileges."""

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


@dataclass(frozen=True)
class Principal:
    """A systemuser. ``reads_all_runs`` False = flowsession read at User (own records) depth only."""

    user_id: str
    name: str
    reads_all_runs: bool = True
    domain_name: str = "avery.demo@contoso.example"


DEMO_USER = Principal("8d3f6b21-4c7a-4e9d-b2f8-1a6c5e9d3b70", "Avery Demo (emulator)")
RUN_ONLY_USER = Principal(
    "2c9e7a14-5b3d-4f8a-9e61-7d4b2a8c5f09",
    "Run-only service account",
    reads_all_runs=False,
    domain_name="runner@contoso.example",
)

DEFAULT_TOKENS: Mapping[str, Principal] = {EMULATOR_TOKEN: DEMO_USER, RUN_ONLY_TOKEN: RUN_ONLY_USER}
