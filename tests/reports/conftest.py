"""Fixtures: a planted, gated and reviewed comparison directory (built once per session, never modified)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._support.comparisons import planted_comparison


@pytest.fixture(scope="session")
def reviewed_comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison directory with `gate.json` (block) and one technical sign-off; treat as read-only."""
    return planted_comparison(tmp_path_factory.mktemp("reports"), gate=True, signoff=True)


@pytest.fixture
def comparison_copy(reviewed_comparison: Path, tmp_path: Path) -> Path:
    """A private copy of the reviewed comparison that a test may change."""
    return Path(shutil.copytree(reviewed_comparison, tmp_path / "compare"))
