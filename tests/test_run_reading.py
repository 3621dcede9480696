"""Runs kept in memory are copies: nothing a caller changes in a returned run reaches the kept one."""

from __future__ import annotations

import copy
import types
from datetime import UTC, datetime
from typing import Any, Union, get_args, get_origin

from desktop_flows_mcp.models import FlowRun, RunError
from desktop_flows_mcp.runs.reading import detached


def test_a_detached_run_equals_the_run_and_shares_nothing_mutable_with_it() -> None:
    run = FlowRun(
        run_id="r",
        status="Failed",
        is_terminal=True,
        created_on=datetime(2026, 11, 28, tzinfo=UTC),
        error=RunError(code="NoCandidateMachine", message="m"),
    )
    run.outputs = {"Rows": [{"a": 1}]}
    copied = detached(run)
    assert copied == run and copied.model_fields_set == run.model_fields_set
    assert copied.error is not run.error and copied.outputs is not run.outputs
    assert isinstance(copied.outputs, dict) and copied.outputs["Rows"] is not run.outputs["Rows"]
    plain = FlowRun(run_id="r", status="Running", is_terminal=False)
    assert detached(plain) == plain and detached(plain).model_fields_set == plain.model_fields_set


def test_every_field_of_a_run_but_error_and_outputs_holds_a_value_no_one_changes_in_place() -> None:
    """``detached`` copies only ``error`` and ``outputs``; a new mutable field must be copied there too."""
    immutable = (str, int, bool, float, datetime, type(None))

    def kinds(annotation: Any) -> tuple[Any, ...]:
        if get_origin(annotation) in (Union, types.UnionType):
            return tuple(kind for arg in get_args(annotation) for kind in kinds(arg))
        return (annotation,)

    for name, field in FlowRun.model_fields.items():
        if name in ("error", "outputs"):
            continue
        assert all(kind in immutable for kind in kinds(field.annotation)), name
        assert copy.deepcopy(field.default) is field.default, name
