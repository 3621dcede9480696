"""Tool names for flows: ``run_`` + an ASCII snake_case slug of the flow's name, at most 64 characters.

=====================================  ===========================================
flow name                              tool name
=====================================  ===========================================
Enter invoices into legacy ERP         run_enter_invoices_into_legacy_erp
Zählerstände übertragen                run_zahlerstande_ubertragen
Post O'Brien & Sons invoices           run_post_obrien_sons_invoices
Apply 10% discount                     run_apply_10_discount
发票录入 (nothing left after folding)   run_flow_4c8a2e
=====================================  ===========================================

Accents are folded, spaces and ``- _ . / \\ : , ; | +`` separate words, every other character is dropped. A
name depends only on the flow's own name, so it is stable across restarts; when two flows (or a flow and a
built-in tool) would share one, each of them gets ``_`` + the first hex digits of its flow id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

PREFIX = "run_"
MAX_TOOL_NAME = 64
_SEPARATORS = re.compile(r"[\s\-_./\\:,;|+]+")
_DROPPED = re.compile(r"[^a-z0-9_]")
# Letters that Unicode does not decompose into an ASCII base letter and a mark.
_FOLDS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def slug(name: str) -> str:
    """The snake_case ASCII words of ``name`` ("" when none are left)."""
    folded = unicodedata.normalize("NFKD", name.lower().translate(_FOLDS))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    words = (_DROPPED.sub("", word) for word in _SEPARATORS.split(ascii_only))
    return "_".join(word for word in words if word)


def tool_name(name: str, flow_id: str, *, suffix_digits: int = 0) -> str:
    """``run_<slug>``, cut at a word boundary to fit 64 characters; with ``suffix_digits`` the flow id's first
    hex digits end it, so flows whose names slug alike still get distinct names."""
    suffix = "_" + flow_id.replace("-", "").lower()[:suffix_digits] if suffix_digits else ""
    base = slug(name) or "flow"
    room = MAX_TOOL_NAME - len(PREFIX) - len(suffix)
    if len(base) > room:
        cut = base[:room]
        base = cut.rsplit("_", 1)[0] if "_" in cut and base[room] != "_" else cut
        base = base.rstrip("_")
    if base == "flow" and not suffix:  # a name with no ASCII word left says nothing: name it by its id
        suffix = "_" + flow_id.replace("-", "").lower()[:6]
    return PREFIX + base + suffix


def tool_names(flows: Mapping[str, str], *, reserved: Iterable[str] = ()) -> dict[str, str]:
    """flow id → tool name for ``flows`` (flow id → flow name); names in ``reserved`` are never given out."""
    taken = set(reserved)
    names = {flow_id: tool_name(name, flow_id) for flow_id, name in flows.items()}
    for digits in (6, 8, 12, 32):
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name] = counts.get(name, 0) + 1
        clashing = [fid for fid, name in names.items() if counts[name] > 1 or name in taken]
        if not clashing:
            break
        for flow_id in clashing:
            names[flow_id] = tool_name(flows[flow_id], flow_id, suffix_digits=digits)
    return names
