"""The diagnosis knowledge tables against the reference (machines-and-diagnosis.md §5, §5.1, §8)."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from desktop_flows_mcp import knowledge
from desktop_flows_mcp.knowledge.facts import (
    GROUP_MANAGEMENT_TYPE,
    HEARTBEAT_STALE_AFTER,
    LICENCE_CHECK_CODES,
    MACHINE_STATUS,
    PROVISIONING_STATE,
    RUN_ERROR_CODES,
    Health,
    Retry,
    group_kind,
    known_codes_in,
    label,
    licence_check,
    licence_required,
    machine_health,
    run_error,
)

A, U, AU, L, ALL, NONE = "A", "U", "AU", "L", "ALL", ""
Y, LT, F, M, N, X = Retry.YES, Retry.LATER, Retry.AFTER_FIX, Retry.MAYBE, Retry.NO, Retry.UNKNOWN
MODES: dict[str, set[str]] = {
    "A": {"attended"},
    "U": {"unattended"},
    "AU": {"attended", "unattended"},
    "L": {"local"},
    "": set(),
    "ALL": {"attended", "unattended", "local"},
}

# code, HTTP status, modes, retry class: the reference's section 5 table, row by row.
SECTION_5 = [
    ("NoCandidateMachine", 400, AU, LT),
    ("SessionExistsForTheUserWhenUnattended", 400, U, F),
    ("UnattendedUserSessionDisconnected", None, U, F),
    ("UnattendedUserSessionLocked", None, U, F),
    ("AttendedUserSessionNotActive", None, A, F),
    ("AttendedUserNotLoggedIn", None, A, F),
    ("NoUnlockedActiveSessionForAttended", 400, A, F),
    ("UIFlowAlreadyRunning", 429, AU, Y),
    ("DesktopFlowsActionThrottled", 429, AU, Y),
    ("DesktopFlowsActionTimeout", 400, AU, N),
    ("GroupIsEmpty", 400, AU, N),
    ("XrmMachineGroupNotFound", 404, AU, N),
    ("NoListenerConnected", 404, AU, Y),
    ("ConnectionNotEstablished", 404, AU, Y),
    ("ConnectionTimeout", 404, AU, Y),
    ("DnsError", 404, AU, N),
    ("EndpointDoNotExist", 404, AU, N),
    ("WindowsIdentityIncorrect", 401, AU, N),
    ("SessionCreationInvalidCredentials", 400, U, N),
    ("SessionCreationError", 400, U, M),
    ("SessionCreationWinLogonFailure", 400, U, F),
    ("SessionNotFound", 400, U, M),
    ("TooManyActiveSessions", 400, U, F),
    ("Win10AlreadyHasActiveSession", 400, U, F),
    ("RDPIsNotEnabled", 400, U, N),
    ("RdpPermissionNotGranted", 400, U, N),
    ("AadLogonFailure", 400, U, N),
    ("UnattendedUnsupportedWithOldConnection", 403, U, N),
    ("UnsupportedRpaScriptSchemaVersion", 400, AU, N),
    ("InvalidUIFlowsCertificates", 401, AU, N),
    ("AuthTokenNotYetValid", 401, AU, LT),
    ("UIFlowAgentNotAvailable", 400, AU, F),
    ("UIFlowAgentLauncherServiceIsNotRunning", 500, AU, F),
    ("UnableToCallCrlEndpoint", 400, AU, N),
    ("TotalChunksMismatch", 400, AU, M),
    ("DesktopFlowMalformedMachineResponse", 500, AU, M),
    ("WcfServerCrash", 500, AU, M),
    ("ExistingRecordingSession", 400, L, X),
    ("LocalPlaybackOrRecordingOngoing", 429, ALL, Y),
    ("OnPremiseDataGatewayNotAvailable", 502, AU, M),
    ("MachineNotFound", None, NONE, X),
    ("NoSessionFoundForPasswordless", None, NONE, X),
    ("UIFlowServiceNoRdpPermissions", None, NONE, X),
    ("SessionNotFoundAfterCreation", None, NONE, X),
    ("AccountLockedOut", None, NONE, X),
]
COMMUNITY = {
    "MachineNotFound",
    "NoSessionFoundForPasswordless",
    "UIFlowServiceNoRdpPermissions",
    "SessionNotFoundAfterCreation",
    "AccountLockedOut",
}


def test_the_table_holds_exactly_the_codes_of_section_5() -> None:
    assert set(RUN_ERROR_CODES) == {row[0] for row in SECTION_5}
    assert len(SECTION_5) == 45


@pytest.mark.parametrize(("code", "http", "modes", "retry"), SECTION_5, ids=[row[0] for row in SECTION_5])
def test_every_code_has_its_status_modes_retry_class_and_both_fixes(
    code: str, http: int | None, modes: str, retry: Retry
) -> None:
    entry = run_error(code)

    assert entry is not None and entry.code == code
    assert (entry.http_status, set(entry.modes), entry.retry) == (http, MODES[modes], retry)
    assert entry.meaning.endswith(".") and entry.person_fix and entry.admin_fix
    assert entry.retryable == (retry in (Retry.YES, Retry.LATER))
    assert entry.community == (code in COMMUNITY)
    assert entry.sources == (("community",) if code in COMMUNITY else entry.sources)
    assert set(entry.sources) <= {"RUNERR", "QERR", "community"}


def test_codes_are_found_exactly_or_ignoring_case_and_unknown_codes_are_none() -> None:
    assert run_error(" nocandidatemachine ") is run_error("NoCandidateMachine")
    assert run_error("ActionFailed") is None
    assert run_error(None) is None and run_error("") is None


def test_queue_sub_codes_are_found_in_free_text() -> None:
    text = "NoCandidateMachine: no machine was found (SessionExistsForTheUserWhenUnattended on FIN-BOT-01)."

    assert known_codes_in(text) == ["NoCandidateMachine", "SessionExistsForTheUserWhenUnattended"]
    assert known_codes_in(None) == []


@pytest.mark.parametrize(
    ("mode", "hosted", "licence", "holder", "supported"),
    [
        ("attended", False, "Power Automate Premium", "the connection's owner", True),
        ("unattended", False, "Power Automate Process (or the Unattended RPA add-on)", "the target machine", True),
        ("unattended", True, "Power Automate Hosted Process (formerly Hosted RPA add-on)", "the environment", True),
        ("attended", True, "none: not supported", "-", False),
    ],
)
def test_each_run_mode_names_its_licence_and_who_holds_it(
    mode: str, hosted: bool, licence: str, holder: str, supported: bool
) -> None:
    requirement = licence_required(mode, hosted=hosted)  # type: ignore[arg-type]

    assert (requirement.licence, requirement.holder, requirement.supported) == (licence, holder, supported)


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("ValidLicenseCoverage", True),
        ("LicensingCheckFailed", None),
        ("AttendedNoLicense", False),
        ("UnattendedNoAddon", False),
        ("UnattendedWithoutParentCloudFlowNoLicense", False),
        ("UnattendedNoLicenseNoFlowPlan", False),
        ("UnattendedNoLicenseNoFlowPlanNoAddon", False),
        ("UnattendedWithoutParentCloudFlowNoLicenseNoAddon", False),
        ("UnattendedSomethingNew", False),
        ("AttendedSomethingNew", False),
        ("SomethingElse", None),
    ],
)
def test_licence_check_codes_read_as_covered_missing_or_unknown(code: str, ok: bool | None) -> None:
    check = licence_check(code)

    assert check is not None and check.ok is ok and check.meaning
    assert (code in LICENCE_CHECK_CODES) == (not code.endswith(("New", "Else")))


STALE = HEARTBEAT_STALE_AFTER
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("statecode", "statuscode", "age", "extra", "expected"),
    [
        (0, 1, timedelta(0), {}, Health.ONLINE),
        (0, 1, STALE, {}, Health.ONLINE),
        (0, 1, STALE + SECOND, {}, Health.OFFLINE),
        (0, 1, timedelta(days=3), {}, Health.OFFLINE),
        (0, 1, None, {}, Health.OFFLINE),
        (2, 4, timedelta(seconds=30), {}, Health.MAINTENANCE),
        (2, 4, timedelta(days=3), {}, Health.MAINTENANCE),
        (2, 5, None, {}, Health.MAINTENANCE),
        (2, 10, None, {}, Health.MAINTENANCE),
        (2, 99, timedelta(0), {}, Health.MAINTENANCE),
        (1, 2, timedelta(0), {}, Health.OFFLINE),
        (2, 9, timedelta(0), {}, Health.OFFLINE),
        (1, None, timedelta(0), {}, Health.OFFLINE),
        (2, 8, timedelta(0), {}, Health.ERROR),
        (2, 12, None, {}, Health.ERROR),
        (0, 13, timedelta(0), {}, Health.ERROR),
        (2, 3, timedelta(0), {}, Health.ERROR),
        (0, 1, timedelta(0), {"hosted_machine_state": 2}, Health.ERROR),
        (0, 1, timedelta(0), {"hosted_machine_state": 1}, Health.ONLINE),
        (0, 1, timedelta(0), {"key_delivery_status": 3}, Health.ERROR),
        (0, 1, timedelta(0), {"over_capacity": True}, Health.ERROR),
        (0, 77, timedelta(0), {}, Health.ONLINE),
    ],
)
def test_machine_health_follows_status_then_state_then_heartbeat(
    statecode: int, statuscode: int | None, age: timedelta | None, extra: dict[str, object], expected: Health
) -> None:
    verdict = machine_health(statecode=statecode, statuscode=statuscode, heartbeat_age=age, **extra)  # type: ignore[arg-type]

    assert verdict.health is expected and verdict.reason


def test_health_reasons_say_the_status_or_the_heartbeat_age() -> None:
    assert machine_health(statecode=0, statuscode=1, heartbeat_age=timedelta(days=3, hours=4)).reason == (
        "last heartbeat 3 d ago"
    )
    assert machine_health(statecode=2, statuscode=4, heartbeat_age=None).reason == "status ManualMaintenance"
    assert machine_health(statecode=0, statuscode=1, heartbeat_age=timedelta(seconds=42)).reason == (
        "last heartbeat 42 s ago"
    )


def test_every_machine_status_belongs_to_a_documented_state_and_13_is_active_but_an_error() -> None:
    assert {state for _, state in MACHINE_STATUS.values()} == {0, 1, 2}
    assert MACHINE_STATUS[13] == ("HostedMachineOvercapacity", 0)
    assert machine_health(statecode=0, statuscode=13, heartbeat_age=timedelta(0)).health is Health.ERROR


def test_labels_pass_unknown_values_through_and_groups_read_as_standard_or_hosted() -> None:
    assert label(PROVISIONING_STATE, 3) == "Error"
    assert label(MACHINE_STATUS, 4) == "ManualMaintenance"
    assert label(PROVISIONING_STATE, 7) == "Unknown (7)"
    assert label(PROVISIONING_STATE, None) is None
    assert [group_kind(value) for value in (*GROUP_MANAGEMENT_TYPE, None)] == [
        "standard",
        "hosted",
        "hosted",
        "standard",
    ]


def test_the_knowledge_modules_import_nothing_but_each_other_and_the_standard_library() -> None:
    """The tables and rules are pure, at the core: any layer may read them, and they read no layer."""
    package = Path(knowledge.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module in (
                    "__future__", "collections.abc", "dataclasses", "datetime", "enum", "typing"
                ), (path.name, node.module)  # fmt: skip
            assert not isinstance(node, ast.Import), path.name
