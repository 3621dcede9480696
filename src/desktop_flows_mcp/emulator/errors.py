"""Dataverse-shaped errors: one exception type, rendered as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json

from starlette.responses import Response

from .principals import READ_PRIVILEGES

# Codes written from the Dataverse error-code reference, not shared with the client.
QUERY_SYNTAX = "0x0"  # OData parser errors carry code 0x0
UNKNOWN_PROPERTY = "0x80060888"
UNKNOWN_SEGMENT = "0x8006088a"
OBJECT_NOT_FOUND = "0x80040217"
RECORD_NOT_FOUND_BY_KEY = "0x80060891"
INVALID_ARGUMENT = "0x80040203"
PRIVILEGE_DENIED = "0x80040220"
NOT_AUTHENTICATED = "0x8005F101"
NOT_SUPPORTED = "0x80040315"
THROTTLED = "0x8005F103"

ERROR_CONTENT_TYPE = "application/json; charset=utf-8"


class DataverseError(Exception):
    """An error the emulator answers with, in Dataverse's status/code/message terms."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_response(error: DataverseError) -> Response:
    headers = {"OData-Version": "4.0", **error.headers}
    return Response(
        error_body(error.code, error.message),
        status_code=error.status,
        headers=headers,
        media_type=ERROR_CONTENT_TYPE,
    )


def bad_query(message: str) -> DataverseError:
    return DataverseError(400, QUERY_SYNTAX, message)


def unknown_property(name: str, logical_name: str) -> DataverseError:
    return DataverseError(
        400,
        UNKNOWN_PROPERTY,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical_name}'.",
    )


def privilege_denied(user_id: str, logical_name: str) -> DataverseError:
    """403 for a principal without read privilege on a table, in Dataverse's message shape."""
    privilege, privilege_id, type_code = READ_PRIVILEGES[logical_name]
    return DataverseError(
        403,
        PRIVILEGE_DENIED,
        f"Principal user (Id={user_id}, type=8) is missing {privilege} privilege "
        f"(Id={privilege_id}) on OTC={type_code} for entity '{logical_name}'.",
    )


def invalid_argument(message: str) -> DataverseError:
    return DataverseError(400, INVALID_ARGUMENT, message)


def not_found(logical_name: str, record_id: str) -> DataverseError:
    return DataverseError(404, OBJECT_NOT_FOUND, f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


def unknown_segment(segment: str) -> DataverseError:
    return DataverseError(404, UNKNOWN_SEGMENT, f"Resource not found for the segment '{segment}'.")
