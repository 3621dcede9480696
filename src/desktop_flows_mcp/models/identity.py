"""Who the caller is and where they can go: WhoAmI's answer, the systemuser row, and Global Discovery's instances.

Global Discovery (``api/discovery/v2.0/Instances``) is not a Dataverse table, but its rows come over the same wire
and are parsed here like any other; ``access`` turns them into check_access and list_environments results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import Row
from .cells import text


@dataclass(frozen=True)
class WhoAmI:
    user_id: str | None
    business_unit_id: str | None
    organization_id: str | None

    @classmethod
    def from_row(cls, row: Row) -> WhoAmI:
        return cls(
            user_id=text(row, "UserId"),
            business_unit_id=text(row, "BusinessUnitId"),
            organization_id=text(row, "OrganizationId"),
        )


@dataclass(frozen=True)
class SystemUser:
    name: str | None
    is_application: bool  # an application user (app sign-in): applicationid is set

    @classmethod
    def from_row(cls, row: Row) -> SystemUser:
        return cls(name=text(row, "fullname"), is_application=bool(row.get("applicationid")))


@dataclass(frozen=True)
class DiscoveredEnvironment:
    """One Global Discovery instance: ``url`` is the environment (else its API URL), without a trailing slash."""

    url: str
    api_url: str | None
    name: str | None
    unique_name: str | None
    environment_id: str | None
    region: str | None
    state: Literal["enabled", "disabled"] | None
    version: str | None

    @classmethod
    def from_row(cls, row: Row) -> DiscoveredEnvironment:
        state = row.get("State")
        return cls(
            url=(text(row, "Url") or text(row, "ApiUrl") or "").rstrip("/"),
            api_url=(text(row, "ApiUrl") or "").rstrip("/") or None,
            name=text(row, "FriendlyName"),
            unique_name=text(row, "UniqueName"),
            environment_id=text(row, "EnvironmentId"),
            region=text(row, "Region"),
            state="enabled" if state == 0 else "disabled" if state == 1 else None,
            version=text(row, "Version"),
        )
