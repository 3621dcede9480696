"""The Web API calls behind flows and runs: desktop flows (workflows), starting and cancelling runs, reading runs
(flowsessions) and their files, and the connection references runs go through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from ..errors import DesktopFlowsError, run_accepted_without_id
from ..models import ConnectionReference, ConnectionType, FlowRef, Row, RunMode
from .answers import as_object, json_object
from .core import INCLUDE_DRAFTS, RAW_HEADERS, DataverseCore, Page, max_page_size
from .odata import like_literal, odata_datetime, string_literal

DESKTOP_FLOW_CONNECTOR_ID = "/providers/Microsoft.PowerApps/apis/shared_uiflow"
FLOW_COLUMNS = "workflowid,name,description,statecode,modifiedon,category"
RUN_COLUMNS = (
    "flowsessionid,statuscode,statecode,createdon,startedon,completedon,errorcode,errormessage,runmode,"
    "_regardingobjectid_value,connectionid"
)
CONNECTION_REFERENCE_COLUMNS = "connectionreferencelogicalname,connectionreferencedisplayname,connectorid,connectionid"


@dataclass(frozen=True)
class RunDesktopFlowRequest:
    """The RunDesktopFlow action's parameters, typed; ``body()`` is the only place its wire format is written."""

    connection_name: str
    connection_type: ConnectionType
    run_mode: RunMode
    inputs: Mapping[str, Any]
    run_priority: Literal["normal", "high"] = "normal"
    timeout_seconds: int = 7200
    callback_url: str | None = None
    marker: bytes | None = None  # a keyed start's proof of attempt, written into the inputs string's whitespace

    @property
    def inputs_json(self) -> str:
        """The inputs as Dataverse takes them: one compact JSON string."""
        return json.dumps(self.inputs, ensure_ascii=False, separators=(",", ":"))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "runMode": self.run_mode,
            "runPriority": self.run_priority,
            "connectionName": self.connection_name,
            "timeout": self.timeout_seconds,
            "inputs": self.inputs_json if self.marker is None else marked_inputs(self.inputs_json, self.marker),
        }
        if self.connection_type == "connection_reference":
            body["connectionType"] = 2
        if self.callback_url:
            body["callbackUrl"] = self.callback_url
        return body


MARKER_BYTES = 16
MARKER_CHARS = MARKER_BYTES * 8  # what a marker adds to the inputs string
_BITS = str.maketrans("01", " \t")


def marked_inputs(inputs_json: str, marker: bytes) -> str:
    """The inputs JSON with ``marker`` written as whitespace right after its opening brace, one bit a character
    (space 0, tab 1): the same JSON value for Dataverse and the flow, and the one request parameter that
    ``flowsession.inputs`` keeps and returns, so a run can be told to be this attempt's (README "Exactly once")."""
    bits = "".join(f"{byte:08b}" for byte in marker).translate(_BITS)
    return "{" + bits + inputs_json.removeprefix("{")


def read_marker(inputs_text: str) -> bytes | None:
    """The marker ``marked_inputs`` wrote into a run's stored inputs, None when there is none."""
    text = inputs_text.lstrip(" \t\r\n")
    if not text.startswith("{"):
        return None
    spaces = re.match(r"[ \t]*", text[1:])
    run = spaces.group(0) if spaces else ""
    if len(run) != MARKER_CHARS:
        return None
    bits = run.replace(" ", "0").replace("\t", "1")
    return int(bits, 2).to_bytes(MARKER_BYTES, "big")


@dataclass(frozen=True)
class RunDesktopFlowResponse:
    run_id: str  # flowsessionId
    license_check: str | None  # licenseCheck.code, when Dataverse reports one


class FlowOperations(DataverseCore):
    """Desktop flows, runs and connection references."""

    async def list_desktop_flows(
        self, *, search: str | None, include_drafts: bool, page_size: int, next_link: str | None
    ) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            flt = "category eq 6"
            if search:
                flt += f" and contains(name,{like_literal(search)})"
            params = {"$select": FLOW_COLUMNS, "$filter": flt, "$orderby": "name asc,workflowid asc"}
        headers = {**max_page_size(page_size), **(INCLUDE_DRAFTS if include_drafts else {})}
        return await self._get_page("workflows", params, next_link, headers=headers, operation="list_flows")

    async def find_desktop_flows_by_name(self, name: str) -> list[Row]:
        params = {
            "$select": FLOW_COLUMNS,
            "$filter": f"category eq 6 and name eq {string_literal(name)}",
            "$top": "10",
        }
        body = await self._get_json("workflows", params, headers=INCLUDE_DRAFTS, operation="get_flow")
        return list(body.get("value") or [])

    async def find_published_desktop_flows(self, ids: Sequence[str], names: Sequence[str]) -> list[Row]:
        """Published desktop flows with one of these ids or names, their input/output schema columns included:
        one request for the whole allow-list (the per-flow tools)."""
        wanted = [f"workflowid eq {flow_id}" for flow_id in ids] + [f"name eq {string_literal(n)}" for n in names]
        params = {
            "$select": FLOW_COLUMNS + ",inputs,outputs",
            "$filter": f"category eq 6 and statecode eq 1 and ({' or '.join(wanted)})",
            "$orderby": "name asc,workflowid asc",
            "$top": "100",
        }
        body = await self._get_json("workflows", params, operation="list_flows")
        return [as_object(row) for row in cast(list[Any], body.get("value") or [])]

    async def list_desktop_flow_names(self, limit: int = 500) -> list[str]:
        """Names only, drafts included: the cheap query behind "did you mean" suggestions."""
        params = {"$select": "name", "$filter": "category eq 6", "$orderby": "name asc"}
        headers = {**max_page_size(limit), **INCLUDE_DRAFTS}
        page = await self._get_page("workflows", params, None, headers=headers, operation="list_flows")
        return [ref.name for ref in map(FlowRef.from_row, page.rows) if ref.name]

    async def get_workflow(self, flow_id: str) -> Row:
        return await self._get_json(
            f"workflows({flow_id})", {"$select": FLOW_COLUMNS}, headers=INCLUDE_DRAFTS, operation="get_flow"
        )

    async def get_flow_schema_text(self, flow_id: str, which: Literal["inputs", "outputs"]) -> str | None:
        """The raw schema JSON text, or None when the column is empty."""
        response = await self._send(
            "GET", f"workflows({flow_id})/{which}/$value", headers=RAW_HEADERS, operation="read_schema"
        )
        text = response.text
        return text if response.status_code != 204 and text.strip() else None

    async def run_desktop_flow(self, flow_id: str, request: RunDesktopFlowRequest) -> RunDesktopFlowResponse:
        """POST RunDesktopFlow. Sent again only when Dataverse certainly did not start a run."""
        try:
            await self._run_limiter.acquire(request.connection_name)
        except DesktopFlowsError:
            self._telemetry.run_limit_refused()
            raise
        with self.starts:
            response = await self._send(
                "POST",
                f"workflows({flow_id})/Microsoft.Dynamics.CRM.RunDesktopFlow",
                json=request.body(),
                operation="run_flow",
                kind="not_if_sent",
                connection=request.connection_name,
            )
        body = json_object(response, "run_flow")
        run_id = body.get("flowsessionId")
        if not isinstance(run_id, str) or not run_id:
            raise run_accepted_without_id()
        license_check = as_object(body.get("licenseCheck")).get("code")
        return RunDesktopFlowResponse(run_id, license_check if isinstance(license_check, str) else None)

    # ---- flow sessions (runs) -------------------------------------------------------------------------------

    async def get_flow_session(self, run_id: str) -> Row:
        return await self._get_json(f"flowsessions({run_id})", {"$select": RUN_COLUMNS}, operation="read_run")

    async def get_flow_session_inputs(self, run_id: str) -> bytes | None:
        """The inputs the run was started with, or None when it has none."""
        return await self._file(f"flowsessions({run_id})/inputs/$value", "read_run")

    async def list_runs_created_between(
        self, flow_id: str, since: datetime, until: datetime, *, owner: str, most: int
    ) -> list[Row] | None:
        """``owner``'s runs of a flow created in a window, with their connection: candidates for adoption. Every
        page is read (a burst of runs fills more than one); None when there are more than ``most``."""
        clauses = (
            f"_regardingobjectid_value eq {flow_id}",
            f"_ownerid_value eq {owner}",
            f"createdon ge {odata_datetime(since)}",
            f"createdon le {odata_datetime(until)}",
        )
        params = {
            "$select": "flowsessionid,createdon,connectionid,_ownerid_value",
            "$filter": " and ".join(clauses),
            "$orderby": "createdon desc",
        }
        rows: list[Row] = []
        next_link: str | None = None
        while True:
            page = await self._get_page(
                "flowsessions", params, next_link, headers=max_page_size(100), operation="list_runs"
            )
            rows += page.rows
            if len(rows) > most:
                return None
            if page.next_link is None:
                return rows
            next_link = page.next_link

    async def get_connection_id(self, logical_name: str) -> str | None:
        """The connection a connection reference is bound to (None when unbound or unknown)."""
        params = {
            "$select": "connectionid",
            "$filter": f"connectionreferencelogicalname eq {string_literal(logical_name)}",
            "$top": "1",
        }
        rows = (await self._get_json("connectionreferences", params, operation="list_connection_references")).get(
            "value"
        )
        first = as_object(cast(list[Any], rows)[0]) if isinstance(rows, list) and rows else {}
        return ConnectionReference.from_row(first).connection_id

    async def get_flow_session_outputs(self, run_id: str) -> bytes | None:
        """The outputs file, or None when the run has none (404 or an empty body)."""
        return await self._file(f"flowsessions({run_id})/outputs/$value", "read_outputs")

    async def list_flow_sessions(
        self,
        *,
        flow_id: str | None,
        status_code: int | None,
        page_size: int,
        next_link: str | None,
        created_since: datetime | None = None,
    ) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            clauses = [f"_regardingobjectid_value eq {flow_id}"] if flow_id else []
            if status_code is not None:
                clauses.append(f"statuscode eq {status_code}")
            if created_since is not None:
                clauses.append(f"createdon ge {odata_datetime(created_since)}")
            params = {"$select": RUN_COLUMNS, "$orderby": "createdon desc"}
            if clauses:
                params["$filter"] = " and ".join(clauses)
        headers = max_page_size(page_size)
        return await self._get_page("flowsessions", params, next_link, headers=headers, operation="list_runs")

    async def cancel_flow_session(self, run_id: str) -> None:
        await self._send(
            "POST",
            f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun",
            operation="cancel_run",
            kind="not_if_sent",
        )

    async def list_connection_references(self, *, search: str | None, limit: int) -> Page:
        flt = f"connectorid eq {string_literal(DESKTOP_FLOW_CONNECTOR_ID)}"
        if search:
            needle = like_literal(search)
            flt += (
                f" and (contains(connectionreferencedisplayname,{needle})"
                f" or contains(connectionreferencelogicalname,{needle}))"
            )
        params = {
            "$select": CONNECTION_REFERENCE_COLUMNS,
            "$filter": flt,
            "$orderby": "connectionreferencedisplayname asc",
        }
        headers = max_page_size(limit)
        return await self._get_page(
            "connectionreferences", params, None, headers=headers, operation="list_connection_references"
        )
