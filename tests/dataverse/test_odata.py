"""OData text built from what an agent typed: GUIDs read the one canonical way."""

from __future__ import annotations

import uuid

import pytest

from desktop_flows_mcp.dataverse.odata import parse_guid
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import RUN_ID


@pytest.mark.parametrize(
    "text",
    [
        RUN_ID,
        RUN_ID.upper(),
        f"{{{RUN_ID}}}",
        f" {RUN_ID}\n",
        f"{{{RUN_ID.upper()}}} ",
        f"{RUN_ID}\u00a0",
        *(str(uuid.uuid5(uuid.NAMESPACE_URL, str(n))) for n in range(20)),
    ],
)
def test_a_guid_in_any_spelling_reads_as_uuid_prints_it(text: str) -> None:
    assert parse_guid(text, argument="run_id") == str(uuid.UUID(text.strip().strip("{}")))


@pytest.mark.parametrize("text", ["", "d9687093", RUN_ID + "0", RUN_ID.replace("-", ""), RUN_ID[:-1] + "g"])
def test_anything_else_is_refused_naming_the_argument(text: str) -> None:
    with pytest.raises(DesktopFlowsError) as caught:
        parse_guid(text, argument="run_id")
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert "run_id must be a GUID" in caught.value.message
