"""Fixtures for gate tests: comparison directories of planted scenarios, built once and copied per test."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.comparison import compare
from tests._support.scenarios import costly_improvement, equivalent_runs, segment_regression

FAST = {"n_boot": 300, "n_permutations": 2000}


def _build(root: Path, scenario: Callable[..., tuple[Path, Path]]) -> Path:
    base, cand = scenario(root)
    compare(base, cand, out=root / "cmp", **FAST)
    return root / "cmp"


@pytest.fixture(scope="session")
def _compare_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        "segment_regression": _build(tmp_path_factory.mktemp("sr"), segment_regression),
        "costly_improvement": _build(tmp_path_factory.mktemp("ci"), costly_improvement),
        "equivalent": _build(tmp_path_factory.mktemp("aa"), lambda root: equivalent_runs(root, seed=2)),
    }


@pytest.fixture
def compare_dir(tmp_path: Path, _compare_dirs: dict[str, Path]) -> Callable[[str], Path]:
    """A fresh copy of a scenario's comparison directory (gate.json and reviews/ are written into it)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(_compare_dirs[name], target)
        return target

    return copy


@pytest.fixture
def policy_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a policy file from YAML text."""

    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write
