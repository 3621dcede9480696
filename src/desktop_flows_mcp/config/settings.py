"""``Settings``: everything the server needs, read once from the environment and the command line."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from .deployment import SharedOptions, check_public_url_reachable, read_public_url, read_shared_options
from .entra import EntraSettings, read_entra, read_http_auth
from .run_options import RunOptions, read_run_options
from .sign_in import CREDENTIAL_VARIABLES, SignIn, read_authority_host, read_sign_in
from .urls import EXAMPLE_URL, normalise_dataverse_url
from .values import ConfigError, EnvReader

EMULATOR_URL = "http://emulator.local"


@dataclass(frozen=True)
class Settings:
    dataverse_url: str
    sign_in: SignIn
    run: RunOptions = field(default_factory=RunOptions)
    public_url: str | None = None  # where Dataverse reaches this deployment: runs then report back to it
    shared: SharedOptions = field(default_factory=SharedOptions)
    entra: EntraSettings | None = None  # DESKTOP_FLOWS_HTTP_AUTH=entra: HTTP callers sign in with Entra ID

    @property
    def uses_emulator(self) -> bool:
        return self.sign_in.mode == "emulator"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        overrides: Mapping[str, str | bool | None] | None = None,
        *,
        platform: str = sys.platform,
    ) -> Settings:
        """Build settings from ``env``; ``overrides`` (command-line flags, by variable name) win."""
        values = EnvReader(env, overrides or {})
        use_emulator = values.flag("DESKTOP_FLOWS_EMULATOR")
        url = values.get("DATAVERSE_URL")
        reason = ""  # why the emulator serves, when it does (the start-up line says it)
        if use_emulator:
            reason = "--emulator was given"
        elif url is None:
            configured = [name for name in ("DATAVERSE_AUTH", *CREDENTIAL_VARIABLES) if values.get(name)]
            if configured:
                raise ConfigError(
                    "DATAVERSE_URL",
                    f"is not set, but {', '.join(configured)} is; say which environment to use.",
                    EXAMPLE_URL,
                )
            use_emulator = True
            reason = "DATAVERSE_URL is not set"

        options = read_run_options(values)
        shared = read_shared_options(values, env, platform)
        public_url = read_public_url(values)
        entra = None
        if read_http_auth(values) == "entra":
            entra = read_entra(values, emulator=use_emulator, authority_host=read_authority_host(values))
        if use_emulator:
            return cls(EMULATOR_URL, SignIn(mode="emulator", reason=reason), options, public_url, shared, entra)

        assert url is not None
        dataverse_url = normalise_dataverse_url(url)
        check_public_url_reachable(public_url, dataverse_url)
        sign_in = read_sign_in(values, dataverse_url, env, platform, entra=entra is not None)
        return cls(dataverse_url, sign_in, options, public_url, shared, entra)
