"""DESKTOP_FLOWS_REDIS_URL and DESKTOP_FLOWS_CURSOR_SECRET: checked without showing secrets, probed at start-up,
and wired into the services (in-process without Redis)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from desktop_flows_mcp.cli import _check_redis  # pyright: ignore[reportPrivateUsage]
from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.cursors import CursorCodec, PageToken
from desktop_flows_mcp.dataverse.resilience import RunRateLimiter
from desktop_flows_mcp.idempotency import IdempotencyStore
from desktop_flows_mcp.shared_state import open_shared_state
from desktop_flows_mcp.shared_state.redis_keys import RedisIdempotencyKeys
from desktop_flows_mcp.shared_state.redis_limits import RedisReadBudget
from tests.helpers import error_of, ok
from tests.processes import run_cli
from tests.redis_server import free_port
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, full_stack

SECRET = "s3cr3t-pa55word"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"http://:{SECRET}@redis.internal:6379", "must be a redis:// or rediss:// URL with a host."),
        (f"redis://:{SECRET}@redis.internal:99999", "is not a valid URL (the value is not shown"),
        (f"rediss://:{SECRET}@redis.internal:6380/cache", "must be redis[s]://[user:password@]host[:port]"),
        ("redis://", "must be a redis:// or rediss:// URL with a host."),
    ],
)
def test_a_bad_redis_url_is_one_config_error_that_never_shows_the_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"DESKTOP_FLOWS_REDIS_URL": url})
    assert str(error.value).startswith(f"DESKTOP_FLOWS_REDIS_URL: {problem}")
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://redis.internal:6379/0?foo=bar", "takes no query options (got 'foo')"),
        (f"rediss://:{SECRET}@cache/0?ssl_cert_reqs=none&x=1", "takes no query options (got 'ssl_cert_reqs', 'x')"),
        (f"redis://cache/0?password={SECRET}", "takes no query options (got 'password')"),
        (f"redis://:{SECRET}@redis.internal:6379/0", "sends its password unencrypted to a host that is not loopback"),
        (f"redis://app:{SECRET}@10.0.0.7/0", "sends its password unencrypted to a host that is not loopback"),
    ],
)  # fmt: skip
def test_redis_url_options_and_a_cleartext_password_off_loopback_are_one_config_error(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"DESKTOP_FLOWS_REDIS_URL": url})
    assert str(error.value).startswith(f"DESKTOP_FLOWS_REDIS_URL: {problem}")
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    "url",
    [f"redis://:{SECRET}@127.0.0.1:6379/0", f"redis://:{SECRET}@localhost/1", f"redis://:{SECRET}@[::1]/0",
     f"rediss://:{SECRET}@redis.internal:6380/0", "redis://redis.internal:6379/0", "redis://app@redis.internal/0"],
)  # fmt: skip
def test_a_password_goes_over_tls_or_stays_on_loopback(url: str) -> None:
    assert Settings.from_env({"DESKTOP_FLOWS_REDIS_URL": url}).shared.redis_url is not None


@pytest.mark.slow
def test_an_unknown_redis_url_option_stops_start_up_with_one_line_and_exit_2() -> None:
    result = run_cli("--emulator", "--transport", "streamable-http", "--redis-url", "redis://127.0.0.1:1/0?foo=bar")
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("desktop-flows-mcp: --redis-url: takes no query options (got 'foo')")  # the flag given


def test_the_redis_address_is_shown_without_credentials_and_a_flag_wins() -> None:
    settings = Settings.from_env(
        {"DESKTOP_FLOWS_REDIS_URL": "redis://ignored:1/0"},
        {"DESKTOP_FLOWS_REDIS_URL": f"rediss://app:{SECRET}@[::1]:6380/2"},
    )
    assert settings.shared.redis_display == "rediss://[::1]:6380/2"
    assert SECRET not in repr(settings)
    assert (
        Settings.from_env({"DESKTOP_FLOWS_REDIS_URL": "redis://cache"}).shared.redis_display == "redis://cache:6379/0"
    )
    assert Settings.from_env({}).shared.redis_display is None


def test_the_cursor_secret_must_be_long_and_is_never_shown() -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_CURSOR_SECRET: must be at least 32 characters") as error:
        Settings.from_env({"DESKTOP_FLOWS_CURSOR_SECRET": SECRET})
    assert SECRET not in str(error.value)


@pytest.mark.slow
def test_unreachable_redis_stops_start_up_with_one_line_and_no_password() -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    result = run_cli("--emulator", "--transport", "streamable-http", "--redis-url", url)
    assert (result.returncode, result.stdout) == (2, "")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("desktop-flows-mcp: Redis at redis://127.0.0.1:")
    assert "is unreachable (ConnectionError" in last and last.endswith("; not starting.")
    assert SECRET not in result.stderr


def test_reachable_redis_is_announced_without_credentials(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _check_redis(Settings.from_env({"DESKTOP_FLOWS_REDIS_URL": redis_url}))
    assert (
        "replicas share idempotency keys and run limits through Redis at redis://127.0.0.1:" in capsys.readouterr().err
    )


@pytest.mark.anyio
async def test_without_redis_everything_stays_in_process_and_a_cursor_secret_works_across_processes() -> None:
    settings = Settings.from_env({"DESKTOP_FLOWS_CURSOR_SECRET": "x" * 40})
    async with open_shared_state(settings) as one, open_shared_state(settings) as two:
        assert isinstance(one.keys, IdempotencyStore) and isinstance(one.run_window, RunRateLimiter)
        assert one.pauses is None and one.callback_tokens is None and one.store == "in-process"
        assert one.read_budget is None  # each process paces its own reads of runs
        token = PageToken("workflows?$skiptoken=x", 10)
        cursor = CursorCodec(one.cursor_key).encode("flows", token)
        assert CursorCodec(two.cursor_key).decode("flows", cursor, tool="list_desktop_flows") == token
    async with open_shared_state(Settings.from_env({})) as plain:
        assert plain.cursor_key is None


@pytest.mark.anyio
async def test_with_redis_the_services_use_it_and_replicas_share_the_cursor_key(redis_url: str) -> None:
    settings = Settings.from_env(
        {
            "DESKTOP_FLOWS_REDIS_URL": redis_url,
            "DATAVERSE_URL": f"http://127.0.0.1:{free_port()}",
            "DATAVERSE_ACCESS_TOKEN": "t",
        }
    )
    async with open_shared_state(settings) as one, open_shared_state(settings) as two:
        assert isinstance(one.keys, RedisIdempotencyKeys) and one.store.startswith("redis://127.0.0.1:")
        assert one.cursor_key == two.cursor_key and one.cursor_key is not None
        assert isinstance(one.read_budget, RedisReadBudget)  # the fleet's run-read budget


@pytest.mark.anyio
async def test_the_full_stack_with_redis_starts_a_keyed_run_once(redis_url: str) -> None:
    key = f"k-{uuid.uuid4()}"
    args = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS, "idempotency_key": key}
    async with full_stack(env={"DESKTOP_FLOWS_REDIS_URL": redis_url}) as stack:
        first = ok(await stack.call("run_desktop_flow", args))
        again = ok(await stack.call("run_desktop_flow", args))
        other = error_of(await stack.call("run_desktop_flow", args | {"inputs": INVOICE_INPUTS | {"Amount": 1}}))
        page = ok(await stack.call("list_desktop_flows", {"limit": 2}))
        second_page = ok(await stack.call("list_desktop_flows", {"cursor": page["next_cursor"]}))
    assert again["run_id"] == first["run_id"] and again["reused"] and not first["reused"]
    assert other["code"] == "conflict"
    assert second_page["flows"]
    assert stack.wire.paths().count("POST Microsoft.Dynamics.CRM.RunDesktopFlow") == 1


@pytest.mark.slow
def test_without_a_redis_url_the_redis_client_is_never_imported() -> None:
    code = (
        "import sys, anyio\n"
        "from desktop_flows_mcp.config import Settings\n"
        "from desktop_flows_mcp.app import App\n"
        "async def main():\n"
        "    async with App(Settings.from_env({})).running() as services:\n"
        "        await services.catalogue.list_flows(search=None, include_drafts=False, limit=1, cursor=None)\n"
        "anyio.run(main)\n"
        "print('redis' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
