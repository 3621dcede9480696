"""Settings, read once from the environment and the command line, and checked before anything starts.

``Settings.from_env`` is pure: it takes a mapping (``os.environ`` in production, a dict in tests) plus the
command-line overrides, and raises one ``ConfigError`` that names the variable and shows a valid example.
Nothing else in the package reads ``os.environ``. It imports only the core (``models`` for the run enums on the
wire, ``errors``), never a service.

    settings.py     Settings and from_env: the order in which everything below is read
    values.py       EnvReader (flags, then the environment; parsing and checks), ConfigError, Secret
    sign_in.py      DATAVERSE_AUTH and each mode's credentials: SignIn
    run_options.py  DESKTOP_FLOWS_* for runs: connection, run mode, allow-list, per-flow tools
    approval.py     DESKTOP_FLOWS_APPROVAL(_ATTENDED): which starts and cancels a person must approve
    urls.py         the Dataverse URL and the public URL normalised; loopback hosts
    callback_urls.py  the public-host rules a callback URL must meet (the public URL, a run's callback_url)
    deployment.py   the public URL, Redis and the cursor key (SharedOptions), the HTTP transport (HttpSettings)
"""

from ..models import ConnectionType, RunMode
from .deployment import HttpSettings
from .settings import EMULATOR_URL, Settings
from .values import ConfigError, Secret

__all__ = ["EMULATOR_URL", "ConfigError", "ConnectionType", "HttpSettings", "RunMode", "Secret", "Settings"]
