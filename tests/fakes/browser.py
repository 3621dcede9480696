"""A fake system browser for msal's interactive sign-in, registered with ``webbrowser`` as the preferred one.

msal opens the Entra authorize URL with ``webbrowser`` and listens on ``http://localhost:<port>`` for the form
Entra's page posts back. The fake plays the person at that page (``FakeEntra.browser_sign_in``) and posts the
form to msal's real loopback listener, from its own thread, as a browser would. ``behaviour``:

    sign_in      the person signs in at once
    ignore       the window stays open and nobody signs in
    cannot_open  there is no browser (``open`` returns False)
"""

from __future__ import annotations

import contextlib
import threading
import webbrowser
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.fakes.entra import ADA, FakeEntra, Person

NAME = "desktop-flows-mcp-fake-browser"
Behaviour = Literal["sign_in", "ignore", "cannot_open"]


class FakeBrowser(webbrowser.BaseBrowser):
    def __init__(self, entra: FakeEntra, *, person: Person = ADA, behaviour: Behaviour = "sign_in") -> None:
        super().__init__(NAME)
        self._entra = entra
        self._person = person
        self._behaviour = behaviour
        self.opened: list[str] = []
        self._answered: set[str] = set()
        self._cond = threading.Condition()

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        with self._cond:
            self.opened.append(url)
            self._cond.notify_all()
        if self._behaviour == "cannot_open":
            return False
        if self._behaviour == "sign_in":
            threading.Thread(target=self._answer, args=(url, self._entra.browser_sign_in(url, self._person))).start()
        return True

    def wait_opened(self, count: int, timeout: float = 5) -> bool:
        """msal opens the browser from its own thread, a moment after the tool call returned."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.opened) >= count, timeout)

    def close_windows(self) -> None:
        """Answer every window nobody finished with 'access_denied', so msal's listeners stop now."""
        for url in list(self.opened):
            if url not in self._answered and self._behaviour != "cannot_open":
                state = parse_qs(urlsplit(url).query)["state"][0]
                self._answer(url, {"error": "access_denied", "state": state})

    def _answer(self, url: str, form: dict[str, str]) -> None:
        self._answered.add(url)
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        with contextlib.suppress(httpx.TransportError):  # msal may have stopped listening already
            httpx.post(redirect.replace("//localhost:", "//127.0.0.1:"), data=form, timeout=5)


@contextmanager
def system_browser(browser: FakeBrowser) -> Generator[FakeBrowser, None, None]:
    """Make ``browser`` the one ``webbrowser.open`` uses, for the length of the block."""
    webbrowser.register(NAME, None, browser, preferred=True)
    try:
        yield browser
    finally:
        browser.close_windows()
        # webbrowser has no public unregister; undo what register() did.
        order = cast(list[str], getattr(webbrowser, "_tryorder", None) or [])
        if NAME in order:
            order.remove(NAME)
        cast(dict[str, Any], getattr(webbrowser, "_browsers", {})).pop(NAME, None)
