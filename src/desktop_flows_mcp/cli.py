"""Command line: ``desktop-flows-mcp [flags]`` serves MCP on stdio; ``desktop-flows-mcp emulator`` serves the
Dataverse emulator alone over HTTP. Flags mirror the environment variables and win over them.

Only wiring lives here; stdout belongs to the MCP protocol, so everything this prints goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import __version__
from .config import ConfigError, HttpSettings, Settings
from .logs import configure_logging

if TYPE_CHECKING:
    from .auth import TokenProvider

# flag → environment variable it overrides
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
    "poll_seconds": "DESKTOP_FLOWS_POLL_SECONDS",
    "public_url": "DESKTOP_FLOWS_PUBLIC_URL",
    "redis_url": "DESKTOP_FLOWS_REDIS_URL",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-flows-mcp",
        description="MCP server for Power Automate desktop flows in Dataverse. Without DATAVERSE_URL it serves "
        "the built-in Dataverse emulator with demo data.",
    )
    parser.add_argument("--version", action="version", version=f"desktop-flows-mcp {__version__}")
    parser.add_argument("--emulator", action="store_true", help="use the built-in Dataverse emulator (no tenant)")
    parser.add_argument("--dataverse-url", help="environment URL, e.g. https://contoso.crm.dynamics.com")
    parser.add_argument(
        "--auth",
        help="sign-in mode (DATAVERSE_AUTH): client_secret, certificate, device_code, interactive, managed_identity, "
        "access_token; inferred from the credentials when omitted",
    )
    parser.add_argument("--access-token", help="bearer token; prefer DATAVERSE_ACCESS_TOKEN (visible to ps)")
    parser.add_argument("--tenant-id", help="Entra tenant id or domain (DATAVERSE_TENANT_ID)")
    parser.add_argument("--client-id", help="app registration's Application (client) ID (DATAVERSE_CLIENT_ID)")
    parser.add_argument("--client-secret", help="client secret; prefer DATAVERSE_CLIENT_SECRET (visible to ps)")
    parser.add_argument(
        "--client-certificate", help="PEM (key + certificate) or PFX file (DATAVERSE_CLIENT_CERTIFICATE)"
    )
    parser.add_argument(
        "--client-certificate-password", help="PFX or key password; prefer DATAVERSE_CLIENT_CERTIFICATE_PASSWORD"
    )
    parser.add_argument(
        "--managed-identity-client-id", help="user-assigned identity's client id (DATAVERSE_MANAGED_IDENTITY_CLIENT_ID)"
    )
    parser.add_argument(
        "--username",
        help="device_code/interactive: the person to sign in as, e.g. ada@contoso.com (DATAVERSE_USERNAME)",
    )
    parser.add_argument("--authority-host", help="Entra sign-in host override, e.g. https://login.microsoftonline.us")
    parser.add_argument("--token-cache-dir", help="where a person's sign-in is kept (DATAVERSE_TOKEN_CACHE_DIR)")
    parser.add_argument(
        "--token-cache-plaintext",
        action="store_true",
        default=None,
        help="allow an unencrypted token cache file where encryption is unavailable",
    )
    parser.add_argument("--connection", help="default connection name for runs")
    parser.add_argument("--connection-type", help="connection | connection_reference")
    parser.add_argument("--run-mode", help="attended | unattended")
    parser.add_argument("--allowed", help="comma list of flow ids or exact names that may run")
    parser.add_argument("--read-only", action="store_true", default=None, help="do not offer run and cancel tools")
    parser.add_argument(
        "--flow-tools",
        action="store_true",
        default=None,
        help="also offer each allowed flow as a typed tool of its own",
    )
    parser.add_argument("--poll-seconds", help="first poll interval while waiting for a run (default 2)")
    parser.add_argument(
        "--redis-url", help="replicas behind one address share state here: redis[s]://[:password@]host[:port][/db]"
    )
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
        "--public-url", help="streamable-http: https URL where Dataverse reaches this server; runs then report back"
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command")
    emulator = sub.add_parser("emulator", help="serve the Dataverse emulator alone over HTTP")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument("--test-api", action="store_true", help="enable /_emulator/ fault injection and clock")
    return parser


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    overrides: dict[str, str | bool | None] = {var: getattr(args, flag) for flag, var in _FLAGS.items()}
    overrides["DESKTOP_FLOWS_EMULATOR"] = True if args.emulator else None
    overrides["DESKTOP_FLOWS_READ_ONLY"] = True if args.read_only else None
    overrides["DESKTOP_FLOWS_FLOW_TOOLS"] = True if args.flow_tools else None
    overrides["DATAVERSE_TOKEN_CACHE_PLAINTEXT"] = True if args.token_cache_plaintext else None
    return Settings.from_env(env, overrides)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    if args.command == "emulator":
        _serve_emulator(args.host, args.port, test_api=args.test_api)
        return
    try:
        settings = settings_from(args, os.environ)
        http = None
        if args.transport == "streamable-http":
            http = HttpSettings.from_env(
                os.environ,
                {
                    "DESKTOP_FLOWS_HOST": args.host,
                    "DESKTOP_FLOWS_PORT": args.port,
                    "DESKTOP_FLOWS_HTTP_TOKEN": args.http_token,
                    "DESKTOP_FLOWS_HTTP_MAX_SESSIONS": args.http_max_sessions,
                },
            )
        elif settings.public_url:
            raise ConfigError(
                "DESKTOP_FLOWS_PUBLIC_URL",
                "applies only to --transport streamable-http: Dataverse cannot call back a stdio server; unset it.",
                "https://flows-mcp.contoso.com (with --transport streamable-http)",
            )
    except ConfigError as error:
        print(f"desktop-flows-mcp: {error}", file=sys.stderr)
        raise SystemExit(2) from None
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
    from .app import App
    from .server import build_server

    app = App(settings, token_provider=_start_up_token_provider(settings), offer_sign_in_prompts=http is None)
    server = build_server(app)
    import anyio

    if http is None:
        from .stdio import serve_stdio

        try:
            anyio.run(serve_stdio, server)
        except KeyboardInterrupt:  # Windows, where Ctrl-C is not a signal the loop can take
            raise SystemExit(130) from None
        return

    from .streamable_http import serve_http

    print(
        f"desktop-flows-mcp: MCP on http://{http.host}:{http.port}/mcp"
        + (" (bearer token required)" if http.token else " (loopback only, no token)")
        + (f"; runs report back to {settings.public_url}/callbacks/" if settings.public_url else ""),
        file=sys.stderr,
    )
    anyio.run(serve_http, server, app, http)


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
