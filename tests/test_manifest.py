"""The MCPB manifest: valid for the mcpb CLI, and its tools and settings in step with the server."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from desktop_flows_mcp.config import Settings
from tests.helpers import connect
from tests.node_tools import ROOT, node_tool

MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text())


@pytest.mark.anyio
async def test_manifest_tools_match_the_server_exactly() -> None:
    async with connect() as client:
        tools = (await client.list_tools()).tools
    served = [{"name": tool.name, "description": (tool.description or "").split("\n\n")[0]} for tool in tools]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        MANIFEST["tools"] = served
        (ROOT / "manifest.json").write_text(json.dumps(MANIFEST, indent=2, ensure_ascii=False) + "\n")
    assert MANIFEST["tools"] == served


def test_manifest_version_matches_the_package() -> None:
    from desktop_flows_mcp import __version__

    assert MANIFEST["version"] == __version__


def test_secrets_are_marked_sensitive() -> None:
    config = MANIFEST["user_config"]
    for key in ("client_secret", "client_certificate_password", "access_token"):
        assert config[key]["sensitive"] is True, key


def test_a_host_that_passes_unexpanded_placeholders_starts_on_the_emulator() -> None:
    env = MANIFEST["server"]["mcp_config"]["env"]
    assert Settings.from_env(env).uses_emulator
    assert Settings.from_env(dict.fromkeys(env, "")).uses_emulator


def test_every_user_config_field_reaches_the_server() -> None:
    env_values = set(MANIFEST["server"]["mcp_config"]["env"].values())
    for key in MANIFEST["user_config"]:
        assert f"${{user_config.{key}}}" in env_values, key


@pytest.mark.slow
def test_the_mcpb_cli_accepts_the_manifest() -> None:
    result = subprocess.run(
        [node_tool("mcpb"), "validate", str(ROOT / "manifest.json")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation passes" in result.stdout
