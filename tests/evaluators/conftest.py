"""Fixtures for evaluator tests: a triage artifact, a context factory, a grader and the loopback fake OpenAI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case
from promptlab.evaluators import EvaluationResult, Evaluator, EvaluatorContext, evaluate_one
from tests._support.fake_openai import fake_openai  # noqa: F401 - re-exported fixture

ARTIFACT: dict[str, Any] = {
    "name": "triage",
    "version": "v1",
    "owner": "support-ml@example.com",
    "messages": [
        {"role": "system", "content": "You triage support tickets for {{ company }}. Answer as JSON."},
        {"role": "user", "content": "{{ message }}"},
    ],
    "model": {"name": "gpt-test", "input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0},
    "tools": {
        "schema_version": "1",
        "functions": [
            {"function": {"name": "lookup_order", "parameters": {"type": "object", "properties": {}}}},
            {"function": {"name": "refund", "parameters": {"type": "object", "properties": {}}}},
        ],
    },
    "response_format": {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["refund", "shipping", "legal", "other"]},
            "priority": {"type": "string", "enum": ["low", "medium", "high"]},
            "reply": {"type": "string"},
            "order": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "total": {"type": "number"}},
                "additionalProperties": False,
            },
        },
        "required": ["category", "priority", "reply"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def artifact() -> PromptArtifact:
    """The triage artifact: JSON output with a strict response_format and two tools."""
    return PromptArtifact.from_data(ARTIFACT)


MakeCtx = Callable[..., EvaluatorContext]


@pytest.fixture
def make_ctx(artifact: PromptArtifact) -> MakeCtx:
    """Build an `EvaluatorContext`: `make_ctx(output, expected={...}, vars={...}, **context_fields)`."""

    def make(
        output: str | None,
        *,
        expected: dict[str, Any] | None = None,
        vars: dict[str, Any] | None = None,
        case_id: str = "case-1",
        artifact_data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> EvaluatorContext:
        case = Case.model_validate(
            {
                "id": case_id,
                "vars": vars if vars is not None else {"company": "Acme", "message": "Where is my order ORD-1042?"},
                "segment": {"intent": "shipping"},
                "expected": expected or {},
            }
        )
        used = PromptArtifact.from_data(artifact_data) if artifact_data is not None else artifact
        return EvaluatorContext(case=case, artifact=used, output=output, **fields)

    return make


Grade = Callable[[Evaluator, EvaluatorContext], EvaluationResult]


@pytest.fixture
def grade() -> Grade:
    """Run an evaluator the way a run does (`evaluate_one`) and return its result; fail if it raised."""

    def run(evaluator: Evaluator, ctx: EvaluatorContext) -> EvaluationResult:
        result, error = asyncio.run(evaluate_one(evaluator, ctx))
        assert error is None, error
        assert result is not None
        return result

    return run
