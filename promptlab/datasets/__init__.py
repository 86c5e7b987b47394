"""Test sets: cases, datasets (files or directories) and suites."""

from promptlab.datasets._load import Dataset, load_dataset
from promptlab.datasets._model import HARD_NEGATIVE_TAGS, Case, Expected, ToolResult
from promptlab.datasets._suite import REGRESSION_TAG, Suite, load_suite

__all__ = [
    "Case",
    "Dataset",
    "Expected",
    "HARD_NEGATIVE_TAGS",
    "REGRESSION_TAG",
    "Suite",
    "ToolResult",
    "load_dataset",
    "load_suite",
]
