"""The Web API operations, one function each, in Dataverse's URL and body shapes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from .aggregate import parse_apply, run_apply
from .callbacks import CallbackDispatcher
from .errors import OBJECT_NOT_FOUND, DataverseError, bad_query, not_found
from .expand import check_access, expand_into, parse_expand
from .fetchxml import run_fetch
from .odata import SERVICE_PATH, context_url, next_link, page_size, parse_query, project, run_query
from .odata_filter import Row
from .principals import BUSINESS_UNIT_ID, ENVIRONMENT_ID, ORGANIZATION_ID, TENANT_ID, Principal
from .run_request import parse_run_request
from .runs import flowsession_row, observe
from .state import Store
from .tables import CONNECTION_REFERENCE, FLOWSESSION, SYSTEMUSER, WORKFLOW, Table

ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


@dataclass(frozen=True)
class Call:
    """One authenticated API request, with the emulator's clock reading for it."""

    request: Request
    principal: Principal
    now: float
    store: Store
    callbacks: CallbackDispatcher
    _related: dict[str, list[dict[str, object]]] = field(default_factory=dict[str, list[dict[str, object]]])

    def related(self, entity_set: str) -> Sequence[Row]:
        """The rows of an entity set the caller may read, computed once per request (for ``$expand``)."""
        if entity_set not in self._related:
            self._related[entity_set] = self.store.rows(entity_set, self.principal, self.now)
        return self._related[entity_set]

    @property
    def base(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc}"

    @property
    def params(self) -> dict[str, str]:
        return dict(self.request.query_params)

    def metadata(self, fragment: str) -> str:
        return f"{self.base}{SERVICE_PATH}$metadata#{fragment}"

    @property
    def include_unpublished(self) -> bool:
        return self.request.headers.get("MSCRM.IncludeUnpublished", "").strip().lower() == "true"


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status, {"OData-Version": "4.0", **(headers or {})}, media_type=ODATA_JSON)


def list_rows(call: Call, table: Table, rows: Sequence[Row]) -> Response:
    if "$apply" in call.params or "fetchXml" in call.params:
        return aggregate_rows(call, table, rows)
    query = parse_query(call.params, table)
    expands = parse_expand(call.params.get("$expand"), table)
    check_access(expands, call.related)
    size = page_size(call.request.headers.get("Prefer"))
    page = run_query(rows, query, table, size)
    expanded = [expand.context_part for expand in expands]
    body: dict[str, object] = {"@odata.context": context_url(call.base, table, query.select, expanded=expanded)}
    if query.count:
        body["@odata.count"] = page.total
    body["value"] = [
        expand_into(project(row, query.select, table), row, table, expands, call.related) for row in page.rows
    ]
    if page.next_offset is not None:
        body["@odata.nextLink"] = next_link(call.base, call.request.url.path, call.params, query, page.next_offset)
    headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if size is not None else {}
    return json_response(body, headers=headers)


def aggregate_rows(call: Call, table: Table, rows: Sequence[Row]) -> Response:
    """``$apply`` or an aggregate ``fetchXml``: grouped and aggregated rows (see ``aggregate``, ``fetchxml``); no
    other query option goes with either here."""
    asked = "fetchXml" if "fetchXml" in call.params else "$apply"
    others = sorted(name for name in call.params if name != asked and (name.startswith("$") or name == "fetchXml"))
    if others:
        raise bad_query(f"The query parameter {others[0]} is not supported with {asked}.")
    limit = call.store.aggregate_limit
    if asked == "fetchXml":
        value = run_fetch(call.params["fetchXml"], rows, table, limit)
    else:
        value = run_apply(rows, parse_apply(call.params["$apply"], table), table, limit)
    return json_response({"@odata.context": call.metadata(table.entity_set), "value": value})


def one_row(call: Call, table: Table, row: Row) -> Response:
    query = parse_query(call.params, table, collection=False)
    expands = parse_expand(call.params.get("$expand"), table)
    check_access(expands, call.related)
    expanded = [expand.context_part for expand in expands]
    body: dict[str, object] = {
        "@odata.context": context_url(call.base, table, query.select, entity=True, expanded=expanded)
    }
    return json_response({**body, **expand_into(project(row, query.select, table), row, table, expands, call.related)})


def whoami(call: Call) -> Response:
    return json_response(
        {
            "@odata.context": call.metadata("Microsoft.Dynamics.CRM.WhoAmIResponse"),
            "BusinessUnitId": BUSINESS_UNIT_ID,
            "UserId": call.principal.user_id,
            "OrganizationId": ORGANIZATION_ID,
        }
    )


def get_systemuser(call: Call, user_id: str) -> Response:
    """Only the caller's own systemuser row is readable here: the emulator models no user administration."""
    if user_id != call.principal.user_id.lower():
        raise DataverseError(404, OBJECT_NOT_FOUND, f"Entity 'systemuser' With Id = {user_id} Does Not Exist")
    row: dict[str, object] = {
        "systemuserid": call.principal.user_id,
        "fullname": call.principal.name,
        "domainname": call.principal.domain_name,
        "applicationid": None,
        "isdisabled": False,
        "versionnumber": 1004211,
    }
    return one_row(call, SYSTEMUSER, row)


def discovery_instances(call: Call) -> Response:
    """Global Discovery Service ``Instances``: the emulator itself is the one environment this user reaches."""
    return json_response(
        {
            "@odata.context": f"{call.base}/api/discovery/v2.0/$metadata#Instances",
            "value": [
                {
                    "Id": ORGANIZATION_ID,
                    "EnvironmentId": ENVIRONMENT_ID,
                    "UniqueName": "emulator",
                    "UrlName": "emulator",
                    "FriendlyName": "Dataverse emulator",
                    "Url": call.base,
                    "ApiUrl": call.base,
                    "Region": "local",
                    "State": 0,
                    "Version": "9.2.0.0",
                    "TenantId": TENANT_ID,
                }
            ],
        }
    )


def list_workflows(call: Call) -> Response:
    return list_rows(call, WORKFLOW, call.store.visible_workflows(call.include_unpublished))


def get_workflow(call: Call, workflow_id: str) -> Response:
    return one_row(call, WORKFLOW, call.store.workflow(workflow_id, call.include_unpublished))


def workflow_property(call: Call, workflow_id: str, column: str) -> Response:
    row = call.store.workflow(workflow_id, call.include_unpublished)
    context = call.metadata(f"workflows({workflow_id})/{column}")
    return json_response({"@odata.context": context, "value": row[column]})


def workflow_value(call: Call, workflow_id: str, column: str) -> Response:
    """Raw Memo text; a null column is 204 No Content, as OData specifies for ``$value`` of null."""
    value = call.store.workflow(workflow_id, call.include_unpublished)[column]
    if value is None:
        return Response(status_code=204, headers={"OData-Version": "4.0"})
    return Response(str(value).encode(), headers={"OData-Version": "4.0"}, media_type="text/plain; charset=utf-8")


async def run_desktop_flow(call: Call, workflow_id: str) -> Response:
    run_request = parse_run_request(await call.request.body())
    if not call.include_unpublished:
        call.store.workflow(workflow_id, include_unpublished=False)
    run = call.store.start_run(workflow_id, run_request, call.principal, call.now)
    call.callbacks.watch(run)
    return json_response(
        {
            "@odata.context": call.metadata("Microsoft.Dynamics.CRM.RunDesktopFlowResponse"),
            "flowsessionId": run.id,
            "licenseCheck": {
                "@odata.context": "#Microsoft.Dynamics.CRM.expando",
                "code": run.license_check[0],
                "message": run.license_check[1],
            },
        }
    )


def list_flowsessions(call: Call) -> Response:
    return list_rows(call, FLOWSESSION, call.store.visible_runs(call.principal, call.now))


def get_flowsession(call: Call, run_id: str) -> Response:
    return one_row(call, FLOWSESSION, flowsession_row(call.store.run(run_id, call.principal), call.now))


def flowsession_file(call: Call, run_id: str, column: str) -> Response:
    """A File column download; a run without that file answers 404 (no file attachment). The inputs file holds
    the string the run was started with, as it was sent."""
    run = call.store.run(run_id, call.principal)
    content = observe(run, call.now).outputs if column == "outputs" else (run.inputs or None)
    if column == "inputs" and run.inputs_text is not None:
        data = run.inputs_text.encode()
    elif content is None:
        raise DataverseError(
            404, OBJECT_NOT_FOUND, f"No file attachment found for attribute: {column} EntityId: {run_id}."
        )
    else:
        data = json.dumps(content, ensure_ascii=False).encode()
    filename = f"{column}.json"
    headers = {
        "OData-Version": "4.0",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "x-ms-file-name": filename,
        "x-ms-file-size": str(len(data)),
    }
    return Response(data, headers=headers, media_type="application/octet-stream")


def cancel_run(call: Call, run_id: str) -> Response:
    call.store.cancel(call.store.run(run_id, call.principal), call.now)
    return Response(status_code=204, headers={"OData-Version": "4.0"})


def list_connection_references(call: Call) -> Response:
    return list_rows(call, CONNECTION_REFERENCE, call.store.references)


def get_connection_reference(call: Call, reference_id: str) -> Response:
    for row in call.store.references:
        if row["connectionreferenceid"] == reference_id:
            return one_row(call, CONNECTION_REFERENCE, row)
    raise not_found("connectionreference", reference_id)
