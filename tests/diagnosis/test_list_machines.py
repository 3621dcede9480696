"""list_machines over the real emulator: health verdicts, groups, paging bound to its arguments, lean queries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import error_of, ok
from tests.stacks import ERAS, full_stack

pytestmark = pytest.mark.anyio
MEMO_COLUMNS = ("hostedmachineerror", "machinemetadata", "connectivityconfiguration", "provisioningerror",
                "groupmetadata", "keypackage", "publickey")  # fmt: skip


@pytest.mark.parametrize("mode", ERAS)
async def test_machines_come_with_their_health_and_groups_with_kind_provisioning_and_count(mode: str) -> None:
    async with full_stack(mode) as stack:
        listed = ok(await stack.call("list_machines", {}))
    health = {m["name"]: (m["health"], m.get("group")) for m in listed["machines"]}
    assert health == {
        "CLM-BOT-01": ("online", "Claims processing bots"),
        "CLM-BOT-02": ("online", "Claims processing bots"),
        "FIN-BOT-01": ("online", "Finance bots"),
        "FIN-BOT-02": ("online", "Finance bots"),
        "FIN-BOT-03": ("maintenance", "Finance bots"),
        "HOSTED-INV-01": ("error", None),
        "HR-PC-03": ("online", None),
        "OPS-WS-014": ("online", None),
        "WH-PC-07": ("offline", None),  # a standalone machine's Default group is not a group
    }
    groups = {g["name"]: (g["kind"], g.get("provisioning"), g["machine_count"]) for g in listed["groups"]}
    assert groups == {
        "Citizen portal bots": ("hosted", "Error", 0),
        "Claims processing bots": ("standard", None, 2),
        "Finance bots": ("standard", None, 3),
    }
    hosted = next(m for m in listed["machines"] if m["name"] == "HOSTED-INV-01")
    assert (hosted["hosting"], hosted["hosted_state"], hosted["status"]) == ("Hosted", "Error", "ProvisionedWithError")
    offline = next(m for m in listed["machines"] if m["name"] == "WH-PC-07")
    assert offline["health_reason"] == "last heartbeat 3 d ago" and offline["agent_version"] == "2.41.172.24033"
    assert stack.wire.paths() == ["GET flowmachines", "GET flowmachinegroups"]


async def test_lists_never_select_the_large_memo_columns_and_the_result_stays_small() -> None:
    async with full_stack() as stack:
        result = await stack.call("list_machines", {})
    for request in stack.wire.requests:
        query = str(request.url.params)
        assert "%24select" in str(request.url) and not any(column in query for column in MEMO_COLUMNS), query
    assert len(result.content[0].text.encode()) < 6_000  # type: ignore[union-attr]


async def test_search_narrows_machines_and_groups() -> None:
    async with full_stack() as stack:
        listed = ok(await stack.call("list_machines", {"search": "fin"}))
    assert [m["name"] for m in listed["machines"]] == ["FIN-BOT-01", "FIN-BOT-02", "FIN-BOT-03"]
    assert [g["name"] for g in listed["groups"]] == ["Finance bots"]


async def test_pages_follow_the_cursor_with_groups_on_the_first_page_only_and_one_request_each() -> None:
    async with full_stack() as stack:
        first = ok(await stack.call("list_machines", {"limit": 4}))
        second = ok(await stack.call("list_machines", {"cursor": first["next_cursor"]}))
        third = ok(await stack.call("list_machines", {"cursor": second["next_cursor"], "limit": 4}))
        other = error_of(await stack.call("list_machines", {"cursor": first["next_cursor"], "search": "fin"}))
    names: list[Any] = [m["name"] for page in (first, second, third) for m in page["machines"]]
    assert len(names) == len(set(names)) == 9 and names == sorted(names)
    assert first["groups"] and second["groups"] == [] and "next_cursor" not in third
    assert stack.wire.paths() == ["GET flowmachines", "GET flowmachinegroups", "GET flowmachines", "GET flowmachines"]
    assert other["code"] == "invalid_argument" and "search" in other["message"]
