"""``desktop-flows-mcp doctor`` against the emulator: all ✔, and each typical mistake as the one ✘ with its fix."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.doctor import Doctor, DoctorReport
from desktop_flows_mcp.doctor.checks import describe_token
from desktop_flows_mcp.emulator import EMULATOR_TOKEN, RUN_ONLY_TOKEN, Emulator
from tests.processes import emulator_on_loopback, run_cli

pytestmark = pytest.mark.anyio

ENV = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": EMULATOR_TOKEN}
ORDER = ["configuration", "environment", "sign-in", "privileges", "allow-list", "connection", "machines"]


async def doctor(env: dict[str, str] | None = None, **options: Any) -> DoctorReport:
    """Doctor on a real-environment configuration whose wire is the emulator, in-process."""
    settings_env = {**ENV, "DESKTOP_FLOWS_CONNECTION": "shared-uiflow-7f3c1a", **(env or {})}
    options.setdefault("dataverse_transport", Emulator().transport())
    return await run(lambda: Settings.from_env(settings_env), **options)


async def run(read_settings: Callable[[], Settings], **options: Any) -> DoctorReport:
    return await Doctor(read_settings, **options).run()


def statuses(report: DoctorReport) -> dict[str, str]:
    return {check.check: check.status for check in report.checks}


def the(report: DoctorReport, name: str) -> Any:
    return next(check for check in report.checks if check.check == name)


@pytest.mark.slow
def test_doctor_on_the_built_in_emulator_passes_every_check_and_exits_0() -> None:
    result = run_cli("doctor", "--emulator")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "desktop-flows-mcp doctor: the built-in emulator"
    marks = [line.split()[:2] for line in lines if line[:1] in "✔✘!–"]
    assert marks == [["✔", name] for name in ORDER]
    assert lines[-1] == "All 7 checks passed."
    assert "group Finance bots: 2 of 3 machines online" in result.stdout


@pytest.mark.slow
def test_doctor_json_is_for_scripts_and_a_flag_before_the_command_counts_too() -> None:
    result = run_cli("--emulator", "doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [(c["check"], c["status"]) for c in report["checks"]] == [(name, "ok") for name in ORDER]
    assert all(isinstance(c["seconds"], float) and c["fix"] is None for c in report["checks"])


@pytest.mark.slow
def test_a_bad_setting_is_the_failed_configuration_check_naming_the_flag_typed() -> None:
    result = run_cli("doctor", "--emulator", "--read-only=maybe", "--json")
    assert result.returncode == 1
    checks = json.loads(result.stdout)["checks"]
    assert checks[0]["status"] == "fail"
    assert checks[0]["summary"] == "--read-only: must be true or false (got 'maybe'). Example: --read-only=true"
    assert [c["status"] for c in checks[1:]] == ["skip"] * 6


async def test_a_real_configuration_passes_when_everything_is_right() -> None:
    report = await doctor({"DESKTOP_FLOWS_ALLOWED": "Enter invoices into legacy ERP,SAP vendor lookup"})
    assert statuses(report) == dict.fromkeys(ORDER, "ok"), report.to_text()
    assert the(report, "environment").summary == (
        "contoso.crm.dynamics.com answers (HTTP 401 without a token, as Dataverse does)"
    )
    assert the(report, "allow-list").summary == "each of the 2 entries names one published desktop flow"
    assert report.exit_code == 0


async def test_over_real_http_the_environment_must_resolve_and_answer() -> None:
    async with emulator_on_loopback() as (_, url):
        served = await run(lambda: Settings.from_env({**ENV, "DATAVERSE_URL": url}))
    assert statuses(served)["environment"] == "ok" and statuses(served)["sign-in"] == "ok"

    with socket.socket() as probe:  # a port nothing listens on: the URL's port mistyped
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    refused = await run(lambda: Settings.from_env({**ENV, "DATAVERSE_URL": f"http://127.0.0.1:{closed}"}))
    assert the(refused, "environment").summary.startswith("127.0.0.1 does not answer (")
    assert statuses(refused) == {"configuration": "ok", "environment": "fail", **dict.fromkeys(ORDER[2:], "skip")}
    assert refused.exit_code == 1

    typo = await run(lambda: Settings.from_env({**ENV, "DATAVERSE_URL": "https://contoso.crm.dynamics.invalid"}))
    environment = the(typo, "environment")
    assert environment.summary.startswith("contoso.crm.dynamics.invalid does not resolve (DNS: ")
    assert "Environment URL" in environment.fix


async def test_a_token_dataverse_refuses_fails_sign_in_and_skips_what_needs_it() -> None:
    report = await doctor({"DATAVERSE_ACCESS_TOKEN": "a-wrong-token"})
    sign_in = the(report, "sign-in")
    assert sign_in.status == "fail"
    assert sign_in.summary.startswith("Dataverse refuses an opaque token (not a JWT, so no account to show): ")
    assert sign_in.fix.startswith("Get a new token for https://contoso.crm.dynamics.com")
    assert "a-wrong-token" not in report.to_text() + report.to_json()
    assert [statuses(report)[name] for name in ORDER[3:]] == ["skip"] * 4


async def test_an_identity_without_machine_and_log_privileges_fails_privileges_with_the_role_to_give() -> None:
    report = await doctor({"DATAVERSE_ACCESS_TOKEN": RUN_ONLY_TOKEN})
    privileges = the(report, "privileges")
    assert privileges.status == "fail"
    assert privileges.summary == "2 missing: list_machines, read_run_logs"
    assert "Flow Machine" in privileges.fix
    assert "✘ See machines and machine groups (flowmachines)" in privileges.details


async def test_an_allow_list_entry_that_matches_nothing_is_named_with_the_closest_real_name() -> None:
    allowed = "Enter invoice into legacy ERP,Scrape competitor prices,7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53"
    report = await doctor({"DESKTOP_FLOWS_ALLOWED": allowed})
    check = the(report, "allow-list")
    assert (check.status, check.summary) == ("fail", "2 of 3 entries allow nothing")
    assert check.details == [
        "'Enter invoice into legacy ERP' matches no published desktop flow; did you mean "
        "'Enter invoices into legacy ERP'?",
        "'Scrape competitor prices' names a desktop flow that is not published (a draft?).",
    ]
    assert "DESKTOP_FLOWS_ALLOWED (--allowed)" in check.fix


async def test_no_default_connection_fails_and_lists_the_connections_runs_have_used() -> None:
    report = await doctor({"DESKTOP_FLOWS_CONNECTION": ""})
    check = the(report, "connection")
    assert check.summary == "DESKTOP_FLOWS_CONNECTION is not set: every run must name its connection_name"
    assert "shared-uiflow-7f3c1a" in check.fix
    assert statuses(report)["machines"] == "skip"


async def test_a_mistyped_connection_gets_the_closest_known_one() -> None:
    report = await doctor({"DESKTOP_FLOWS_CONNECTION": "shared-uiflow-7f3c1b"})
    check = the(report, "connection")
    assert check.summary == (
        "no connection reference or run uses 'shared-uiflow-7f3c1b'; did you mean 'shared-uiflow-7f3c1a'?"
    )


async def test_a_connection_to_an_offline_machine_fails_machines_with_its_heartbeat() -> None:
    report = await doctor({"DESKTOP_FLOWS_CONNECTION": "shared-uiflow-4d1e90"})
    assert statuses(report)["connection"] == "ok"
    machines = the(report, "machines")
    assert machines.status == "fail"
    assert machines.summary.startswith("no machine online on WH-PC-07 (offline: last heartbeat 3 d ago)")
    assert "Start the machine" in machines.fix


async def test_a_connection_reference_is_followed_to_its_connection_and_machines() -> None:
    env = {"DESKTOP_FLOWS_CONNECTION_TYPE": "connection_reference"}
    bound = await doctor({**env, "DESKTOP_FLOWS_CONNECTION": "contoso_DesktopFlowsOpsWorkstation"})
    assert the(bound, "connection").summary == (
        "connection reference 'contoso_DesktopFlowsOpsWorkstation' → connection shared-uiflow-2b9e44 (desktop flows "
        "connector)"
    )
    [machine] = the(bound, "machines").details
    assert machine.startswith("machine OPS-WS-014: online (last heartbeat ")
    unbound = await doctor({**env, "DESKTOP_FLOWS_CONNECTION": "contoso_DesktopFlowsUnbound"})
    assert the(unbound, "connection").summary == (
        "connection reference 'contoso_DesktopFlowsUnbound' is bound to no connection"
    )
    typo = await doctor({**env, "DESKTOP_FLOWS_CONNECTION": "contoso_DesktopFlowsFinanceBot"})
    assert the(typo, "connection").summary.endswith("did you mean 'contoso_DesktopFlowsFinanceBots'?")


async def test_a_check_that_takes_longer_than_its_limit_fails_and_doctor_goes_on() -> None:
    class Hangs:
        mode = "access_token"

        async def token(self, *, force_refresh: bool = False) -> str:
            await anyio.sleep_forever()
            raise AssertionError

    report = await doctor(token_provider=Hangs(), limit=0.05)
    assert (the(report, "sign-in").status, the(report, "sign-in").summary) == ("fail", "no answer within 0.05 s")
    assert report.exit_code == 1


async def test_a_configuration_error_skips_everything_else() -> None:
    def broken() -> Settings:
        raise ConfigError("DESKTOP_FLOWS_RUN_MODE", "must be one of attended, unattended (got 'x').", "attended")

    report = await run(broken)
    assert statuses(report) == {"configuration": "fail", **dict.fromkeys(ORDER[1:], "skip")}
    assert the(report, "configuration").summary.startswith("DESKTOP_FLOWS_RUN_MODE: must be one of")


async def test_redis_and_the_public_url_are_checked_when_configured() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    report = await doctor(
        {
            "DESKTOP_FLOWS_REDIS_URL": f"redis://:secret@127.0.0.1:{closed}/0",
            "DESKTOP_FLOWS_PUBLIC_URL": "https://flows-mcp.contoso.com",
        }
    )
    redis = the(report, "Redis")
    assert (redis.status, redis.summary.split(" (")[0]) == ("fail", f"redis://127.0.0.1:{closed}/0 is unreachable")
    assert "secret" not in report.to_text()
    assert the(report, "public URL").status == "ok"
    assert [c.check for c in report.checks][-2:] == ["Redis", "public URL"]


def jwt(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


def test_a_token_is_described_by_its_account_and_tenant_and_an_expired_or_foreign_one_is_refused() -> None:
    settings = Settings.from_env(ENV)
    soon = time.time() + 600
    tid = "11111111-2222-3333-4444-555555555555"
    good = jwt(upn="ada@contoso.com", tid=tid, exp=soon, aud="https://contoso.crm.dynamics.com/")
    assert describe_token(good, settings) == (f"signed in as ada@contoso.com, tenant {tid}", None)
    app = jwt(appid="aaaa", tid=tid, exp=soon)
    assert describe_token(app, settings)[0] == f"signed in as app aaaa, tenant {tid}"
    expired = jwt(upn="ada@contoso.com", exp=1_700_000_000)
    assert describe_token(expired, settings)[1] == "the token expired at 2023-11-14 22:13 UTC"
    foreign = jwt(upn="ada@contoso.com", exp=soon, aud="https://fabrikam.crm.dynamics.com")
    assert describe_token(foreign, settings)[1] == (
        "the token is for https://fabrikam.crm.dynamics.com, not https://contoso.crm.dynamics.com"
    )


async def test_the_environment_check_reads_one_unauthenticated_request() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    report = await doctor(dataverse_transport=httpx.MockTransport(answer))
    check = the(report, "environment")
    assert check.summary == "contoso.crm.dynamics.com answered HTTP 404 at /api/data/v9.2/, as no Dataverse does"
    assert [str(r.url) for r in seen] == ["https://contoso.crm.dynamics.com/api/data/v9.2/"]
    assert "authorization" not in seen[0].headers


async def test_a_person_who_must_sign_in_is_told_once_and_doctor_waits_for_them() -> None:
    from desktop_flows_mcp.emulator import DEMO_USER
    from desktop_flows_mcp.signin import SignInPrompt, SignInRequired

    token = jwt(upn="ada@contoso.com", tid="contoso.onmicrosoft.com", exp=time.time() + 600)
    prompt = SignInPrompt("e1", "Sign in", url="https://microsoft.com/devicelogin", user_code="ABCD-1234")

    class Person:
        mode = "device_code"
        calls = 0

        async def token(self, *, force_refresh: bool = False) -> str:
            self.calls += 1
            if self.calls < 3:  # the person has not finished yet: the same code each time
                raise SignInRequired(
                    prompt,
                    "Sign-in needed: open https://microsoft.com/devicelogin and enter the code ABCD-1234.",
                    hint="Show the person the code.",
                )
            return token

    told: list[str] = []
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    env = {"DATAVERSE_AUTH": "device_code", "DATAVERSE_CLIENT_ID": "51f81489-12ee-4a9e-aaae-a2591f45987d"}
    report = await run(
        lambda: Settings.from_env(
            {**ENV, **env, "DESKTOP_FLOWS_CONNECTION": "shared-uiflow-7f3c1a", "HOME": "/nohome"}
        ),
        dataverse_transport=Emulator(tokens={token: DEMO_USER}).transport(),
        token_provider=Person(),
        sleep=sleep,
        tell=told.append,
    )
    assert told == [
        "Sign-in needed: open https://microsoft.com/devicelogin and enter the code ABCD-1234. doctor waits for you "
        "(Ctrl-C stops it)."
    ]
    assert sleeps == [5.0, 5.0]
    sign_in = the(report, "sign-in")
    assert sign_in.status == "ok", report.to_text()
    assert sign_in.summary.startswith("signed in as ada@contoso.com, tenant contoso.onmicrosoft.com; Dataverse user")
