"""The tool that explains a run: why it waits or why it failed, and what to do (``diagnosis/service.py``)."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from ..app import Services
from ..diagnosis.results import Diagnosis
from . import RunIdArg, register, services


def register_diagnose_tool(mcp: MCPServer[Services]) -> None:
    @register(mcp, "Diagnose a desktop flow run", read_only=True, idempotent=True)
    async def diagnose_desktop_flow_run(ctx: Context[Services], run_id: RunIdArg) -> Diagnosis:
        """Explain why a desktop flow run is waiting or failed, and what to do. Changes nothing.

        Reads the run, its machine and group (health, heartbeat age), the queue ahead of it, the documented
        meaning of its error code, the licence its mode needs and the tail of its action log. `verdict` and
        `summary` answer first; `next_step` is for the person, `admin_step` for an administrator. What this
        identity may not read is listed in `unreadable`.
        """
        return await services(ctx).diagnosis.diagnose(run_id)
