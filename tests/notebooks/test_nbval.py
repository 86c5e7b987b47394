"""nbval runs every notebook in notebooks/ with its default parameters, in this environment's kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebooks.conftest import notebook_names

pytestmark = pytest.mark.notebook


def test_there_are_notebooks_to_check() -> None:
    assert {"compare", "review"} <= set(notebook_names())


def test_every_notebook_passes_nbval(repo_tree: Path) -> None:
    """One nbval session over all notebooks (in file-name order, so review.ipynb reviews what compare.ipynb wrote).

    Runs in a copy of the repository parts the notebooks use; lax mode checks that every cell runs without an
    error (outputs are not compared: the notebooks are stored without outputs).
    """
    names = notebook_names()
    cmd = [
        sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout", "600",
        "-p", "no:cacheprovider", "-q", "-rA", "--rootdir", str(repo_tree), "-c", str(repo_tree / "nbval.ini"),
        *[f"notebooks/{name}.ipynb" for name in names],
    ]  # fmt: skip
    (repo_tree / "nbval.ini").write_text("[pytest]\n")
    proc = subprocess.run(cmd, cwd=repo_tree, capture_output=True, text=True, timeout=1500, check=False)
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"nbval failed:\n{report}"
    for name in names:
        assert f"notebooks/{name}.ipynb::Cell" in proc.stdout, f"{name}.ipynb was not checked:\n{report}"
    assert "failed" not in proc.stdout.splitlines()[-1], report
    assert (repo_tree / "out" / "demo" / "report.html").is_file()  # where make demo writes and review.ipynb reads
