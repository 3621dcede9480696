"""Which Microsoft cloud a Dataverse environment lives in, read from its host name.

Each cloud has its own Entra ID sign-in host (the authority) and its own Global Discovery Service. A token
from the wrong cloud is refused, so both follow the environment URL; ``DATAVERSE_AUTHORITY_HOST`` overrides
the sign-in host for clouds or proxies this table does not know.

    host ends with         cloud       authority host                            Global Discovery (https://globaldisco.…)
    .crm9.dynamics.com     gcc         https://login.microsoftonline.com         crm9.dynamics.com
    .dynamics.com          commercial  https://login.microsoftonline.com         crm.dynamics.com
    .microsoftdynamics.us  gcc_high    https://login.microsoftonline.us          crm.microsoftdynamics.us
    .appsplatform.us       dod         https://login.microsoftonline.us          crm.appsplatform.us
    .dynamics.cn           china       https://login.partner.microsoftonline.cn  crm.dynamics.cn

Anything else (a loopback test server, the emulator) is treated as commercial. China's sign-in host is the one
Microsoft documents today; msal marks the older ``login.chinacloudapi.cn`` as deprecated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

CloudName = Literal["commercial", "gcc", "gcc_high", "dod", "china"]


@dataclass(frozen=True)
class Cloud:
    name: CloudName
    authority_host: str  # scheme and host, no trailing slash
    discovery_url: str  # Global Discovery Service base URL, no trailing slash


_COMMERCIAL = Cloud("commercial", "https://login.microsoftonline.com", "https://globaldisco.crm.dynamics.com")
# Order matters: the GCC suffix is also a commercial suffix.
_BY_SUFFIX: tuple[tuple[str, Cloud], ...] = (
    (".crm9.dynamics.com", Cloud("gcc", "https://login.microsoftonline.com", "https://globaldisco.crm9.dynamics.com")),
    (".dynamics.com", _COMMERCIAL),
    (
        ".microsoftdynamics.us",
        Cloud("gcc_high", "https://login.microsoftonline.us", "https://globaldisco.crm.microsoftdynamics.us"),
    ),
    (".appsplatform.us", Cloud("dod", "https://login.microsoftonline.us", "https://globaldisco.crm.appsplatform.us")),
    (
        ".dynamics.cn",
        Cloud("china", "https://login.partner.microsoftonline.cn", "https://globaldisco.crm.dynamics.cn"),
    ),
)


def cloud_for(dataverse_url: str, authority_host: str | None = None) -> Cloud:
    """The cloud of ``dataverse_url``; ``authority_host`` (already normalised) replaces its sign-in host."""
    host = (urlsplit(dataverse_url).hostname or "").lower()
    cloud = next((cloud for suffix, cloud in _BY_SUFFIX if host.endswith(suffix)), _COMMERCIAL)
    return replace(cloud, authority_host=authority_host) if authority_host else cloud
