"""The evaluator seam: errors become outcomes, specs round-trip, bad specs are one-line errors, the public API."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

import promptlab.evaluators as ev
from promptlab._util.spec import Spec
from promptlab.errors import SpecError
from promptlab.evaluators import (
    Contains,
    EvaluationResult,
    Evaluator,
    EvaluatorContext,
    JsonValid,
    build_evaluator,
    evaluate_all,
    evaluate_one,
    evaluators,
    json_error,
    parse_json_output,
)
from tests.evaluators.conftest import MakeCtx


@dataclass(kw_only=True)
class _Raises(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        raise ValueError("boom")


@dataclass(kw_only=True)
class _AsyncScore(Evaluator):
    value: Any = 0.75

    async def evaluate(self, ctx: EvaluatorContext) -> Any:
        await asyncio.sleep(0)
        return self.value


def test_an_evaluator_that_raises_becomes_an_error_not_a_crash(make_ctx: MakeCtx) -> None:
    result, error = asyncio.run(evaluate_one(_Raises(), make_ctx("x")))
    assert result is None and error == "ValueError: boom"


def test_a_built_in_that_raises_becomes_an_error(make_ctx: MakeCtx) -> None:
    # Built directly (not from a spec), nothing validated the argument; the failure surfaces when grading.
    result, error = asyncio.run(evaluate_one(Contains(value=None), make_ctx("text")))  # type: ignore[arg-type]
    assert result is None
    assert error is not None and error.startswith("TypeError: ")


def test_async_evaluators_are_awaited_and_plain_values_coerced(make_ctx: MakeCtx) -> None:
    ctx = make_ctx("x")
    assert asyncio.run(evaluate_one(_AsyncScore(), ctx)) == (EvaluationResult(score=0.75), None)
    assert asyncio.run(evaluate_one(_AsyncScore(value=True), ctx)) == (EvaluationResult(passed=True), None)
    result, error = asyncio.run(evaluate_one(_AsyncScore(value="yes"), ctx))
    assert result is None and error == "TypeError: evaluate() returned str; expected EvaluationResult, bool or float"


def test_evaluate_all_keeps_going_after_an_evaluator_error(make_ctx: MakeCtx) -> None:
    outcomes = asyncio.run(evaluate_all([("broken", _Raises()), ("json_valid", JsonValid())], make_ctx("{}")))
    assert outcomes["broken"] == (None, "ValueError: boom")
    assert outcomes["json_valid"][0] is not None and outcomes["json_valid"][0].passed is True


def test_json_error_tells_null_from_garbage() -> None:
    assert json_error("null") is None and parse_json_output("null") is None
    assert json_error("```json\n[1]\n```") is None and parse_json_output("```json\n[1]\n```") == [1]
    assert json_error("{nope") is not None
    assert json_error(None) == "no output"


# One spec per built-in, with every argument away from its default, as a suite file would hold it.
FULL_SPECS: list[dict[str, Any]] = [
    {"equals": {"value": "ok", "strip": False}},
    {"contains": {"value": "order", "case_sensitive": False}},
    {"not_contains": {"value": "lawyer", "case_sensitive": False}},
    {"regex": {"pattern": r"ORD-\d+", "must_match": False}},
    {"json_valid": None},
    {"json_schema": {"schema": {"type": "object", "required": ["a"]}, "max_errors": 5}},
    {"required_fields": {"fields": ["category", "order.id"], "allow_null": True}},
    {"fields_match": {"fields": {"category": "refund", "order.total": 12.5}, "case_sensitive": False}},
    {"hallucinated_fields": {"grounded_fields": ["order_id"], "schema": {"properties": {"a": {}}}}},
    {"refusal": {"patterns": ["nope"], "field": "refused", "refusal_values": [True, "yes"]}},
    {"tool_sequence": {"expected": ["lookup_order", "refund"], "mode": "in_order"}},
    {"verbosity": {"max_words": 120, "max_chars": 800, "max_ratio": 1.5, "field": "reply"}},
    {"latency": {"max_s": 2.5}},
    {"cost": {"max_usd": 0.01}},
    {
        "llm_judge": {
            "rubric": "The reply is polite and answers the question.",
            "model": "judge-model",
            "provider": {"openai": {"base_url": "http://127.0.0.1:9/v1"}},
            "threshold": 0.7,
            "temperature": 0.3,
            "max_tokens": 200,
            "template": "{{ rubric }} / {{ output }}",
            "cache": "judge-cache",
            "cache_mode": "read-only",
        }
    },
]


def _built_ins() -> list[str]:
    # Other test modules register their own evaluators in the same process; only the package's count here.
    return [n for n in evaluators.names() if evaluators.get(n).__module__.startswith("promptlab.evaluators.")]


def test_every_built_in_has_a_full_spec_here() -> None:
    assert sorted(next(iter(s)) for s in FULL_SPECS) == _built_ins()


@pytest.mark.parametrize("data", FULL_SPECS, ids=lambda d: next(iter(d)))
def test_every_built_in_round_trips_through_its_spec_and_yaml(data: dict[str, Any]) -> None:
    name, args = next(iter(data.items()))
    spec = Spec.model_validate(data)
    built = build_evaluator(spec)
    assert built.to_spec() == spec
    assert built.to_spec().model_dump(mode="json") == (name if args is None else data)
    reread = Spec.model_validate(yaml.safe_load(yaml.safe_dump(built.to_spec().model_dump(mode="json"))))
    assert build_evaluator(reread) == built


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("json_valid", {"json_valid": {}}),
        ({"contains": "order"}, {"contains": {"value": "order"}}),
        ({"not_contains": "lawyer"}, {"not_contains": {"value": "lawyer"}}),
        ({"regex": "^ok$"}, {"regex": {"pattern": "^ok$"}}),
        ({"equals": "ok"}, {"equals": {"value": "ok"}}),
        ({"required_fields": ["a", "b.c"]}, {"required_fields": {"fields": ["a", "b.c"]}}),
        ({"hallucinated_fields": ["order_id"]}, {"hallucinated_fields": {"grounded_fields": ["order_id"]}}),
        ({"tool_sequence": ["lookup_order"]}, {"tool_sequence": {"expected": ["lookup_order"]}}),
        ({"verbosity": 50}, {"verbosity": {"max_words": 50}}),
        ({"latency": 2}, {"latency": {"max_s": 2}}),
        ({"cost": 0.01}, {"cost": {"max_usd": 0.01}}),
        ({"refusal": None}, "refusal"),
    ],
)
def test_short_forms_build_the_same_evaluator_as_the_long_form(short: Any, long: Any) -> None:
    built = build_evaluator(short)
    assert built == build_evaluator(long)
    assert build_evaluator(built.to_spec()) == built


def test_defaults_are_left_out_of_the_recorded_spec() -> None:
    assert build_evaluator({"contains": {"value": "x", "case_sensitive": True}}).to_spec().model_dump() == {
        "contains": {"value": "x"}
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("exact_match", "unknown evaluator 'exact_match' (known: contains, cost, equals, "),
        (
            {"contains": {"valeu": "x"}},
            "evaluator 'contains': unknown argument 'valeu' (expected: value, case_sensitive)",
        ),
        ({"contains": {"value": "x", "case_sensitive": "maybe"}}, "evaluator 'contains': argument 'case_sensitive': "),
        ({"contains": {"value": 3}}, "evaluator 'contains': argument 'value': input should be a valid string"),
        (
            {"required_fields": "category"},
            "evaluator 'required_fields': argument 'fields': input should be a valid list",
        ),
        ({"regex": "(unclosed"}, "evaluator 'regex': argument 'pattern': bad regular expression '(unclosed'"),
        ({"json_valid": "x"}, "evaluator 'json_valid' takes no arguments"),
        ("contains", "evaluator 'contains': missing required argument 'value'"),
        ({"contains": "x", "regex": "y"}, "bad evaluator spec"),
        (
            {"llm_judge": {"rubric": "r", "model": "m", "template": "{{ answer }}"}},
            "evaluator 'llm_judge': argument 'template': unknown variable 'answer'",
        ),
        (
            {"llm_judge": {"rubric": "r", "model": "m", "provider": "carrier-pigeon"}},
            "evaluator 'llm_judge': argument 'provider': unknown provider 'carrier-pigeon'",
        ),
        ({"llm_judge": {"rubric": "r", "model": "m", "threshold": 2}}, "evaluator 'llm_judge': argument 'threshold'"),
    ],
)
def test_bad_specs_are_one_line_spec_errors(spec: Any, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        build_evaluator(spec)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_every_built_in_is_a_keyword_only_dataclass_with_a_one_line_docstring() -> None:
    for name in _built_ins():
        cls = evaluators.get(name)
        assert dataclasses.is_dataclass(cls) and issubclass(cls, Evaluator)
        assert all(f.kw_only for f in dataclasses.fields(cls)), name
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        assert summary.endswith("."), name
        assert getattr(ev, cls.__name__) is cls, f"{cls.__name__} is not re-exported"


def test_public_api_is_sorted_and_complete() -> None:
    assert ev.__all__ == sorted(ev.__all__)
    for name in ev.__all__:
        assert hasattr(ev, name), name
    for name in (
        "Evaluator",
        "EvaluatorContext",
        "EvaluationResult",
        "build_evaluator",
        "evaluators",
        "detect_refusal",
    ):
        assert name in ev.__all__
