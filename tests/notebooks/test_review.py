"""Papermill runs of notebooks/review.ipynb: it runs headless, on a given comparison or on the example."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from promptlab.notebook import CellExecutionError, run_notebook
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


def test_review_notebook_stops_with_a_clear_error_instead_of_comparing_elsewhere(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    with pytest.raises(CellExecutionError) as exc:
        run_notebook(REVIEW, parameters={"comparison_dir": str(target)}, out_dir=tmp_path / "nb")
    message = str(exc.value)
    assert f"raised InputError: {target}: no comparison.json; run `make demo` (writes out/demo)" in message
    assert not target.exists()  # nothing was built there


def test_review_notebook_defaults_to_the_directory_make_demo_writes() -> None:
    from promptlab.notebook import read_parameters

    declared = {p.name: p.default for p in read_parameters(REVIEW)}
    compare = {p.name: p.default for p in read_parameters(NOTEBOOKS / "compare.ipynb")}
    makefile = (NOTEBOOKS.parent / "Makefile").read_text()
    assert "DEMO_OUT ?= out/demo" in makefile
    assert declared["comparison_dir"] == compare["out_dir"] == "../out/demo"  # notebooks/ is the kernel's cwd
    assert "example_dir" not in declared
