"""Tools that start, follow and cancel desktop flow runs (the flowsession table)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from ..app import Services
from ..models import CancelledRun, FlowRun, RunList, RunOutputs, RunStatusName, StartedRun
from . import ConfirmTokenArg, CursorArg, FlowArg, RunIdArg, progress_reporter, register, services


def register_run_read_tools(mcp: MCPServer[Services]) -> None:
    @register(mcp, "Get a desktop flow run", read_only=True, idempotent=True)
    async def get_desktop_flow_run(ctx: Context[Services], run_id: RunIdArg) -> FlowRun:
        """Get the current status of one desktop flow run, without waiting.

        `status` is Waiting (queued for a machine), Running, or final (Succeeded, Failed, Cancelled, TimedOut,
        ...); `is_terminal` says whether it has finished. A failed run carries `error` with Dataverse's errorcode
        and a hint. To block until it finishes, use wait_for_desktop_flow_run. Run ids stay readable as long as
        Dataverse keeps the run.
        """
        return await services(ctx).runs.get_run(run_id)

    @register(mcp, "Get a desktop flow run's outputs", read_only=True, idempotent=True)
    async def get_desktop_flow_run_outputs(ctx: Context[Services], run_id: RunIdArg) -> RunOutputs:
        """Get the output variables a desktop flow run produced.

        Outputs exist once a run has succeeded; before that the result is an empty object with a note.
        wait_for_desktop_flow_run already includes the outputs of a successful run.
        """
        return await services(ctx).runs.get_outputs(run_id)

    @register(mcp, "Wait for a desktop flow run", read_only=True, idempotent=True)
    async def wait_for_desktop_flow_run(
        ctx: Context[Services],
        run_id: RunIdArg,
        timeout_seconds: Annotated[int, Field(ge=1, le=600, description="How long to wait in this call.")] = 45,
    ) -> FlowRun:
        """Wait until a desktop flow run finishes, or until timeout_seconds pass, then return the run.

        Sends progress notifications while it waits. A successful run comes back with its `outputs`. If the run
        is still going at the deadline, is_terminal is false and it is not an error: call again to keep waiting.
        Runs can queue for hours when no machine is free. Cancelling this call stops the waiting, not the run.
        """
        return await services(ctx).runs.wait(run_id, timeout_seconds, progress_reporter(ctx))

    @register(mcp, "List desktop flow runs", read_only=True, idempotent=True)
    async def list_desktop_flow_runs(
        ctx: Context[Services],
        flow: Annotated[str | None, Field(min_length=1, max_length=100, description="Only this flow's runs.")] = None,
        status: Annotated[RunStatusName | None, Field(description="Only runs with this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Runs per page.")] = 20,
        cursor: CursorArg = None,
    ) -> RunList:
        """List desktop flow runs, newest first.

        Use it to find a run_id, to see a flow's recent history, or to check whether a run already started
        before starting another. Narrow with `flow` and `status`; pass next_cursor as `cursor` for older runs.
        """
        return await services(ctx).runs.list_runs(flow=flow, status=status, limit=limit, cursor=cursor)


def register_run_write_tools(mcp: MCPServer[Services], *, approval: bool = False) -> None:
    """``approval`` (DESKTOP_FLOWS_APPROVAL set): both tools take a confirm_token, and say so."""

    @register(mcp, "Run a desktop flow", read_only=False, idempotent=False, open_world=True, approval=approval)
    async def run_desktop_flow(
        ctx: Context[Services],
        flow: FlowArg,
        inputs: Annotated[
            dict[str, Any] | None, Field(description="Input variables by name, typed as the schema says.")
        ] = None,
        connection_name: Annotated[
            str | None,
            Field(max_length=200, description="Connection name or reference logical name (default: the server's)."),
        ] = None,
        connection_type: Annotated[
            Literal["connection", "connection_reference"] | None,
            Field(description="What connection_name is (default: the server's setting)."),
        ] = None,
        run_mode: Annotated[
            Literal["attended", "unattended"] | None,
            Field(description="attended: the signed-in user's session; unattended: in the background."),
        ] = None,
        run_priority: Annotated[Literal["normal", "high"], Field(description="Queue priority.")] = "normal",
        timeout_seconds: Annotated[
            int, Field(ge=1, le=86400, description="Longest run time before Dataverse stops it.")
        ] = 7200,
        callback_url: Annotated[
            str | None, Field(max_length=2000, description="https URL Dataverse POSTs to when the run ends.")
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(min_length=1, max_length=200, description="Unique string; a repeat within 24 h returns the run."),
        ] = None,
        wait_seconds: Annotated[
            int, Field(ge=0, le=120, description="Wait up to this long for the end (0: return at once).")
        ] = 0,
        confirm_token: ConfirmTokenArg = None,
    ) -> StartedRun:
        """Start a desktop flow run on a machine through its connection, and return the run_id.

        Check the inputs with get_desktop_flow_schema first; they are validated before anything is sent. The run
        queues until a machine is free, so the result usually says Waiting: follow it with
        wait_for_desktop_flow_run. This starts real automation on a real machine: never call it twice for one
        request; pass an idempotency_key (kept 24 hours) so a retry returns the same run instead of a duplicate.
        Run ids stay readable as long as Dataverse keeps the run.
        """
        from ..runs import RunRequest  # the run service loads with the app, not with the tool list

        request = RunRequest(
            flow=flow,
            inputs=inputs or {},
            connection_name=connection_name,
            connection_type=connection_type,
            run_mode=run_mode,
            run_priority=run_priority,
            timeout_seconds=timeout_seconds,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            wait_seconds=wait_seconds,
        )
        return await services(ctx).runs.run(request, progress_reporter(ctx))

    @register(mcp, "Cancel a desktop flow run", read_only=False, destructive=True, idempotent=True, approval=approval)
    async def cancel_desktop_flow_run(
        ctx: Context[Services], run_id: RunIdArg, confirm_token: ConfirmTokenArg = None
    ) -> CancelledRun:
        """Cancel a queued or running desktop flow run.

        The automation stops on the machine, possibly part-way through its work. Only cancel when the person
        asked to, or when a run was started by mistake. A run that already finished gives a `conflict` error.
        """
        return await services(ctx).runs.cancel(run_id)
