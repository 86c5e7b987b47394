"""refusal, tool_sequence, verbosity."""

from __future__ import annotations

import orjson
import pytest

from promptlab.errors import SpecError
from promptlab.evaluators import Refusal, ToolSequence, Verbosity, build_evaluator
from promptlab.providers import ToolCall
from tests.evaluators.conftest import Grade, MakeCtx

REFUSAL = "I'm sorry, but I can't help with legal advice. Please consult a lawyer."
ANSWER = "Your parcel left our warehouse this morning."


def calls(*names: str) -> list[ToolCall]:
    return [ToolCall(id=f"c{i}", name=n, arguments="{}") for i, n in enumerate(names)]


@pytest.mark.parametrize(
    ("output", "should_refuse", "passed"),
    [(REFUSAL, True, True), (ANSWER, False, True), (ANSWER, True, False), (REFUSAL, False, False)],
)
def test_refusal_passes_when_detection_matches_should_refuse(
    make_ctx: MakeCtx, grade: Grade, output: str, should_refuse: bool, passed: bool
) -> None:
    result = grade(Refusal(), make_ctx(output, expected={"should_refuse": should_refuse}))
    assert result.passed is passed


def test_refusal_failure_reason_says_what_was_expected_and_found(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Refusal(), make_ctx(ANSWER, expected={"should_refuse": True}))
    assert result.reason == f'expected a refusal, got an answer: "{ANSWER}"'


def test_refusal_is_not_graded_when_the_case_does_not_say(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Refusal(), make_ctx(REFUSAL))
    assert result.passed is None
    assert result.reason.startswith("got a refusal; the case does not say")


def test_refusal_custom_patterns_replace_the_built_in_ones(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("Das kann ich leider nicht beantworten.", expected={"should_refuse": True})
    assert grade(Refusal(), ctx).passed is False
    assert grade(Refusal(patterns=[r"\bkann ich leider nicht\b"]), ctx).passed is True


def test_refusal_field_of_a_json_output_decides(make_ctx: MakeCtx, grade: Grade) -> None:
    out = orjson.dumps({"category": "legal", "status": "declined", "reply": "Happy to help!"}).decode()
    ctx = make_ctx(out, expected={"should_refuse": True})
    assert grade(Refusal(field="status"), ctx).passed is False
    assert grade(Refusal(field="status", refusal_values=["declined"]), ctx).passed is True


def test_refusal_reads_the_string_values_of_a_json_output(make_ctx: MakeCtx, grade: Grade) -> None:
    out = orjson.dumps({"category": "legal", "reply": REFUSAL}).decode()
    assert grade(Refusal(), make_ctx(out, expected={"should_refuse": True})).passed is True


def test_refusal_with_a_bad_pattern_is_a_spec_error_naming_it() -> None:
    with pytest.raises(SpecError, match=r"^evaluator 'refusal': argument 'patterns.1': bad regular expression '\('"):
        build_evaluator({"refusal": {"patterns": ["ok", "("]}})


@pytest.mark.parametrize(
    ("mode", "called", "passed"),
    [
        ("exact", ["lookup_order", "refund"], True),
        ("exact", ["lookup_order", "lookup_order", "refund"], False),
        ("in_order", ["lookup_order", "lookup_order", "refund"], True),
        ("in_order", ["refund", "lookup_order"], False),
        ("contains", ["refund", "lookup_order"], True),
        ("contains", ["refund"], False),
    ],
)
def test_tool_sequence_modes(make_ctx: MakeCtx, grade: Grade, mode: str, called: list[str], passed: bool) -> None:
    ctx = make_ctx(ANSWER, expected={"tool_sequence": ["lookup_order", "refund"]}, tool_calls=calls(*called))
    assert grade(ToolSequence(mode=mode), ctx).passed is passed  # type: ignore[arg-type]


def test_tool_sequence_reasons_show_expected_called_and_what_is_missing(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(ANSWER, tool_calls=calls("refund", "lookup_order"))
    expected = ["lookup_order", "refund"]
    in_order = grade(ToolSequence(expected=expected, mode="in_order"), ctx)
    assert in_order.reason == (
        "expected [lookup_order, refund] (in-order), called [refund, lookup_order]: "
        "no 'refund' after the first 1 expected call(s)"
    )
    contains = grade(ToolSequence(expected=[*expected, "refund"], mode="contains"), ctx)
    assert contains.reason.endswith(": missing refund")
    assert grade(ToolSequence(expected=expected), ctx).reason == (
        "expected [lookup_order, refund] (exact), called [refund, lookup_order]"
    )


def test_tool_sequence_expected_argument_overrides_the_case(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(ANSWER, expected={"tool_sequence": ["refund"]}, tool_calls=calls("lookup_order"))
    assert grade(ToolSequence(expected=["lookup_order"]), ctx).passed is True


def test_tool_sequence_empty_expectation_means_no_tool_calls(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(ToolSequence(expected=[]), make_ctx(ANSWER)).passed is True
    assert grade(ToolSequence(expected=[]), make_ctx(ANSWER, tool_calls=calls("refund"))).passed is False


def test_tool_sequence_not_applicable_without_an_expectation(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(ToolSequence(), make_ctx(ANSWER, tool_calls=calls("refund")))
    assert result.passed is None and "expected.tool_sequence" in result.reason


def test_tool_sequence_rejects_an_unknown_mode() -> None:
    with pytest.raises(SpecError, match="argument 'mode': input should be 'exact', 'in_order' or 'contains'"):
        build_evaluator({"tool_sequence": {"mode": "any"}})


def test_verbosity_word_budget_scores_the_share_used(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(max_words=10), make_ctx("one two three four five"))
    assert result.passed is True and result.score == 0.5
    assert result.reason == "5 words (budget 10)"


def test_verbosity_over_budget_fails_naming_the_budget(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(max_words=3, max_chars=100), make_ctx("one two three four five six"))
    assert result.passed is False and result.score == 2.0
    assert result.reason == "over budget: 6 words (budget 3); within: 27 chars (budget 100)"


def test_verbosity_char_budget(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(max_chars=10), make_ctx("x" * 25))
    assert result.passed is False and result.score == 2.5


def test_verbosity_uses_the_case_max_words_when_no_argument(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("a b c d", expected={"max_words": 2})
    assert grade(Verbosity(), ctx).passed is False
    assert grade(Verbosity(max_words=5), ctx).passed is True


def test_verbosity_ratio_against_the_baseline_answer(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("w " * 18, baseline_output="w " * 10)
    result = grade(Verbosity(max_ratio=1.5), ctx)
    assert result.passed is False
    assert result.score == 1.2
    assert result.reason == "over budget: 1.80x the baseline's 10 words (allowed 1.5x)"
    assert grade(Verbosity(max_ratio=2.0), ctx).passed is True


def test_verbosity_ratio_without_a_baseline_is_not_applicable(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(max_ratio=1.5), make_ctx("short"))
    assert result.passed is None
    assert result.reason == "nothing to check: no baseline ratio: no baseline answer"
    empty = grade(Verbosity(max_ratio=1.5), make_ctx("short", baseline_output="  "))
    assert "baseline's answer is empty" in empty.reason


def test_verbosity_ratio_missing_still_applies_other_budgets_and_says_so(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(max_words=10, max_ratio=1.5), make_ctx("short"))
    assert result.passed is True
    assert result.reason == "1 words (budget 10); no baseline ratio: no baseline answer"


def test_verbosity_can_measure_one_field_of_a_json_answer(make_ctx: MakeCtx, grade: Grade) -> None:
    out = orjson.dumps({"category": "shipping", "reply": "It ships today, sorry for the wait."}).decode()
    base = orjson.dumps({"category": "shipping", "reply": "Ships today."}).decode()
    result = grade(Verbosity(field="reply", max_words=10, max_ratio=2.0), make_ctx(out, baseline_output=base))
    assert result.passed is False
    assert result.reason == "over budget: 3.50x the baseline's 2 words (allowed 2.0x); within: 7 words (budget 10)"


def test_verbosity_field_missing_or_not_text_is_not_applicable(make_ctx: MakeCtx, grade: Grade) -> None:
    assert "not a JSON object" in grade(Verbosity(field="reply", max_words=5), make_ctx("text")).reason
    result = grade(Verbosity(field="reply", max_words=5), make_ctx('{"reply": 3}'))
    assert result.passed is None and result.reason == "not applicable: field 'reply' is not text (it is 3)"
    assert "it is missing" in grade(Verbosity(field="reply", max_words=5), make_ctx("{}")).reason


def test_verbosity_without_any_budget_is_not_applicable(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Verbosity(), make_ctx("words"))
    assert result.passed is None and result.reason.startswith("nothing to check")


def test_verbosity_rejects_a_non_positive_budget() -> None:
    with pytest.raises(SpecError, match=r"^evaluator 'verbosity': argument 'max_words': input should be greater"):
        build_evaluator({"verbosity": 0})
