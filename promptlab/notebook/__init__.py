"""Running parameterized notebooks (papermill) with strict parameters, showing charts in them, and the steps
the comparison notebooks share."""

from promptlab.notebook._check import (
    COMMENT_FILE,
    COMMENT_MARKER,
    ReleaseCheck,
    append_step_summary,
    comment_body,
    release_check,
)
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
from promptlab.notebook._workflow import (
    RESULTS_FILE,
    compare_versions,
    conclude,
    decision_lines,
    read_results,
    results_record,
    run_versions,
    signing_key,
    write_results,
)

__all__ = [
    "COMMENT_FILE",
    "COMMENT_MARKER",
    "CellExecutionError",
    "NotebookParameter",
    "NotebookRun",
    "RESULTS_FILE",
    "ReleaseCheck",
    "append_step_summary",
    "coerce_parameters",
    "comment_body",
    "compare_versions",
    "conclude",
    "decision_lines",
    "ensure_kernel",
    "export_html",
    "read_parameters",
    "read_results",
    "release_check",
    "resolve_notebook",
    "results_record",
    "run_notebook",
    "run_versions",
    "show",
    "signing_key",
    "write_results",
]
