"""Papermill runs of notebooks/review.ipynb: it runs headless, on a given comparison or on the example."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from promptlab.compare import load_comparison
from promptlab.notebook import run_notebook
from tests._support.comparisons import planted_comparison
from tests.notebooks.conftest import NOTEBOOKS

pytestmark = pytest.mark.notebook

REVIEW = NOTEBOOKS / "review.ipynb"


def _outputs(path: Path) -> str:
    return json.dumps([c.get("outputs", []) for c in nbformat.read(path, as_version=4).cells])


def test_review_notebook_presents_both_layers_of_a_comparison(tmp_path: Path) -> None:
    cmp_dir = planted_comparison(tmp_path, signoff=True)
    run = run_notebook(REVIEW, parameters={"comparison_dir": str(cmp_dir)}, out_dir=tmp_path / "nb", html=True)
    text = _outputs(run.output)
    assert "application/vnd.jupyter.widget-view+json" in text
    assert "review checklists (interactive: open the notebook in Jupyter)" in text
    assert "### Product review" in text and "### Technical review" in text
    assert "technical: request_changes by Ana D" in text
    assert "(this comparison)" in text
    assert run.html is not None
    page = run.html.read_text()
    assert "Hard-negative coverage" in page and "not covered" in page


def test_review_notebook_compares_the_example_when_the_directory_is_empty(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    run = run_notebook(REVIEW, parameters={"comparison_dir": str(target)}, out_dir=tmp_path / "nb")
    cmp = load_comparison(target)
    assert cmp.candidate.artifact.ref.endswith("@v2")
    assert "holds no comparison yet: comparing support-triage v1 and v2" in _outputs(run.output)
    assert "no sign-offs yet" in _outputs(run.output)
