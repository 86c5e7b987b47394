"""Packaging metadata that `make demo`'s editable install reads, and what git ignores."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression_so_setuptools_does_not_warn() -> None:
    # A `license = {text = ...}` table makes setuptools >= 77 print a deprecation warning on every install.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]


def test_git_ignores_local_state_outputs_and_notebook_checkpoints(tmp_path: Path) -> None:
    paths = [".promptlab/registry.db", "examples/support-triage/.promptlab/registry.db", "out/demo/report.html",
             "notebooks/.ipynb_checkpoints/compare-checkpoint.ipynb", "examples/x/out/ci/comment.md"]  # fmt: skip
    proc = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", *paths], capture_output=True, text=True, check=False
    )
    assert sorted(proc.stdout.split()) == sorted(paths)
