"""The third-party Node clients (MCP Inspector CLI, mcpb): found under .tools/node, installed by .ci/run.

Inspector 2.x (the 2026-07-28 era, tasks, ``--strict``) needs Node 22, so it lives apart under .tools/node22 with the
npm package ``node@22``; ``inspector2()`` runs it with that Node first on PATH.

Without them the tests that need them skip, unless REQUIRE_NODE_TOOLS=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BIN = Path(os.environ.get("NODE_TOOLS", ROOT / ".tools" / "node")) / "node_modules" / ".bin"
BIN22 = Path(os.environ.get("NODE22_TOOLS", ROOT / ".tools" / "node22")) / "node_modules" / ".bin"


def node_tool(name: str, bin_dir: Path = BIN) -> str:
    path = bin_dir / name
    if not path.exists():
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail(f"{path} is missing; .ci/run installs it")
        pytest.skip(f"{name} not installed (run .ci/run, or npm install it under .tools/node)")
    return str(path)


def inspector2() -> tuple[list[str], dict[str, str]]:
    """The Inspector 2.x CLI command and the environment that runs it on Node 22."""
    command = node_tool("mcp-inspector", BIN22)
    node_tool("node", BIN22)
    return [command, "--cli"], node_client_env(f"{BIN22}{os.pathsep}{os.environ.get('PATH', '')}")


def node_client_env(path: str | None = None) -> dict[str, str]:
    """The environment for a Node MCP client. Such a client starts our server with only a few of its variables
    (HOME, PATH, USER, ...), so HOME points into the test's own cache folder (conftest): the server's start-up
    snapshot and the client's own files stay there, never in the real home."""
    home = os.environ["XDG_CACHE_HOME"]
    return {**os.environ, "HOME": home, **({"PATH": path} if path else {})}
