from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from desktop_flows_mcp.cursors import CursorCodec, PageToken
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode

TOKEN = PageToken("workflows?$select=name&$skiptoken=abc", 5, "drafts")


def test_a_cursor_round_trips() -> None:
    codec = CursorCodec(b"k" * 32)
    assert codec.decode("flows", codec.encode("flows", TOKEN), tool="list_desktop_flows") == TOKEN


def _flip_a_character(c: str) -> str:
    return c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1]


def _forge_a_wider_query(c: str) -> str:
    return base64.urlsafe_b64encode(b"0" * 16 + b'["flows","workflows?$filter=category eq 0",5,""]').decode()


def _garbage(c: str) -> str:
    return "not a cursor!"


def _empty(c: str) -> str:
    return ""


TAMPERINGS: list[Callable[[str], str]] = [_flip_a_character, _forge_a_wider_query, _garbage, _empty]


@pytest.mark.parametrize("tamper", TAMPERINGS)
def test_an_edited_cursor_is_refused_with_a_way_forward(tamper: Callable[[str], str]) -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = tamper(codec.encode("flows", TOKEN))
    with pytest.raises(DesktopFlowsError) as caught:
        codec.decode("flows", cursor, tool="list_desktop_flows")
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert caught.value.hint == "Call list_desktop_flows again without a cursor to start from the first page."


def test_a_cursor_from_another_list_or_another_process_is_refused() -> None:
    codec = CursorCodec(b"k" * 32)
    with pytest.raises(DesktopFlowsError):
        codec.decode("runs", codec.encode("flows", TOKEN), tool="list_desktop_flow_runs")
    with pytest.raises(DesktopFlowsError):
        CursorCodec(b"j" * 32).decode("flows", codec.encode("flows", TOKEN), tool="list_desktop_flows")
