"""`make demo`: the README's main job runs compare.ipynb, prints the decision and checks it is the known one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebooks.conftest import REPO

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_succeeds_because_the_example_blocks_as_expected(repo_tree: Path, tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", repo_tree / "Makefile")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "promptlab"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m promptlab "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # BIN points at this environment and STAMP= skips the venv set-up: the recipe itself is what runs.
    cmd = ["make", "--no-print-directory", "demo", f"BIN={bin_dir}", "STAMP="]
    proc = subprocess.run(cmd, cwd=repo_tree, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "decision: block (exit 1) for support-triage@v2 vs support-triage@v1" in out
    assert "  blocked by no_segment_regression: " in out
    assert "decision block is the expected one (exit 0; the gate's own code is 1)" in out
    assert f"\nbundle: {(repo_tree / 'out' / 'demo' / 'bundle.tar.gz').resolve()}\n" in out
    assert (repo_tree / "out" / "demo" / "report.html").is_file()
