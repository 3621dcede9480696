"""check_access and list_environments: what this server signs in as, and what that identity may do.

``check_access`` is what a person (or agent) calls when something fails. It never raises for a Dataverse
refusal: each probe reports ok, or the error category with the fix an administrator has to make. It raises only
when no token can be had at all, because that error (the device code, the AADSTS fix) is the answer.

    probe                         request                                          privilege it needs
    who_am_i                      GET WhoAmI                                       a Dataverse user / application user
    list_desktop_flows            GET workflows (category 6, one row)             Read on Process (workflow)
    read_run_history              GET flowsessions (one row)                       Read on Flow Session
    list_connection_references    GET connectionreferences (one row)               Read on Connection Reference
    list_machines                 GET flowmachines (one row)                       Read on Flow Machine (+ Group)
    read_run_logs                 GET flowlogs (one row)                           Read on Flow Log
The last two only deepen diagnose_desktop_flow_run and list_machines: without them the rest still works.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .errors import (
    LOGS_PRIVILEGE,
    MACHINES_PRIVILEGE,
    DesktopFlowsError,
    ErrorCode,
    SignInContext,
    application_user_hint,
)
from .models import ToolResult
from .models.identity import DiscoveredEnvironment, SystemUser, WhoAmI
from .signin.clouds import cloud_for

if TYPE_CHECKING:
    import httpx

    from .auth import TokenProvider
    from .config import Settings
    from .dataverse.client import DataverseClient
    from .dataverse.discovery import EnvironmentDiscovery

ProbeName = Literal[
    "who_am_i", "list_desktop_flows", "read_run_history", "list_connection_references", "list_machines", "read_run_logs"
]
_DIAGNOSIS_PROBES = ("list_machines", "read_run_logs")

_ROLE_PATH = (
    "Power Platform admin center > Environments > (this environment) > Settings > Users + permissions > "
    "{where} > (this identity) > Manage security roles"
)
_PRIVILEGE_FIX: dict[ProbeName, str] = {
    "who_am_i": (
        "Dataverse knows this identity but refuses it: it is disabled or has no security role. Assign a security "
        "role at " + _ROLE_PATH + "."
    ),
    "list_desktop_flows": (
        "Give this identity a security role with Read on the Process (workflow) table, e.g. Environment Maker or a "
        "custom role with prvReadWorkflow at Business Unit or Organization depth, at " + _ROLE_PATH + "."
    ),
    "read_run_history": (
        "Give this identity Read on the Flow Session table (prvReadflowsession); to see runs other identities "
        "started it needs Business Unit or Organization depth. Assign the role at " + _ROLE_PATH + "."
    ),
    "list_connection_references": (
        "Give this identity Read on the Connection Reference table (prvReadconnectionreference), e.g. Environment "
        "Maker or a custom role, at " + _ROLE_PATH + "."
    ),
    "list_machines": f"Give this identity {MACHINES_PRIVILEGE}, at {_ROLE_PATH}.",
    "read_run_logs": f"Give this identity {LOGS_PRIVILEGE}, at {_ROLE_PATH}.",
}


class Identity(BaseModel):
    user_id: str | None = Field(default=None, description="systemuserid (WhoAmI).")
    business_unit_id: str | None = None
    organization_id: str | None = None
    name: str | None = None
    kind: Literal["application", "person"] | None = Field(
        default=None, description="application: an application user (app sign-in)."
    )


class AccessProbe(BaseModel):
    check: ProbeName
    what: str
    ok: bool
    error_code: str | None = None
    http_status: int | None = None
    dataverse_code: str | None = None
    message: str | None = None
    fix: str | None = Field(default=None, description="What an administrator must change.")


class AccessReport(ToolResult):
    environment_url: str
    auth_mode: str = Field(description="The sign-in mode (DATAVERSE_AUTH).")
    cloud: str
    identity: Identity | None = Field(default=None, description="Who Dataverse says the caller is.")
    probes: list[AccessProbe]
    all_ok: bool
    next_step: str


class DataverseEnvironment(BaseModel):
    url: str = Field(description="Use it as DATAVERSE_URL.")
    api_url: str | None = None
    name: str | None = None
    unique_name: str | None = None
    environment_id: str | None = None
    region: str | None = None
    state: Literal["enabled", "disabled"] | None = None
    version: str | None = None
    is_current: bool = Field(description="True for the one in use.")


class EnvironmentList(ToolResult):
    environments: list[DataverseEnvironment]
    current_url: str
    source: Literal["global_discovery", "configured"] = Field(
        description="global_discovery: every environment the person can reach; configured: DATAVERSE_URL only."
    )
    note: str | None = None


class AccessService:
    def __init__(
        self,
        client: DataverseClient,
        *,
        environment_url: str,
        context: SignInContext,
        cloud: str,
        discovery: EnvironmentDiscovery | None,
    ) -> None:
        self._client = client
        self._url = environment_url
        self._context = context
        self._cloud = cloud
        self._discovery = discovery

    async def who_am_i(self) -> tuple[AccessProbe, Identity | None]:
        """The first probe alone: does Dataverse accept this identity, and who does it say the caller is."""
        answer: dict[str, Any] = {}

        async def read_identity() -> None:
            answer.update(await self._client.who_am_i())

        probe = await self._probe("who_am_i", "Dataverse accepts this identity (WhoAmI)", read_identity)
        return probe, (await self._identity(answer) if probe.ok else None)

    async def check_access(self) -> AccessReport:
        first, identity = await self.who_am_i()
        probes = [first]
        if probes[0].error_code != ErrorCode.UNAUTHENTICATED.value:  # after a 401 every request fails the same way
            probes += [
                await self._probe(
                    "list_desktop_flows",
                    "List desktop flows (workflows, category 6)",
                    lambda: self._client.list_desktop_flows(
                        search=None, include_drafts=False, page_size=1, next_link=None
                    ),
                ),
                await self._probe(
                    "read_run_history",
                    "Read desktop flow run history (flowsessions)",
                    lambda: self._client.list_flow_sessions(
                        flow_id=None, status_code=None, page_size=1, next_link=None
                    ),
                ),
                await self._probe(
                    "list_connection_references",
                    "See desktop flow connection references (connectionreferences)",
                    lambda: self._client.list_connection_references(search=None, limit=1),
                ),
                await self._probe(
                    "list_machines",
                    "See machines and machine groups (flowmachines)",
                    lambda: self._client.list_machines(search=None, page_size=1, next_link=None),
                ),
                await self._probe("read_run_logs", "Read run action logs (flowlogs)", self._client.peek_action_logs),
            ]
        failed = next((probe for probe in probes if not probe.ok and probe.check not in _DIAGNOSIS_PROBES), None)
        partial = next((probe for probe in probes if not probe.ok), None)
        return AccessReport(
            environment_url=self._url,
            auth_mode=self._context.mode,
            cloud=self._cloud,
            identity=identity,
            probes=probes,
            all_ok=partial is None,
            next_step=(
                f"Fix '{failed.check}' first: {failed.fix} Then call check_access again."
                if failed is not None
                else "This identity can list desktop flows, read their runs and see connection references. Running a "
                "flow also needs a connection the identity may use. Next: list_desktop_flows."
                + (f" Run diagnosis will be partial until: {partial.fix}" if partial is not None else "")
            ),
        )

    async def _probe(self, check: ProbeName, what: str, action: Callable[[], Awaitable[object]]) -> AccessProbe:
        try:
            await action()
        except DesktopFlowsError as error:
            if error.code is ErrorCode.UNAUTHENTICATED and error.http_status is None:
                raise  # no token at all: the error itself (device code, AADSTS fix) is the answer
            return AccessProbe(
                check=check,
                what=what,
                ok=False,
                error_code=error.code.value,
                http_status=error.http_status,
                dataverse_code=error.dataverse_code,
                message=error.message,
                fix=self._fix(check, error),
            )
        return AccessProbe(check=check, what=what, ok=True)

    def _fix(self, check: ProbeName, error: DesktopFlowsError) -> str | None:
        if error.code is ErrorCode.UNAUTHENTICATED:
            return application_user_hint(self._context)
        if error.code is ErrorCode.PERMISSION_DENIED:
            where = "Application users" if self._context.mode in _APP_MODES else "Users"
            return _PRIVILEGE_FIX[check].format(where=where)
        return error.hint

    async def _identity(self, who_am_i: dict[str, Any]) -> Identity:
        me = WhoAmI.from_row(who_am_i)
        user_id = me.user_id
        identity = Identity(user_id=user_id, business_unit_id=me.business_unit_id, organization_id=me.organization_id)
        if user_id is None:
            return identity
        try:
            user = await self._client.get_system_user(user_id)
        except DesktopFlowsError:
            return identity  # the name is a courtesy; WhoAmI already answered who it is
        person = SystemUser.from_row(user)
        identity.name = person.name
        identity.kind = "application" if person.is_application else "person"
        return identity

    async def list_environments(self) -> EnvironmentList:
        if self._discovery is None:
            return EnvironmentList(
                environments=[DataverseEnvironment(url=self._url, is_current=True)],
                current_url=self._url,
                source="configured",
                note=f"Sign-in mode {self._context.mode} is not a person, and the Global Discovery Service lists only "
                "a signed-in person's environments, so this is the configured DATAVERSE_URL alone. To browse "
                "environments, sign in with DATAVERSE_AUTH=device_code or interactive.",
            )
        rows = await self._discovery.instances()
        environments = sorted(
            (self._environment(row) for row in rows),
            key=lambda env: (not env.is_current, (env.name or env.url).lower()),
        )
        return EnvironmentList(
            environments=environments,
            current_url=self._url,
            source="global_discovery",
            note=None
            if environments
            else "The person can reach no Dataverse environment: they need a user with a security role in one.",
        )

    def _environment(self, row: dict[str, Any]) -> DataverseEnvironment:
        found = DiscoveredEnvironment.from_row(row)
        is_current = self._url.lower() in (found.url.lower(), (found.api_url or "").lower())
        return DataverseEnvironment(**asdict(found), is_current=is_current)


_APP_MODES = ("client_secret", "certificate", "managed_identity")


def build_access_service(
    settings: Settings, http: httpx.AsyncClient, client: DataverseClient, provider: TokenProvider
) -> AccessService:
    """The seam that picks discovery: the person's GDS, the emulator's own endpoint, or none (app sign-in)."""
    from .dataverse.discovery import GlobalDiscovery
    from .signin import DelegatedTokenProvider, sign_in_context

    cloud = cloud_for(settings.dataverse_url, settings.sign_in.authority_host)
    discovery: EnvironmentDiscovery | None = None
    if settings.uses_emulator:
        # The emulator answers the discovery path itself, with the same demo token.
        discovery = GlobalDiscovery(http, settings.dataverse_url, provider.token)
    elif isinstance(provider, DelegatedTokenProvider):
        delegated = provider

        async def discovery_token() -> str:
            return await delegated.token_for_resource(cloud.discovery_url)

        discovery = GlobalDiscovery(http, cloud.discovery_url, discovery_token)
    return AccessService(
        client,
        environment_url=settings.dataverse_url,
        context=sign_in_context(settings),
        cloud="emulator" if settings.uses_emulator else cloud.name,
        discovery=discovery,
    )
