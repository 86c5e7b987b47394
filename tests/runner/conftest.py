"""Fixtures for runner tests: a loopback model server, small projects on disk, and two test-only evaluators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptlab.evaluators import EvaluationResult, Evaluator, EvaluatorContext, evaluators
from tests._support.fake_openai import FakeOpenAI, fake_openai
from tests.runner._project import Project, simple_cases, write_project

__all__ = ["fake_openai"]


@evaluators.register("test_raises")
@dataclass(kw_only=True)
class _Raises(Evaluator):
    """Always raises: exercises the `evaluator_error` outcome."""

    def evaluate(self, ctx: EvaluatorContext) -> bool:
        raise RuntimeError("evaluator bug")


@evaluators.register("test_baseline_seen")
@dataclass(kw_only=True)
class _BaselineSeen(Evaluator):
    """Passes when the baseline's output reached the context; the reason carries it."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        return EvaluationResult(passed=ctx.baseline_output is not None, reason=str(ctx.baseline_output))


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's endpoint or key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Project]:
    """`project(cases, **options)` writes a project; see `write_project`."""

    def make(cases: list[dict[str, Any]] | None = None, **options: Any) -> Project:
        return write_project(tmp_path / "project", cases if cases is not None else simple_cases(6), **options)

    return make


@pytest.fixture
def provider_for(fake_openai: FakeOpenAI) -> dict[str, Any]:
    """The provider spec pointing at the loopback server."""
    return {"openai": {"base_url": fake_openai.base_url}}
