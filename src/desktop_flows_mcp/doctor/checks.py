"""The checks, in the order a newcomer meets the problems; each is a thin question to a service that exists anyway.

    configuration  Settings.from_env and the token provider (as start-up builds them)
    environment    DATAVERSE_URL resolves (DNS) and answers like Dataverse (401 without a token)
    sign-in        a token, whose account and tenant are named; Dataverse accepts it (AccessService.who_am_i)
    privileges     AccessService.check_access: flows, runs, connection references, machines, logs
    allow-list     FlowCatalogue.check_allow_list: each entry one published flow, did-you-mean for the rest
    connection     the default connection: a desktop-flow connection reference or past runs name it
    machines       MachineService.reached_by: the groups and machines its runs went to, and their health
    Redis          shared_state.redis_state.probe (only when DESKTOP_FLOWS_REDIS_URL is set)
    public URL     the checks start-up makes (only when DESKTOP_FLOWS_PUBLIC_URL is set)

Each check gets ``limit`` seconds. A failed check skips the ones that cannot work without it.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import anyio

from ..config import ConfigError, Settings
from ..config.deployment import SharedOptions
from ..errors import DesktopFlowsError
from ..flows import close_names
from .report import CheckResult, DoctorReport, fail, ok, warn

if TYPE_CHECKING:
    import httpx

    from ..app import Services
    from ..auth import TokenProvider
    from ..diagnosis.machines import ConnectionReach
    from ..diagnosis.results import Machine

LIMIT_SECONDS = 10.0
PERSON_WAIT_SECONDS = 900.0  # a device code lives about 15 minutes
PERSON_POLL_SECONDS = 5.0
ORDER = ("configuration", "environment", "sign-in", "privileges", "allow-list", "connection", "machines")
URL_FIX = (
    "Check DATAVERSE_URL (--dataverse-url): copy it from Power Platform admin center > Environments > (yours) > "
    "Environment URL. With a person's sign-in, the list_environments tool lists the environments you can reach."
)
ALLOWED_FIX = (
    "Correct DESKTOP_FLOWS_ALLOWED (--allowed): each entry is a published desktop flow's exact name or its id "
    "(list_desktop_flows shows both)."
)
MACHINE_FIX = (
    "Start the machine and sign in to Power Automate on it (the machine runtime app must say Connected), take it "
    "out of maintenance, or use a connection to another machine or group; list_machines shows every machine."
)
_TIMEOUT_FIX = {
    "environment": "Check DATAVERSE_URL (--dataverse-url), and that this machine may reach it (proxy, firewall, VPN).",
    "sign-in": "Entra ID or Dataverse did not answer in time: check the network to login.microsoftonline.com.",
}


class Doctor:
    def __init__(
        self,
        read_settings: Callable[[], Settings],
        *,
        dataverse_transport: httpx.AsyncBaseTransport | None = None,
        token_provider: TokenProvider | None = None,
        limit: float = LIMIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        word: Callable[[ConfigError], str] = str,
        tell: Callable[[str], None] = lambda text: None,
    ) -> None:
        self._read_settings = read_settings
        self._sleep = sleep
        self._tell = tell  # what the person must do to sign in (the CLI prints it on stderr)
        self._word = word  # a setting's error, naming the flag when a flag set it (cli.worded)
        self._transport = dataverse_transport  # replaces the network (tests); DNS is then not asked
        self._provider = token_provider
        self._limit = limit
        self._clock = clock
        self._settings: Settings | None = None
        self._results: list[CheckResult] = []
        self._connection_id: str | None = None  # the default connection, once found
        self._reach: ConnectionReach | None = None  # where its runs went, when already read

    async def run(self) -> DoctorReport:
        if not await self._check("configuration", self._configuration):
            return self._report("configuration not valid", skipped="the configuration is not valid")
        settings = self._current
        target = "the built-in emulator" if settings.uses_emulator else settings.dataverse_url
        if not await self._check("environment", self._environment):
            await self._shared()
            return self._report(target, skipped="the environment does not answer")
        from ..app import App

        # Redis is checked on its own below: here the services must come up whatever it says.
        without_redis = replace(settings, shared=SharedOptions(cursor_secret=settings.shared.cursor_secret))
        app = App(without_redis, dataverse_transport=self._transport, token_provider=self._provider)
        async with app.running() as services:
            await self._person_signs_in()
            signed_in = await self._check("sign-in", lambda: self._sign_in(services))
            if signed_in and settings.sign_in.mode == "on_behalf_of":
                for name in ("privileges", "allow-list", "connection", "machines"):
                    self._skip(name, "each person's own access, which Dataverse decides when they call")
            elif signed_in:
                await self._check("privileges", lambda: self._privileges(services))
                await self._check("allow-list", lambda: self._allow_list(services))
                if await self._check("connection", lambda: self._connection(services)) and self._connection_id:
                    await self._check("machines", lambda: self._machines(services))
                else:
                    self._skip("machines", "no connection to follow")
        await self._shared()
        return self._report(target, skipped="no sign-in that Dataverse accepts")

    # ---- running checks -------------------------------------------------------------------------------------------

    async def _check(self, name: str, check: Callable[[], Awaitable[CheckResult]]) -> bool:
        """Run one check within the limit; False when it failed."""
        started = self._clock()
        result: CheckResult | None = None
        with anyio.move_on_after(self._limit):
            try:
                result = await check()
            except DesktopFlowsError as error:
                result = fail(error.message, error.hint)
            except ConfigError as error:
                result = fail(
                    self._word(error), "Correct that setting (the README's Configuration section lists them)."
                )
        if result is None:
            result = fail(
                f"no answer within {self._limit:g} s",
                _TIMEOUT_FIX.get(name, "Try again; if it stays slow, check the network to Dataverse."),
            )
        result.check, result.seconds = name, max(0.0, self._clock() - started)
        self._results.append(result)
        return result.status != "fail"

    def _skip(self, name: str, why: str) -> None:
        self._results.append(CheckResult(name, "skip", f"skipped: {why}"))

    def _report(self, target: str, *, skipped: str) -> DoctorReport:
        """The report in check order, each check that could not run marked skipped with why."""
        ran = {result.check: result for result in self._results}
        ordered = [ran.pop(name, None) or CheckResult(name, "skip", f"skipped: {skipped}") for name in ORDER]
        return DoctorReport(target, ordered + list(ran.values()))

    async def _person_signs_in(self) -> None:
        """device_code or interactive with no saved sign-in: tell the person what to do, and wait for them (up to the
        code's life, not the checks' limit), as the server waits through its client. The sign-in check follows."""
        from ..signin import DELEGATED_MODES, SignInRequired

        provider = self._provider
        if provider is None or self._current.sign_in.mode not in DELEGATED_MODES:
            return
        deadline = self._clock() + PERSON_WAIT_SECONDS
        told: str | None = None
        while True:
            try:
                with anyio.fail_after(self._limit):
                    await provider.token()
                return
            except SignInRequired as required:
                if required.message != told:
                    told = required.message
                    self._tell(f"{told} doctor waits for you (Ctrl-C stops it).")
                if self._clock() >= deadline:
                    return
                await self._sleep(PERSON_POLL_SECONDS)
            except (DesktopFlowsError, TimeoutError):
                return  # the sign-in check says why

    # ---- the checks -----------------------------------------------------------------------------------------------

    async def _configuration(self) -> CheckResult:
        from ..app import with_emulator_defaults

        settings = self._read_settings()
        if self._provider is None and not settings.uses_emulator and settings.sign_in.mode != "access_token":
            from ..app import token_provider_for

            self._provider = token_provider_for(settings)  # a certificate that does not open stops here, as at start
        self._settings = settings
        run = with_emulator_defaults(settings).run
        demo = settings.uses_emulator and not settings.run.connection_name
        where = (
            f"the built-in emulator ({settings.sign_in.reason})"
            if settings.uses_emulator
            else f"{settings.dataverse_url}, sign-in {settings.sign_in.mode}"
            + (f" ({settings.sign_in.reason})" if settings.sign_in.reason else "")
        )
        details = [
            "connection: "
            + (f"{run.connection_name} ({run.connection_type}), {run.run_mode}" if run.connection_name else "not set")
            + (" (the emulator's demo connection)" if demo else ""),
            "allow-list: "
            + (f"{len(run.allowed_flows)} entries" if run.allowed_flows else "not set (every published flow may run)")
            + (", a tool per flow" if run.flow_tools else ""),
        ]
        if run.read_only:
            details.append("read-only: no tool starts or cancels runs")
        return ok(where, details)

    async def _environment(self) -> CheckResult:
        import httpx

        settings = self._current
        if settings.uses_emulator:
            return ok("the emulator answers in this process; nothing goes over the network")
        url = settings.dataverse_url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self._transport is None:
            try:
                await anyio.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except OSError as error:
                return fail(f"{host} does not resolve (DNS: {error.strerror or error})", URL_FIX)
        async with httpx.AsyncClient(transport=self._transport, timeout=self._limit, follow_redirects=False) as http:
            try:
                response = await http.get(f"{url}/api/data/v9.2/")
            except httpx.TransportError as error:
                reason = str(error) or type(error).__name__
                return fail(f"{host} does not answer ({reason})", _TIMEOUT_FIX["environment"])
        if response.status_code == 401:
            return ok(f"{host} answers (HTTP 401 without a token, as Dataverse does)")
        if response.status_code == 200:
            return ok(f"{host} answers")
        return fail(f"{host} answered HTTP {response.status_code} at /api/data/v9.2/, as no Dataverse does", URL_FIX)

    async def _sign_in(self, services: Services) -> CheckResult:
        from ..app import token_provider_for

        settings = self._current
        provider = self._provider or token_provider_for(settings)
        check_credential = getattr(provider, "check_credential", None)
        if settings.sign_in.mode == "on_behalf_of" and check_credential is not None:
            await check_credential()  # no person here: the server app's own credential is what can be checked
            app_id = settings.entra.client_id if settings.entra else "?"
            return ok(
                f"Entra ID accepts the server app's credential (app {app_id})",
                ["each caller's token is exchanged for theirs when they call (on_behalf_of)"],
            )
        token = await provider.token()
        account, problem = describe_token(token, settings)
        if problem:
            return fail(f"{account}: {problem}", _token_fix(settings))
        probe, identity = await services.access.who_am_i()
        if not probe.ok:
            fix = _token_fix(settings) if settings.sign_in.mode == "access_token" else probe.fix
            return fail(f"Dataverse refuses {account}: {probe.message}", fix)
        who = identity.name if identity and identity.name else identity.user_id if identity else None
        kind = f", {identity.kind}" if identity and identity.kind else ""
        return ok(f"{account}; Dataverse user {who!r}{kind}")

    async def _privileges(self, services: Services) -> CheckResult:
        report = await services.access.check_access()
        details = [f"{'✔' if probe.ok else '✘'} {probe.what}" for probe in report.probes[1:]]
        missing = [probe for probe in report.probes if not probe.ok]
        if missing:
            first = missing[0]
            return fail(f"{len(missing)} missing: {', '.join(p.check for p in missing)}", first.fix, details)
        return ok("may list flows, read runs, see connection references, machines and run logs", details)

    async def _allow_list(self, services: Services) -> CheckResult:
        entries = self._current.run.allowed_flows
        if not entries:
            return ok("not set: every published desktop flow may run")
        check = await services.catalogue.check_allow_list()
        if check.unmatched:
            details = [item.describe() for item in check.unmatched]
            return fail(f"{len(check.unmatched)} of {len(entries)} entries allow nothing", ALLOWED_FIX, details)
        details = [f"{flow.ref.name} ({flow.ref.id})" for flow in check.flows]
        return ok(f"each of the {len(entries)} entries names one published desktop flow", details)

    async def _connection(self, services: Services) -> CheckResult:
        from ..app import with_emulator_defaults

        run = with_emulator_defaults(self._current).run
        name = run.connection_name
        references = (await services.catalogue.list_connection_references(search=None)).connection_references
        if name is None:
            seen = await services.machines.connections_seen()
            known = sorted({r.connection_id for r in references if r.connection_id} | set(seen))
            return fail(
                "DESKTOP_FLOWS_CONNECTION is not set: every run must name its connection_name",
                "Set DESKTOP_FLOWS_CONNECTION (--connection) to the desktop flow connection runs should use"
                + (f"; runs here have used {', '.join(known[:5])}" if known else "")
                + ".",
            )
        if run.connection_type == "connection_reference":
            found = next((r for r in references if r.logical_name.lower() == name.lower()), None)
            if found is None:
                close = close_names(name, [r.logical_name for r in references])[:1]
                return fail(
                    f"no desktop flow connection reference is named {name!r}" + _did_you_mean(close),
                    "Set DESKTOP_FLOWS_CONNECTION to the logical name of a connection reference "
                    "(list_connection_references lists them).",
                )
            if found.connection_id is None:
                return fail(
                    f"connection reference {name!r} is bound to no connection",
                    "Bind it to a desktop flow connection in its solution (Power Apps > Solutions > Connection "
                    "references), or use another.",
                )
            self._connection_id = found.connection_id
            return ok(f"connection reference {name!r} → connection {found.connection_id} (desktop flows connector)")
        bound = [r.logical_name for r in references if (r.connection_id or "").lower() == name.lower()]
        reach = await services.machines.reached_by(name)
        if bound or reach.runs_seen:
            evidence = [f"connection reference {', '.join(bound)}"] if bound else []
            if reach.runs_seen:
                when = f", the last on {reach.last_run:%Y-%m-%d %H:%M} UTC" if reach.last_run else ""
                evidence.append(f"{reach.runs_seen} recent run{'s' if reach.runs_seen != 1 else ''}{when}")
            self._connection_id, self._reach = name, reach
            return ok(f"{name} is a desktop flow connection ({'; '.join(evidence)})")
        seen = await services.machines.connections_seen()
        close = close_names(name, sorted({r.connection_id for r in references if r.connection_id} | set(seen)))[:1]
        if close:
            return fail(
                f"no connection reference or run uses {name!r}" + _did_you_mean(close),
                "Correct DESKTOP_FLOWS_CONNECTION (--connection): the connection's name is the last part of its "
                "URL in Power Automate > Data > Connections.",
            )
        return warn(
            f"{name} cannot be confirmed: connections are not Dataverse rows, and no connection reference or run "
            "uses it yet",
            "If the first run answers invalid_argument about the connection, correct DESKTOP_FLOWS_CONNECTION.",
        )

    async def _machines(self, services: Services) -> CheckResult:
        assert self._connection_id is not None
        reach = self._reach or await services.machines.reached_by(self._connection_id)
        if not reach.runs_seen:
            return warn(
                "no run has gone through this connection yet, so the machines it reaches are not known (Dataverse "
                "links a connection to its machine only through runs)"
            )
        details: list[str] = []
        unusable: list[str] = []
        online_count = 0
        for group, machines in reach.groups:
            online = [m for m in machines if m.health == "online"]
            online_count += len(online)
            details.append(f"group {group.name}: {len(online)} of {len(machines)} machines online")
            details += [f"  {_machine_line(m)}" for m in machines]
            if not online:
                unusable.append(f"group {group.name}")
        for machine in reach.machines:
            details.append(f"machine {_machine_line(machine)}")
            online_count += machine.health == "online"
            if machine.health != "online":
                unusable.append(f"{machine.name} ({machine.health}: {machine.health_reason})")
        if unusable:
            return fail(f"no machine online on {', '.join(unusable)}: runs there will wait", MACHINE_FIX, details)
        targets = len(reach.groups) + len(reach.machines)
        return ok(f"{targets} target{'s' if targets != 1 else ''}, {online_count} machines online", details)

    async def _shared(self) -> None:
        settings = self._current
        if settings.shared.redis_url is not None:
            await self._check("Redis", self._redis)
        if settings.public_url:
            await self._check("public URL", self._public_url)

    async def _redis(self) -> CheckResult:
        shared = self._current.shared
        assert shared.redis_url is not None
        try:
            from ..shared_state.redis_state import probe
        except ImportError:
            return fail("the Redis client is not installed", "pip install 'desktop-flows-mcp[redis]'")
        problem = await probe(shared.redis_url.reveal())
        if problem is not None:
            return fail(
                f"{shared.redis_display} is unreachable ({problem})",
                "Check DESKTOP_FLOWS_REDIS_URL (--redis-url): host, port, password, rediss:// for TLS.",
            )
        return ok(f"{shared.redis_display} answers")

    async def _public_url(self) -> CheckResult:
        return ok(
            f"{self._current.public_url}: https on a public DNS name, as Dataverse requires",
            ["Dataverse must reach it from Azure (the AzureCloud IP ranges): that cannot be tested from here."],
        )

    @property
    def _current(self) -> Settings:
        assert self._settings is not None
        return self._settings


def _did_you_mean(names: list[str]) -> str:
    return ("; did you mean " + " or ".join(repr(n) for n in names) + "?") if names else ""


def _machine_line(machine: Machine) -> str:
    return f"{machine.name}: {machine.health} ({machine.health_reason})"


def describe_token(token: str, settings: Settings) -> tuple[str, str | None]:
    """Who a token is for, from its claims (never the token), and what is wrong with it if something visibly is."""
    if settings.uses_emulator:
        return "the emulator's demo token", None
    claims = jwt_claims(token)
    if claims is None:
        return "an opaque token (not a JWT, so no account to show)", None
    person = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    app = claims.get("app_displayname") or claims.get("appid") or claims.get("azp")
    who = f"signed in as {person}" if person else f"signed in as app {app}" if app else "signed in"
    if claims.get("tid"):
        who += f", tenant {claims['tid']}"
    expires = claims.get("exp")
    if isinstance(expires, int | float) and expires < time.time():
        ended = datetime.fromtimestamp(expires, UTC)
        return who, f"the token expired at {ended:%Y-%m-%d %H:%M} UTC"
    audience = claims.get("aud")
    other = isinstance(audience, str) and urlsplit(audience).hostname != urlsplit(settings.dataverse_url).hostname
    if isinstance(audience, str) and audience.startswith("https://") and other:
        return who, f"the token is for {audience.rstrip('/')}, not {settings.dataverse_url}"
    return who, None


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, unverified (only to name the account); None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    return cast(dict[str, Any], payload) if isinstance(payload, dict) else None


def _token_fix(settings: Settings) -> str:
    if settings.sign_in.mode == "access_token":
        return (
            f"Get a new token for {settings.dataverse_url} (for example az account get-access-token --resource "
            f"{settings.dataverse_url}) and set DATAVERSE_ACCESS_TOKEN, or use a sign-in mode that renews tokens."
        )
    return f"Sign in to the tenant of {settings.dataverse_url}, or check DATAVERSE_URL."
