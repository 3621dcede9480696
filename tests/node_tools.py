"""The third-party Node clients (MCP Inspector CLI, mcpb): found under .tools/node, installed by .ci/run.

Without them the tests that need them skip, unless REQUIRE_NODE_TOOLS=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BIN = Path(os.environ.get("NODE_TOOLS", ROOT / ".tools" / "node")) / "node_modules" / ".bin"


def node_tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail(f"{path} is missing; .ci/run installs it")
        pytest.skip(f"{name} not installed (run .ci/run, or npm install it under .tools/node)")
    return str(path)
