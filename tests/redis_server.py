"""A real redis-server for the shared-state tests.

CI (.ci/run) starts one and exports DESKTOP_FLOWS_TEST_REDIS_URL and REQUIRE_REDIS=1. Locally, a ``redis-server`` on
PATH is started for the session instead; without one the tests skip, unless REQUIRE_REDIS=1 makes that a failure.
Tests that stop Redis start their own with ``RedisServer``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is missing; .ci/run installs it (Debian package redis-server)")
        pytest.skip("redis-server not installed (apt-get install redis-server, or run .ci/run)")
    return path


class RedisServer:
    """``redis-server`` on a loopback port, no persistence; stop() and start() again keep the port."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = redis_binary()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # waiting for a real process to listen
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
