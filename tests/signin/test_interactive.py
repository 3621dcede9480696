"""interactive through real msal, a fake system browser and the fake Entra ID: the tool never waits for the person."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from desktop_flows_mcp.app import App
from desktop_flows_mcp.clock import Clock
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.signin import SignInRequired, build_token_provider, sign_in_context
from desktop_flows_mcp.signin.interactive import InteractiveProvider
from tests.fakes.browser import Behaviour, FakeBrowser, system_browser
from tests.fakes.entra import GRACE, FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.helpers import error_of
from tests.signin.helpers_signin import URL, FakeClock, settings

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_real_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    # msal prefers Microsoft Edge on Linux when BROWSER is unset; an empty BROWSER is a preference for none.
    monkeypatch.setenv("BROWSER", "")


@pytest.fixture
def opened(entra: FakeEntra, clock: FakeClock, tmp_path: Path) -> Iterator[InteractiveProvider]:
    provider = build_token_provider(
        settings("interactive", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path), DATAVERSE_USERNAME=GRACE.username),
        http_client=MsalHttpClient(entra),
        clock=clock,
    )
    assert isinstance(provider, InteractiveProvider)
    yield provider
    provider.close()


@pytest.fixture
def browser(request: pytest.FixtureRequest, entra: FakeEntra) -> Iterator[FakeBrowser]:
    behaviour: Behaviour = getattr(request, "param", "sign_in")
    with system_browser(FakeBrowser(entra, person=GRACE, behaviour=behaviour)) as fake:
        yield fake


async def test_the_first_call_answers_at_once_and_the_browser_sign_in_finishes_in_the_background(
    opened: InteractiveProvider, browser: FakeBrowser, entra: FakeEntra
) -> None:
    with anyio.fail_after(1), pytest.raises(SignInRequired) as prompt:
        await opened.token()

    assert await opened.wait_for_sign_in(10)
    token = await opened.token()

    assert prompt.value.code is ErrorCode.UNAUTHENTICATED
    assert "browser window opened on the machine running this server" in prompt.value.message
    assert GRACE.username in (prompt.value.hint or "")
    assert f"login_hint={GRACE.username.replace('@', '%40')}" in browser.opened[0]
    assert token == "fake-access-token-1"
    assert entra.grants() == ["authorization_code"]
    assert f"{URL}/user_impersonation" in entra.token_forms[0]["scope"].split()


@pytest.mark.parametrize("browser", ["ignore"], indirect=True)
async def test_while_the_browser_is_open_every_call_answers_at_once(
    opened: InteractiveProvider, browser: FakeBrowser
) -> None:
    with anyio.fail_after(2):
        answers = [await refusal(opened) for _ in range(3)]

    assert {answer.message for answer in answers} == {answers[0].message}
    assert browser.wait_opened(1)
    assert len(browser.opened) == 1


@pytest.mark.parametrize("browser", ["ignore"], indirect=True)
async def test_a_browser_sign_in_nobody_finishes_times_out_as_unauthenticated_and_the_next_call_reopens(
    opened: InteractiveProvider, browser: FakeBrowser, clock: FakeClock
) -> None:
    await refusal(opened)
    assert browser.wait_opened(1)

    clock.seconds += 301
    timed_out = await refusal(opened)
    reopened = await refusal(opened)

    assert (timed_out.code, timed_out.retryable) == (ErrorCode.UNAUTHENTICATED, False)
    assert "not finished within 5 minutes" in timed_out.message
    assert "proxy" not in (timed_out.hint or "")
    assert isinstance(reopened, SignInRequired)
    assert browser.wait_opened(2)


@pytest.mark.parametrize("browser", ["cannot_open"], indirect=True)
async def test_without_a_browser_the_person_is_pointed_to_device_code(
    opened: InteractiveProvider, browser: FakeBrowser
) -> None:
    await refusal(opened)

    assert await opened.wait_for_sign_in(10)
    error = await refusal(opened)

    assert "No browser could be opened" in error.message
    assert "DATAVERSE_AUTH=device_code" in (error.hint or "")


async def refusal(provider: InteractiveProvider) -> DesktopFlowsError:
    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()
    return caught.value


@pytest.mark.parametrize("browser", ["ignore"], indirect=True)
async def test_msals_own_browser_timeout_is_a_clear_unauthenticated_error(
    entra: FakeEntra, browser: FakeBrowser, clock: FakeClock, tmp_path: Path
) -> None:
    """msal stops listening after ``timeout`` seconds (BrowserInteractionTimeoutError), before our clock's deadline."""
    import msal  # pyright: ignore[reportMissingTypeStubs]

    chosen = settings("interactive", DATAVERSE_TOKEN_CACHE_DIR=str(tmp_path))
    provider = InteractiveProvider(
        sign_in_context(chosen),
        cache=msal.SerializableTokenCache(),
        http_client=MsalHttpClient(entra),
        clock=clock,
        timeout_seconds=0.05,
    )
    try:
        await refusal(provider)
        assert await provider.wait_for_sign_in(10)
        timed_out = await refusal(provider)
    finally:
        provider.close()

    assert (timed_out.code, timed_out.retryable) == (ErrorCode.UNAUTHENTICATED, False)
    assert "not finished within 0.05 seconds" in timed_out.message
    assert "proxy" not in (timed_out.hint or "")


@pytest.mark.parametrize("browser", ["ignore"], indirect=True)
async def test_through_the_server_tool_calls_answer_at_once_while_the_browser_waits(
    opened: InteractiveProvider, browser: FakeBrowser, clock: FakeClock
) -> None:
    """No lock is held while the person is in the browser: concurrent tool calls all answer at once."""
    server = build_server(
        App(
            settings("interactive"),
            clock=Clock(monotonic=clock),
            dataverse_transport=Emulator(clock=clock).transport(),
            token_provider=opened,
        )
    )
    answers: list[CallToolResult] = []

    async with Client(server, mode="legacy") as client:

        async def call(tool: str) -> None:
            answers.append(await client.call_tool(tool, {}))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as calls:
                for tool in ("list_desktop_flows", "list_desktop_flow_runs", "list_desktop_flows"):
                    calls.start_soon(call, tool)

    errors = [error_of(answer) for answer in answers]
    assert len(errors) == 3 and {error["code"] for error in errors} == {"unauthenticated"}
    assert all("browser window opened" in error["message"] for error in errors)
    assert browser.wait_opened(1) and len(browser.opened) == 1


@pytest.mark.parametrize("browser", ["cannot_open"], indirect=True)
async def test_without_a_browser_msals_listener_stops_at_once_instead_of_waiting_out_its_timeout(
    opened: InteractiveProvider, browser: FakeBrowser
) -> None:
    before = set(threading.enumerate())
    await refusal(opened)
    assert await opened.wait_for_sign_in(10)
    started = [thread for thread in threading.enumerate() if thread not in before and "AnyIO" not in thread.name]
    port = urlsplit(parse_qs(urlsplit(browser.opened[0]).query)["redirect_uri"][0]).port

    for thread in started:
        thread.join(5)  # msal checks on its listener once a second

    assert started and not any(thread.is_alive() for thread in started)  # 300 s each, before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port or 0), timeout=5).close()
