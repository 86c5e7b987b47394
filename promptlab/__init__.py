"""promptlab: put prompt changes under the same release discipline as backend code."""

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
