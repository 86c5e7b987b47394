"""Fixtures for comparison tests: planted run pairs built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.scenarios import costly_improvement, segment_regression


@pytest.fixture(scope="module")
def regression_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Baseline and candidate runs: better overall, worse for intent=refund."""
    return segment_regression(tmp_path_factory.mktemp("segment-regression"))


@pytest.fixture(scope="module")
def costly_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Baseline and candidate runs: better everywhere, about a third more expensive."""
    return costly_improvement(tmp_path_factory.mktemp("costly-improvement"))
