"""The README a newcomer reads: its table of contents lists every section, in order, with working anchors; the
changelog and the versions agree."""

from __future__ import annotations

import re
import tomllib

from desktop_flows_mcp import __version__
from desktop_flows_mcp.errors import ErrorCode
from tests.node_tools import ROOT

README = (ROOT / "README.md").read_text()


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_table_of_contents_lists_every_section_in_order() -> None:
    toc = README.split("<!-- toc:start -->", 1)[1].split("<!-- toc:end -->", 1)[0]
    listed = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", toc)
    sections = [line[3:] for line in README.splitlines() if line.startswith("## ")]
    in_page = [(title, target) for title, target in listed if target.startswith("#")]
    assert [title for title, _ in in_page] == sections
    assert all(target == "#" + anchor(title) for title, target in in_page), in_page
    assert all((ROOT / target).exists() for _, target in listed if not target.startswith("#"))


def test_the_package_the_bundle_and_the_changelog_have_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert project == __version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}] - " in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{__version__}]")


def test_the_error_table_names_every_error_code() -> None:
    table = README.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE))
    assert listed == {code.value for code in ErrorCode}
