"""URL routing: ``entityset(key)/segment...`` to a handler, with Dataverse's 404/405/400 answers."""

from __future__ import annotations

import re

from . import handlers as h
from .errors import NOT_SUPPORTED, DataverseError, unknown_segment
from .machine_handlers import COLLECTIONS, Handler, list_set, navigate, record_routes
from .tables import FLOWSESSION

_SEGMENT = re.compile(r"^(?P<name>[^()]+?)(?:\((?P<key>[^()]*)\))?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RUN = "Microsoft.Dynamics.CRM.RunDesktopFlow"
_CANCEL = "Microsoft.Dynamics.CRM.CancelDesktopFlowRun"


def route(method: str, path: str) -> Handler:
    """Map ``entityset(key)/segment...`` to a handler, with Dataverse's 404/405/400 answers."""
    segments = path.split("/")
    head = _SEGMENT.match(segments[0])
    if head is None:
        raise unknown_segment(segments[0])
    name, key, tail = head["name"], head["key"], segments[1:]
    routes: dict[tuple[str, ...], tuple[str, Handler]]
    if name == "WhoAmI" and key in (None, ""):
        routes = {(): ("GET", h.whoami)}
    elif key is None:
        collections: dict[str, Handler] = {
            "workflows": h.list_workflows,
            "flowsessions": h.list_flowsessions,
            "connectionreferences": h.list_connection_references,
            **{entity_set: list_set(table) for entity_set, table in COLLECTIONS.items()},
        }
        if name not in collections:
            raise unknown_segment(name)
        routes = {(): ("GET", collections[name])}
    else:
        routes = _record_routes(name, _parse_key(key))
    shape = tuple(tail)
    if shape not in routes:
        depth = next(i for i in range(len(tail)) if not any(r[: i + 1] == shape[: i + 1] for r in routes))
        raise unknown_segment(tail[depth])
    verb, handler = routes[shape]
    if method != verb:
        raise DataverseError(405, NOT_SUPPORTED, f"The HTTP method '{method}' is not supported for this resource.")
    return handler


def _record_routes(name: str, key: str) -> dict[tuple[str, ...], tuple[str, Handler]]:
    if name == "workflows":
        return {
            (): ("GET", lambda c: h.get_workflow(c, key)),
            ("inputs",): ("GET", lambda c: h.workflow_property(c, key, "inputs")),
            ("outputs",): ("GET", lambda c: h.workflow_property(c, key, "outputs")),
            ("inputs", "$value"): ("GET", lambda c: h.workflow_value(c, key, "inputs")),
            ("outputs", "$value"): ("GET", lambda c: h.workflow_value(c, key, "outputs")),
            (_RUN,): ("POST", lambda c: h.run_desktop_flow(c, key)),
        }
    if name == "flowsessions":
        return {
            (): ("GET", lambda c: h.get_flowsession(c, key)),
            ("inputs", "$value"): ("GET", lambda c: h.flowsession_file(c, key, "inputs")),
            ("outputs", "$value"): ("GET", lambda c: h.flowsession_file(c, key, "outputs")),
            (_CANCEL,): ("POST", lambda c: h.cancel_run(c, key)),
            **{(nav.name,): ("GET", navigate(FLOWSESSION, key, nav)) for nav in FLOWSESSION.navigations.values()},
        }
    if name == "connectionreferences":
        return {(): ("GET", lambda c: h.get_connection_reference(c, key))}
    if name == "systemusers":
        return {(): ("GET", lambda c: h.get_systemuser(c, key))}
    if name in COLLECTIONS:
        return record_routes(COLLECTIONS[name], key)
    raise unknown_segment(name)


def _parse_key(key: str) -> str:
    if not _GUID.match(key):
        raise DataverseError(400, "0x80060888", "Bad Request - Error in query syntax.")
    return key.lower()
