"""Fixtures: a planted comparison (built once), private copies for signing, and widget panels whose unexpected
callback errors fail the test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests._support.comparisons import planted_comparison

NOW = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A comparison directory with both runs next to it (2 repeats); treat as read-only."""
    return planted_comparison(tmp_path_factory.mktemp("review"))


@pytest.fixture
def compare_dir(planted: Path, tmp_path: Path) -> Path:
    """A private copy of the planted comparison (its runs stay where the comparison recorded them)."""
    return Path(shutil.copytree(planted, tmp_path / "compare"))


@pytest.fixture
def make_widgets() -> Iterator[Callable[..., Any]]:
    """Build `ReviewWidgets`; after the test, any exception raised inside a widget callback fails it.

    ipywidgets swallows callback exceptions into a log, so the panels record them and this fixture re-raises.
    """
    from promptlab.review import review_widgets

    built: list[Any] = []

    def make(source: Any, **options: Any) -> Any:
        options.setdefault("clock", lambda: NOW)
        widgets = review_widgets(source, **options)
        built.append(widgets)
        return widgets

    yield make
    raise_callback_errors(built)


def raise_callback_errors(built: list[Any]) -> None:
    """Fail when any of these widgets recorded an exception inside a callback."""
    errors = [e for w in built for e in w.callback_errors]
    if errors:
        raise AssertionError(f"{len(errors)} widget callback(s) raised: {errors[0]!r}") from errors[0]
