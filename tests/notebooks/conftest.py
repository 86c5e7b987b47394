"""Fixtures for running the notebooks in notebooks/ (papermill and nbval) on the support-triage example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
EXAMPLE = REPO / "examples" / "support-triage"
# What the notebooks read through paths relative to notebooks/ (their defaults).
TREE = ("notebooks", "examples", "regression_cases")


def notebook_names() -> list[str]:
    """Every notebook in notebooks/, by name."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture
def repo_tree(tmp_path: Path) -> Path:
    """A copy of the parts of the repository the notebooks use, so runs with default parameters write their
    outputs (`../out/...`) into the temporary directory instead of the working tree."""
    for name in TREE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return tmp_path


@pytest.fixture(autouse=True)
def _needs_the_example() -> None:
    if not (EXAMPLE / "suite.yaml").is_file():
        pytest.skip(f"the support-triage example is missing ({EXAMPLE})")
