"""Per-flow tool names: readable, ASCII, stable, unique, at most 64 characters."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.slugs import MAX_TOOL_NAME, tool_name, tool_names

ID = "4c8a2e6f-1d9b-4c3e-b6f1-9e5d3a7c2b84"
OTHER_ID = "d1f5b9e3-6c2a-4e8d-9b47-5a2f8c1e7d63"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Enter invoices into legacy ERP", "run_enter_invoices_into_legacy_erp"),
        ("Zählerstände übertragen", "run_zahlerstande_ubertragen"),
        ("Réconciliation bancaire", "run_reconciliation_bancaire"),
        ("Post O'Brien & Sons invoices", "run_post_obrien_sons_invoices"),
        ("Apply 10% discount", "run_apply_10_discount"),
        ("Export_GL_balances", "run_export_gl_balances"),
        ("  Straße / Grüße -- Æsir  ", "run_strasse_grusse_aesir"),
        ("3270 balance: v2.1", "run_3270_balance_v2_1"),
    ],
)
def test_a_flow_name_becomes_run_and_its_ascii_snake_case_words(name: str, expected: str) -> None:
    assert tool_name(name, ID) == expected


def test_a_name_with_no_ascii_word_left_is_named_by_its_flow_id() -> None:
    assert tool_name("发票录入", ID) == "run_flow_4c8a2e"
    assert tool_name("!!!", ID) == "run_flow_4c8a2e"


def test_a_long_name_is_cut_at_a_word_boundary_to_64_characters() -> None:
    name = "Reconcile the monthly statements of every subsidiary bank account against the ledger"
    cut = tool_name(name, ID)
    assert len(cut) <= MAX_TOOL_NAME and cut == "run_reconcile_the_monthly_statements_of_every_subsidiary_bank"
    suffixed = tool_name(name, ID, suffix_digits=6)
    assert len(suffixed) <= MAX_TOOL_NAME and suffixed.endswith("_4c8a2e")
    one_word = tool_name("x" * 100, ID)
    assert one_word == "run_" + "x" * 60


def test_flows_whose_names_slug_alike_each_get_a_suffix_from_their_id() -> None:
    names = tool_names({ID: "Réconciliation bancaire", OTHER_ID: "Reconciliation Bancaire", "a" * 32: "Other"})
    assert names == {
        ID: "run_reconciliation_bancaire_4c8a2e",
        OTHER_ID: "run_reconciliation_bancaire_d1f5b9",
        "a" * 32: "run_other",
    }


def test_a_name_is_the_same_whatever_order_the_flows_come_in() -> None:
    flows = {ID: "Same", OTHER_ID: "same", "b" * 32: "Different"}
    assert tool_names(flows) == tool_names(dict(reversed(list(flows.items()))))


def test_ids_that_share_their_first_digits_get_longer_suffixes() -> None:
    first, second = "4c8a2e6f-0000-0000-0000-000000000001", "4c8a2e6f-0000-0000-0000-000000000002"
    assert tool_names({first: "Twin", second: "Twin"}) == {
        first: "run_twin_4c8a2e6f000000000000000000000001",
        second: "run_twin_4c8a2e6f000000000000000000000002",
    }


def test_a_built_in_tool_name_is_never_given_to_a_flow() -> None:
    names = tool_names({ID: "Desktop flow"}, reserved={"run_desktop_flow"})
    assert names == {ID: "run_desktop_flow_4c8a2e"}
