"""Running an artifact over a suite: the async runner and the run-directory format it writes."""

from promptlab.runner._engine import build_request
from promptlab.runner._options import RunOptions
from promptlab.runner._results import (
    ARTIFACT,
    CASES,
    MANIFEST,
    RESULTS,
    CaseResult,
    EvalOutcome,
    ResultRow,
    ResultsWriter,
    RunDir,
    RunManifest,
    load_run,
    read_result_rows,
    read_results,
)
from promptlab.runner._run import RunSummary, arun, run

__all__ = [
    "ARTIFACT",
    "CASES",
    "CaseResult",
    "EvalOutcome",
    "MANIFEST",
    "RESULTS",
    "ResultRow",
    "ResultsWriter",
    "RunDir",
    "RunManifest",
    "RunOptions",
    "RunSummary",
    "arun",
    "build_request",
    "load_run",
    "read_result_rows",
    "read_results",
    "run",
]
