"""notebooks/harvest.ipynb runs headless with papermill and writes only where it is told."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promptlab.datasets import load_dataset

pytestmark = pytest.mark.notebook

REPO = Path(__file__).resolve().parents[2]


def test_the_harvest_notebook_runs_with_papermill_into_the_given_directory(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    from promptlab.notebook import ensure_kernel

    tree = tmp_path / "repo"
    for name in ("notebooks", "examples"):
        shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "out"))
    out = tmp_path / "harvest-out"
    papermill.execute_notebook(
        str(tree / "notebooks" / "harvest.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={"out_dir": str(out)},
        cwd=str(tree / "notebooks"),
        kernel_name=ensure_kernel(),
        progress_bar=False,
    )
    cases = load_dataset(out / "regression_cases")
    assert len(cases) > 20
    report = json.loads((out / "harvest-report.json").read_text())
    assert report["malformed"]["count"] == 6
    assert all(n > 0 for n in report["by_detector"].values())
    executed = (tmp_path / "executed.ipynb").read_text()
    assert "application/vnd.plotly.v1+json" in executed
    assert not (tree / "regression_cases").exists()
    assert not (tree / "out").exists()
