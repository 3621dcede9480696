"""Flows an agent named that cannot be run: refused by the allow-list, missing, or not desktop flows."""

from __future__ import annotations

from .taxonomy import DesktopFlowsError, ErrorCode


def not_allowed(flow: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.FLOW_NOT_ALLOWED,
        f"Desktop flow {flow!r} is not in DESKTOP_FLOWS_ALLOWED, so this server will not run it. Nothing was sent.",
        hint="Call list_desktop_flows and pick a flow whose runnable is true, or ask the person who configured this "
        "server to add the flow to DESKTOP_FLOWS_ALLOWED.",
    )


def flow_name_not_found(name: str, suggestions: list[str]) -> DesktopFlowsError:
    if suggestions:
        hint = "Did you mean " + ", ".join(repr(s) for s in suggestions) + "? Names must match exactly."
    else:
        hint = f"Names must match exactly. Call list_desktop_flows with search={name[:30]!r} to find it."
    return DesktopFlowsError(ErrorCode.NOT_FOUND, f"No desktop flow is named {name!r}.", hint=hint)


def flow_id_not_found(flow_id: str, cause: DesktopFlowsError) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"No desktop flow has id {flow_id}. ({cause.message})",
        hint=cause.hint,
        http_status=cause.http_status,
        dataverse_code=cause.dataverse_code,
    )


def flow_tool_gone(tool: str, flow_name: str, why: str) -> DesktopFlowsError:
    """A per-flow tool whose flow was deleted, unpublished or taken off the allow-list; nothing was started."""
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"{tool} has no flow behind it any more: desktop flow {flow_name!r} {why}. Nothing was started.",
        hint="The tool list was refreshed: list the tools again, or call list_desktop_flows to pick another flow.",
    )


def not_a_desktop_flow(flow_id: str, category: object) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"Workflow {flow_id} exists but is not a desktop flow (category {category}).",
        hint="Call list_desktop_flows to see the desktop flows in this environment.",
    )
