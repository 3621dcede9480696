"""The README's copy-paste Python client, run as written: it starts the console script on the emulator, gets a
task back from run_desktop_flow and polls it to the finished run (real time: about four seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node_tools import ROOT
from tests.processes import console_script

pytestmark = pytest.mark.slow


def test_the_readme_python_client_runs_a_flow_as_a_task(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- run_as_task:start -->", 1)[1].split("<!-- run_as_task:end -->", 1)[0]
    script = block.split("```python\n", 1)[1].rsplit("```", 1)[0]
    (tmp_path / "run_as_task.py").write_text(script)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    clean["PATH"] = str(Path(console_script()).parent) + os.pathsep + clean.get("PATH", "")
    result = subprocess.run(
        [sys.executable, "run_as_task.py"], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("task dfrun-")
    assert "completed Run Succeeded after" in result.stdout
    assert "'Status': 'Posted'" in lines[-1] and "'PostedTotal': 1250.0" in lines[-1]
