"""promptlab: put prompt changes under the same release discipline as backend code."""

import sys as _sys

if "jsonschema" not in _sys.modules and "rfc3987_syntax" not in _sys.modules:
    # jsonschema imports rfc3987_syntax (when Jupyter's extras installed it) only for the `iri` format checks,
    # and that import builds a grammar for ~1 s: every CLI call would pay it. We never check `iri` formats.
    _sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema  # noqa: F401
    finally:
        del _sys.modules["rfc3987_syntax"]

from promptlab.artifacts import ArtifactDiff, PromptArtifact, diff_artifacts, load_artifact
from promptlab.datasets import Case, Dataset, Suite, load_dataset, load_suite
from promptlab.errors import PromptlabError

__version__ = "0.1.0"

__all__ = [
    "ArtifactDiff",
    "Case",
    "Dataset",
    "PromptArtifact",
    "PromptlabError",
    "Suite",
    "__version__",
    "diff_artifacts",
    "load_artifact",
    "load_dataset",
    "load_suite",
]
