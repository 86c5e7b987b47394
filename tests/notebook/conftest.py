"""Fixtures: small notebooks written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest


def write_notebook(path: Path, parameters: str | None, *cells: str) -> Path:
    """Write a notebook whose first cell (tagged `parameters`) holds `parameters`, followed by `cells`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def make_notebook(tmp_path: Path) -> Callable[..., Path]:
    """Write `tmp_path/notebooks/NAME.ipynb` from a parameters cell and code cells."""

    def make(name: str, parameters: str | None, *cells: str) -> Path:
        return write_notebook(tmp_path / "notebooks" / f"{name}.ipynb", parameters, *cells)

    return make
