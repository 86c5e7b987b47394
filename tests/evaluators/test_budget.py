"""latency and cost budgets."""

from __future__ import annotations

import pytest

from promptlab.errors import SpecError
from promptlab.evaluators import Cost, Latency, build_evaluator
from tests.evaluators.conftest import Grade, MakeCtx


def test_latency_within_budget_passes(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Latency(max_s=2), make_ctx("ok", latency_s=1.25))
    assert result.passed is True and result.reason == "1.250s, within the 2s budget"


def test_latency_over_budget_fails(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Latency(max_s=0.5), make_ctx("ok", latency_s=0.75))
    assert result.passed is False and result.reason == "0.750s, over the 0.5s budget"


def test_latency_of_a_cached_result_is_its_recorded_latency(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Latency(max_s=1), make_ctx("ok", latency_s=3.0, cached=True))
    assert result.passed is False
    assert "recorded when first answered" in result.reason


def test_latency_not_recorded_is_not_applicable(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(Latency(max_s=1), make_ctx("ok")).passed is None


def test_cost_within_and_over_budget(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("ok", cost_usd=0.0021, input_tokens=1000, output_tokens=550)
    within = grade(Cost(max_usd=0.01), ctx)
    assert within.passed is True
    assert within.reason == "$0.002100 (1000 in + 550 out tokens), within the $0.01 budget"
    assert grade(Cost(max_usd=0.002), ctx).passed is False


def test_cost_budget_of_zero_allows_only_free_calls(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(Cost(max_usd=0), make_ctx("ok", cost_usd=0.0)).passed is True
    assert grade(Cost(max_usd=0), make_ctx("ok", cost_usd=1e-6)).passed is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"latency": 0}, "evaluator 'latency': argument 'max_s': input should be greater than 0"),
        ({"cost": -0.1}, "evaluator 'cost': argument 'max_usd': input should be greater than or equal to 0"),
        ("latency", "evaluator 'latency': missing required argument 'max_s'"),
        ({"cost": "cheap"}, "evaluator 'cost': argument 'max_usd': input should be a valid number"),
    ],
)
def test_bad_budgets_are_one_line_spec_errors(spec: object, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        build_evaluator(spec)  # type: ignore[arg-type]
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
