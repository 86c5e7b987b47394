"""Running parameterized notebooks (papermill) with strict parameters, showing charts in them, and the steps
the comparison notebooks share."""

from promptlab.notebook._display import show
from promptlab.notebook._params import NotebookParameter, coerce_parameters, read_parameters
from promptlab.notebook._run import (
    CellExecutionError,
    NotebookRun,
    ensure_kernel,
    export_html,
    resolve_notebook,
    run_notebook,
)
from promptlab.notebook._workflow import RESULTS_FILE, compare_versions, run_versions, signing_key, write_results

__all__ = [
    "CellExecutionError",
    "NotebookParameter",
    "NotebookRun",
    "RESULTS_FILE",
    "coerce_parameters",
    "compare_versions",
    "ensure_kernel",
    "export_html",
    "read_parameters",
    "resolve_notebook",
    "run_notebook",
    "run_versions",
    "show",
    "signing_key",
    "write_results",
]
