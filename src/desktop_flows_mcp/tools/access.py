"""Tools that explain sign-in and access: who this server is in Dataverse, and which environments exist."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from ..access import AccessReport, AccessService, EnvironmentList
from ..app import Services
from . import register, services


def _access(ctx: Context[Services]) -> AccessService:
    return services(ctx).access


def register_access_tools(mcp: MCPServer[Services]) -> None:
    @register(mcp, "Check sign-in and access", read_only=True, idempotent=True)
    async def check_access(ctx: Context[Services]) -> AccessReport:
        """Check who this server signs in to Dataverse as, and what that identity may do. Changes nothing.

        Call it first when a tool fails with unauthenticated or permission_denied, or when a person asks why
        nothing works. Returns the environment, the sign-in mode, who Dataverse says the caller is, and one probe
        per capability (flows, run history, connection references, machines, logs); a failed probe carries the
        fix for an administrator. If sign-in is pending (device code), the error carries the URL and code to show
        the person.
        """
        return await _access(ctx).check_access()

    @register(mcp, "List reachable Dataverse environments", read_only=True, idempotent=True)
    async def list_environments(ctx: Context[Services]) -> EnvironmentList:
        """List the Dataverse environments the signed-in person can reach, to tell them which DATAVERSE_URL to use.

        Needs a person's sign-in (device_code or interactive); with app sign-in it returns only the configured
        environment and says why. The one in use has is_current: true. Switching means restarting the server with
        another DATAVERSE_URL.
        """
        return await _access(ctx).list_environments()
