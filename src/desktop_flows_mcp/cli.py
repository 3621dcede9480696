"""Command line: ``desktop-flows-mcp [flags]`` serves MCP on stdio; ``desktop-flows-mcp emulator`` serves the
Dataverse emulator alone over HTTP. Flags mirror the environment variables and win over them.

Only wiring lives here; stdout belongs to the MCP protocol, so everything this prints goes to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, cast

from . import __version__
from .config import ConfigError, HttpSettings, Settings
from .logs import configure_logging

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from .app import App
    from .auth import TokenProvider
    from .telemetry import Telemetry

# flag → the environment variable it sets. A flag wins over its variable, and both are read by the one reader in
# config (config.values.EnvReader), so a flag takes exactly what its variable takes.
_FLAGS: dict[str, str] = {
    "dataverse_url": "DATAVERSE_URL",
    "auth": "DATAVERSE_AUTH",
    "access_token": "DATAVERSE_ACCESS_TOKEN",
    "tenant_id": "DATAVERSE_TENANT_ID",
    "client_id": "DATAVERSE_CLIENT_ID",
    "client_secret": "DATAVERSE_CLIENT_SECRET",
    "client_certificate": "DATAVERSE_CLIENT_CERTIFICATE",
    "client_certificate_password": "DATAVERSE_CLIENT_CERTIFICATE_PASSWORD",
    "managed_identity_client_id": "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",
    "username": "DATAVERSE_USERNAME",
    "authority_host": "DATAVERSE_AUTHORITY_HOST",
    "token_cache_dir": "DATAVERSE_TOKEN_CACHE_DIR",
    "connection": "DESKTOP_FLOWS_CONNECTION",
    "connection_type": "DESKTOP_FLOWS_CONNECTION_TYPE",
    "run_mode": "DESKTOP_FLOWS_RUN_MODE",
    "allowed": "DESKTOP_FLOWS_ALLOWED",
    "approval": "DESKTOP_FLOWS_APPROVAL",
    "poll_seconds": "DESKTOP_FLOWS_POLL_SECONDS",
    "public_url": "DESKTOP_FLOWS_PUBLIC_URL",
    "redis_url": "DESKTOP_FLOWS_REDIS_URL",
    "http_auth": "DESKTOP_FLOWS_HTTP_AUTH",
}
# Switches: bare, they mean true; --read-only=no takes any value the variable takes (true/false, yes/no, 1/0, on/off).
_SWITCHES: dict[str, str] = {
    "emulator": "DESKTOP_FLOWS_EMULATOR",
    "read_only": "DESKTOP_FLOWS_READ_ONLY",
    "flow_tools": "DESKTOP_FLOWS_FLOW_TOOLS",
    "approval_attended": "DESKTOP_FLOWS_APPROVAL_ATTENDED",
    "token_cache_plaintext": "DATAVERSE_TOKEN_CACHE_PLAINTEXT",
}
# The Streamable HTTP transport's flags (read only with --transport streamable-http).
_HTTP_FLAGS: dict[str, str] = {
    "host": "DESKTOP_FLOWS_HOST",
    "port": "DESKTOP_FLOWS_PORT",
    "http_token": "DESKTOP_FLOWS_HTTP_TOKEN",
    "http_max_sessions": "DESKTOP_FLOWS_HTTP_MAX_SESSIONS",
    "drain_seconds": "DESKTOP_FLOWS_DRAIN_SECONDS",
}
_HELP = "desktop-flows-mcp --help lists every flag"


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (with the closest flag or command) and exit code 2, not the usage."""

    def parse_known_args(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv, values = _switch_values(list(sys.argv[1:] if args is None else args))
        parsed, rest = super().parse_known_args(argv, namespace or argparse.Namespace())
        for dest, value in values.items():
            setattr(parsed, dest, value)
        return parsed, rest

    def error(self, message: str) -> NoReturn:
        print(f"desktop-flows-mcp: {_explain(message, self)}", file=sys.stderr)
        raise SystemExit(2)


def _switch_values(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``--read-only=no`` → ``--read-only`` plus the value, which its variable's reader then judges."""
    out: list[str] = []
    values: dict[str, str] = {}
    for index, arg in enumerate(argv):
        if arg == "--":
            out += argv[index:]
            break
        name, equals, value = arg.partition("=")
        dest = name[2:].replace("-", "_") if name.startswith("--") else ""
        if equals and dest in _SWITCHES:
            out.append(name)
            values[dest] = value
        else:
            out.append(arg)
    return out, values


def _explain(message: str, parser: argparse.ArgumentParser) -> str:
    """argparse's complaint in one line; an unknown flag or command gets the closest real one."""
    options = sorted(_option_strings(parser))
    if message.startswith("unrecognized arguments: "):
        typed = next((arg for arg in message.split(": ", 1)[1].split() if arg.startswith("-")), None)
        if typed is not None:
            name = typed.split("=", 1)[0]
            close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"unknown flag {name}{hint} ({_HELP})"
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        choices = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), choices, n=1, cutoff=0.6)
        if close:
            return f"{message}; did you mean {close[0]!r}?"
    return f"{message} ({_HELP})"


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    found = {option for option in parser._option_string_actions if option.startswith("--")}  # pyright: ignore[reportPrivateUsage]
    for action in parser._actions:  # pyright: ignore[reportPrivateUsage]
        if isinstance(action, argparse._SubParsersAction):  # pyright: ignore[reportPrivateUsage]
            for sub in cast(dict[str, argparse.ArgumentParser], action.choices).values():  # pyright: ignore[reportUnknownMemberType]
                found |= _option_strings(sub)
    return found


def _add_settings_flags(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """The flags that set Settings, on the server and on ``doctor`` (there, with ``default=SUPPRESS``, so a flag
    given before the command is not undone by the command's own default)."""

    def flag(name: str, text: str) -> None:
        parser.add_argument(name, default=default, help=text)

    def switch(name: str, text: str) -> None:
        parser.add_argument(name, action="store_const", const="true", default=default, help=text)

    switch("--emulator", "use the built-in Dataverse emulator (no tenant)")
    flag("--dataverse-url", "environment URL, e.g. https://contoso.crm.dynamics.com")
    flag(
        "--auth",
        "sign-in mode (DATAVERSE_AUTH): client_secret, certificate, device_code, interactive, managed_identity, "
        "access_token; inferred from the credentials when omitted",
    )
    flag("--access-token", "bearer token; prefer DATAVERSE_ACCESS_TOKEN (visible to ps)")
    flag("--tenant-id", "Entra tenant id or domain (DATAVERSE_TENANT_ID)")
    flag("--client-id", "app registration's Application (client) ID (DATAVERSE_CLIENT_ID)")
    flag("--client-secret", "client secret; prefer DATAVERSE_CLIENT_SECRET (visible to ps)")
    flag("--client-certificate", "PEM (key + certificate) or PFX file (DATAVERSE_CLIENT_CERTIFICATE)")
    flag("--client-certificate-password", "PFX or key password; prefer DATAVERSE_CLIENT_CERTIFICATE_PASSWORD")
    flag("--managed-identity-client-id", "user-assigned identity's client id (DATAVERSE_MANAGED_IDENTITY_CLIENT_ID)")
    flag("--username", "device_code/interactive: the person to sign in as, e.g. ada@contoso.com (DATAVERSE_USERNAME)")
    flag("--authority-host", "Entra sign-in host override, e.g. https://login.microsoftonline.us")
    flag("--token-cache-dir", "where a person's sign-in is kept (DATAVERSE_TOKEN_CACHE_DIR)")
    switch("--token-cache-plaintext", "allow an unencrypted token cache file where encryption is unavailable")
    flag("--connection", "default connection name for runs")
    flag("--connection-type", "connection | connection_reference")
    flag("--run-mode", "attended | unattended")
    flag("--allowed", "comma list of flow ids or exact names that may run")
    switch("--read-only", "do not offer run and cancel tools (--read-only=false undoes DESKTOP_FLOWS_READ_ONLY)")
    switch("--flow-tools", "also offer each allowed flow as a typed tool of its own")
    flag("--approval", "none | runs | comma list of flows: a person approves those starts and cancels first")
    switch("--approval-attended", "a person also approves every attended run start")
    flag("--poll-seconds", "first poll interval while waiting for a run (default 2)")
    flag("--redis-url", "replicas behind one address share state here: redis[s]://[:password@]host[:port][/db]")
    flag("--public-url", "streamable-http: https URL where Dataverse reaches this server; runs then report back")
    flag(
        "--http-auth",
        "streamable-http: token (one shared DESKTOP_FLOWS_HTTP_TOKEN) or entra (each person signs in with Entra ID; "
        "DESKTOP_FLOWS_ENTRA_* variables)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="desktop-flows-mcp",
        description="MCP server for Power Automate desktop flows in Dataverse. Without DATAVERSE_URL it serves "
        "the built-in Dataverse emulator with demo data.",
    )
    parser.add_argument("--version", action="version", version=f"desktop-flows-mcp {__version__}")
    _add_settings_flags(parser, default=None)
    parser.add_argument(
        "--transport", choices=["stdio", "streamable-http"], default="stdio", help="how MCP clients connect"
    )
    parser.add_argument("--host", help="streamable-http: address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", help="streamable-http: port (default 8000)")
    parser.add_argument("--http-token", help="streamable-http: bearer token clients must send")
    parser.add_argument(
        "--http-max-sessions", help="streamable-http: most sessions open at once; more get 503 (default 100)"
    )
    parser.add_argument(
        "--drain-seconds",
        help="streamable-http: after SIGTERM, how long calls in flight get to finish (default 20)",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="export OpenTelemetry traces and metrics (also on when OTEL_EXPORTER_OTLP_ENDPOINT or another "
        "standard OTEL_* variable asks; needs the [otel] extra)",
    )
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command")
    emulator = sub.add_parser("emulator", help="serve the Dataverse emulator alone over HTTP")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument("--test-api", action="store_true", help="enable /_emulator/ fault injection and clock")
    doctor = sub.add_parser(
        "doctor",
        help="check the settings, the environment, sign-in, privileges, allow-list, connection and machines",
        description="Check a setup with the server's own settings, in order, each step with ✔/✘, its time and the "
        "fix. Exit code 0 when every check passes, 1 otherwise.",
    )
    _add_settings_flags(doctor, default=argparse.SUPPRESS)
    doctor.add_argument("--json", action="store_true", help="print the report as JSON, for scripts")
    return parser


def _given(args: argparse.Namespace, flags: Mapping[str, str]) -> dict[str, str | bool | None]:
    """Variable → the value its flag was given (None: not given)."""
    return {var: getattr(args, flag, None) for flag, var in flags.items()}


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    return Settings.from_env(env, {**_given(args, _FLAGS), **_given(args, _SWITCHES)})


def typed_flags(args: argparse.Namespace) -> dict[str, str]:
    """Variable → the flag the user typed for it, so an error names what the user typed."""
    every = {**_FLAGS, **_SWITCHES, **_HTTP_FLAGS}
    return {var: "--" + dest.replace("_", "-") for dest, var in every.items() if getattr(args, dest, None) is not None}


def worded(error: ConfigError, args: argparse.Namespace) -> str:
    """The error in one line, naming each setting the way the user gave it: the flag when a flag set it."""
    text = str(error)
    for variable, flag in typed_flags(args).items():
        text = re.sub(rf"\b{re.escape(variable)}\b", flag, text)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    if args.command == "emulator":
        _serve_emulator(args.host, args.port, test_api=args.test_api)
        return
    if args.command == "doctor":
        raise SystemExit(_doctor(args))
    try:
        settings = settings_from(args, os.environ)
        http = None
        if args.transport == "streamable-http":
            shared = {name: _FLAGS[name] for name in ("http_auth", "public_url")}  # also read by Settings
            http = HttpSettings.from_env(os.environ, _given(args, {**_HTTP_FLAGS, **shared}))
        elif settings.entra is not None:
            raise ConfigError(
                "DESKTOP_FLOWS_HTTP_AUTH",
                "entra applies only to --transport streamable-http: a stdio server has one user, who signs in with "
                "DATAVERSE_AUTH; unset it.",
                "entra (with --transport streamable-http)",
            )
        elif settings.public_url:
            raise ConfigError(
                "DESKTOP_FLOWS_PUBLIC_URL",
                "applies only to --transport streamable-http: Dataverse cannot call back a stdio server; unset it.",
                "https://flows-mcp.contoso.com (with --transport streamable-http)",
            )
    except ConfigError as error:
        print(f"desktop-flows-mcp: {worded(error, args)}", file=sys.stderr)
        raise SystemExit(2) from None
    token_provider = _start_up_token_provider(settings)  # first: a bad certificate is the only line printed
    if settings.uses_emulator:
        print(
            f"desktop-flows-mcp: {settings.sign_in.reason}: serving the built-in Dataverse emulator (demo data). "
            "Set DATAVERSE_URL to use a real environment.",
            file=sys.stderr,
        )
        if not settings.run.connection_name:
            print(
                "desktop-flows-mcp: DESKTOP_FLOWS_CONNECTION is not set: runs use the emulator's demo connection.",
                file=sys.stderr,
            )
    else:
        print(
            f"desktop-flows-mcp: Dataverse {settings.dataverse_url}, sign-in {settings.sign_in.mode}"
            + (f" ({settings.sign_in.reason})" if settings.sign_in.reason else "")
            + (", read-only" if settings.run.read_only else ""),
            file=sys.stderr,
        )
    if settings.shared.redis_url is not None:
        _check_redis(settings)
    telemetry = _start_telemetry(args.otel, "pipe" if http is None else "tcp")
    if http is None:
        _serve_stdio(args, settings, token_provider, telemetry)
        return
    app, server = _build(settings, token_provider, telemetry, http)
    import anyio

    from .streamable_http import serve_http

    print(
        f"desktop-flows-mcp: MCP on http://{http.host}:{http.port}/mcp ({_http_auth_line(settings, http)})"
        + (f"; runs report back to {settings.public_url}/callbacks/" if settings.public_url else ""),
        file=sys.stderr,
    )
    anyio.run(serve_http, server, app, http)


def _build(
    settings: Settings, token_provider: TokenProvider | None, telemetry: Telemetry, http: HttpSettings | None
) -> tuple[App, MCPServer[Any]]:
    from .app import App
    from .server import build_server

    app = App(settings, token_provider=token_provider, offer_sign_in_prompts=http is None, telemetry=telemetry)
    # A person's sign-in is not started before their client asks for something; the others check at once.
    check_now = settings.sign_in.mode not in ("device_code", "interactive")
    return app, build_server(app, check_allow_list_at_start=check_now, http=http)


def _serve_stdio(
    args: argparse.Namespace, settings: Settings, token_provider: TokenProvider | None, telemetry: Telemetry
) -> None:
    """Claim stdin/stdout first: while the SDK and the server are imported and built (most of a second), the wire
    answers a client's opening requests from the start-up snapshot when this configuration has one."""
    from .config.sign_in import default_token_cache_dir
    from .handshake import Snapshot
    from .wire import StdioWire

    given = {name: str(value) for name, value in _given(args, {**_FLAGS, **_SWITCHES}).items() if value is not None}
    cache = default_token_cache_dir(os.environ, sys.platform)
    snapshot = Snapshot.load(cache and f"{cache}/start-up", {**os.environ, **given}, flow_tools=settings.run.flow_tools)
    with StdioWire.claimed(snapshot) as wire:
        _, server = _build(settings, token_provider, telemetry, None)
        import anyio

        from .stdio import serve_stdio

        try:
            anyio.run(partial(serve_stdio, server, wire=wire))
        except KeyboardInterrupt:  # Windows, where Ctrl-C is not a signal the loop can take
            raise SystemExit(130) from None


def _http_auth_line(settings: Settings, http: HttpSettings) -> str:
    """Who may call, for the start-up line; a shared token says that every caller is one Dataverse identity."""
    entra = settings.entra
    if entra is not None:
        line = (
            f"Entra ID sign-in required: tenant {entra.tenant_id}, resource {entra.app_id_uri}; each caller acts as "
            "themselves"
        )
        if settings.uses_emulator:  # the emulator's Entra (emulator/demo_tenant.py) signs its people in here
            line += (
                f"; demo sign-in: POST http://{http.host}:{http.port}/{entra.tenant_id}/oauth2/v2.0/token with "
                f"grant_type=password, username=alice@contoso.example or bob@contoso.example, password=demo, "
                f"scope={entra.app_id_uri}/Flows.Run"
            )
        return line
    if http.token is not None:
        return (
            f"bearer token required; warning: everyone with the token shares one Dataverse identity "
            f"({settings.sign_in.mode}), see the README's Deploy for a team"
        )
    return "loopback only, no token"


def _doctor(args: argparse.Namespace) -> int:
    """``desktop-flows-mcp doctor``: the report on stdout (text or JSON); 0 when every check passed, else 1."""
    import anyio

    from .doctor import Doctor

    doctor = Doctor(
        lambda: settings_from(args, os.environ),
        word=lambda error: worded(error, args),
        tell=lambda text: print(f"desktop-flows-mcp: {text}", file=sys.stderr, flush=True),
    )
    report = anyio.run(doctor.run)
    if hasattr(sys.stdout, "reconfigure"):
        cast(Any, sys.stdout).reconfigure(errors="replace")  # ✔ and ✘ on a console that cannot show them
    print(report.to_json() if args.json else report.to_text())
    return report.exit_code


def _check_redis(settings: Settings) -> None:
    """Redis configured but missing or unreachable: refuse to start, in one line (the URL is never shown)."""
    assert settings.shared.redis_url is not None
    where = settings.shared.redis_display
    try:
        from .shared_state.redis_state import probe
    except ImportError:
        print(
            "desktop-flows-mcp: DESKTOP_FLOWS_REDIS_URL is set, but the Redis client is not installed: "
            "pip install 'desktop-flows-mcp[redis]'",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    import anyio

    problem = anyio.run(probe, settings.shared.redis_url.reveal())
    if problem is not None:
        print(f"desktop-flows-mcp: Redis at {where} is unreachable ({problem}); not starting.", file=sys.stderr)
        raise SystemExit(2)
    print(
        f"desktop-flows-mcp: replicas share idempotency keys and run limits through Redis at {where}", file=sys.stderr
    )


def _start_telemetry(flag: bool, transport: str) -> Telemetry:
    """OpenTelemetry when ``--otel`` or the standard variables ask for it; otherwise nothing of it is imported."""
    from .telemetry import NO_TELEMETRY, otel_wanted

    if not otel_wanted(os.environ, flag):
        return NO_TELEMETRY
    try:
        from .telemetry.otel import start_telemetry
    except ImportError:
        print(
            "desktop-flows-mcp: OpenTelemetry is asked for (--otel or OTEL_* variables), but it is not installed: "
            "pip install 'desktop-flows-mcp[otel]'",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    try:
        telemetry = start_telemetry(os.environ, transport=transport)
    except ConfigError as error:
        print(f"desktop-flows-mcp: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(
        "desktop-flows-mcp: OpenTelemetry on: traces "
        + (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp")
        + ", metrics "
        + (os.environ.get("OTEL_METRICS_EXPORTER") or "otlp"),
        file=sys.stderr,
    )
    return telemetry


def _start_up_token_provider(settings: Settings) -> TokenProvider | None:
    """Build the msal provider now, so a bad certificate or cache setting stops start-up with its variable."""
    if settings.uses_emulator or settings.sign_in.mode == "access_token":
        return None
    from .app import token_provider_for

    try:
        return token_provider_for(settings)
    except ConfigError as error:
        print(f"desktop-flows-mcp: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve_emulator(host: str, port: int, *, test_api: bool) -> None:
    import anyio

    from .emulator import EMULATOR_TOKEN, serve

    def ready(url: str) -> None:
        print(
            f"Dataverse emulator at {url}  (DATAVERSE_URL={url} DATAVERSE_ACCESS_TOKEN={EMULATOR_TOKEN})",
            file=sys.stderr,
        )
        sys.stderr.flush()

    anyio.run(lambda: serve(host, port, test_api=test_api, ready=ready))
