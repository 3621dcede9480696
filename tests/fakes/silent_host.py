"""A loopback TCP server that accepts every connection and never sends a byte: a stalled sign-in endpoint.

The TLS handshake, an HTTP request, anything sent to it waits for an answer that never comes, so only a time
limit ends the call. ``connections`` counts what it accepted.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Generator
from contextlib import contextmanager


class SilentHost:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.05)  # so the accept loop sees ``close`` promptly
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._accepted: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-host", daemon=True)
        self._thread.start()

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)  # kept open, never read from or written to
            self.connections += 1

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        for connection in self._accepted:
            connection.close()


@contextmanager
def silent_host() -> Generator[SilentHost]:
    host = SilentHost()
    try:
        yield host
    finally:
        host.close()
