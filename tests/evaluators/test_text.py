"""equals, contains, not_contains, regex."""

from __future__ import annotations

import pytest

from promptlab.errors import SpecError
from promptlab.evaluators import Contains, Equals, NotContains, Regex, build_evaluator
from tests.evaluators.conftest import Grade, MakeCtx


def test_equals_passes_on_the_case_expected_output_ignoring_surrounding_whitespace(
    make_ctx: MakeCtx, grade: Grade
) -> None:
    result = grade(Equals(), make_ctx("  Your order ships today.\n", expected={"output": "Your order ships today."}))
    assert result.passed is True


def test_equals_fails_and_shows_where_the_texts_first_differ(make_ctx: MakeCtx, grade: Grade) -> None:
    intro = "Thanks for writing in about your order from last week. "
    result = grade(Equals(value=intro + "The refund is on its way."), make_ctx(intro + "The return is on its way."))
    assert result.passed is False
    assert result.reason.startswith(f"differs at char {len(intro) + 6}:")
    assert '"…er from last week. The refund is on its way."' in result.reason
    assert '"…er from last week. The return is on its way."' in result.reason


def test_equals_value_argument_overrides_the_case(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("yes", expected={"output": "no"})
    assert grade(Equals(value="yes"), ctx).passed is True
    assert grade(Equals(), ctx).passed is False


def test_equals_with_strip_off_counts_whitespace(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(Equals(value="ok", strip=False), make_ctx("ok\n")).passed is False


def test_equals_reports_a_prefix_difference_at_the_shorter_length(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Equals(value="ok then"), make_ctx("ok"))
    assert result.passed is False and "char 2" in result.reason


def test_equals_is_not_applicable_without_an_expected_text(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Equals(), make_ctx("anything"))
    assert result.passed is None
    assert "no expected.output" in result.reason


def test_equals_fails_on_a_missing_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Equals(value="x"), make_ctx(None))
    assert result.passed is False and "no output" in result.reason


def test_contains_finds_the_text_and_says_where(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Contains(value="ORD-1042"), make_ctx("Order ORD-1042 shipped."))
    assert result.passed is True
    assert "char 6" in result.reason


def test_contains_fails_and_quotes_the_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Contains(value="refund"), make_ctx("We shipped it."))
    assert result.passed is False
    assert '"refund"' in result.reason and '"We shipped it."' in result.reason


def test_contains_is_case_sensitive_unless_told_otherwise(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("REFUND approved")
    assert grade(Contains(value="refund"), ctx).passed is False
    assert grade(Contains(value="refund", case_sensitive=False), ctx).passed is True


def test_contains_truncates_a_long_output_in_its_reason(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Contains(value="needle"), make_ctx("hay " * 500))
    assert result.passed is False
    assert len(result.reason) < 200 and "…" in result.reason


def test_contains_fails_on_a_missing_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Contains(value="x"), make_ctx(None))
    assert result.passed is False and "no output" in result.reason


def test_not_contains_passes_when_absent(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(NotContains(value="lawyer"), make_ctx("We can help.")).passed is True


def test_not_contains_fails_and_quotes_the_place_found(make_ctx: MakeCtx, grade: Grade) -> None:
    text = "A" * 100 + " please contact your lawyer about this " + "B" * 100
    result = grade(NotContains(value="LAWYER", case_sensitive=False), make_ctx(text))
    assert result.passed is False
    assert "char 121" in result.reason
    assert "your lawyer about" in result.reason and "…" in result.reason


def test_regex_passes_on_a_match_anywhere_and_quotes_it(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Regex(pattern=r"ORD-\d+"), make_ctx("see ORD-1042 for details"))
    assert result.passed is True
    assert "ORD-1042" in result.reason and "char 4" in result.reason


def test_regex_fails_without_a_match(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(Regex(pattern=r"^\{"), make_ctx("Sure! {}"))
    assert result.passed is False
    assert "no match" in result.reason


def test_regex_must_not_match_inverts_the_verdict(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx("call 555-0100 now")
    result = grade(Regex(pattern=r"\d{3}-\d{4}", must_match=False), ctx)
    assert result.passed is False and result.reason.startswith("unwanted match")
    assert grade(Regex(pattern=r"@", must_match=False), ctx).passed is True


def test_regex_supports_inline_flags(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(Regex(pattern=r"(?i)^sorry"), make_ctx("SORRY, no.")).passed is True


@pytest.mark.parametrize("pattern", ["(", "[a-", "*x"])
def test_regex_with_a_bad_pattern_is_a_spec_error_at_build_time(pattern: str) -> None:
    with pytest.raises(SpecError, match=r"^evaluator 'regex': argument 'pattern': bad regular expression") as exc:
        build_evaluator({"regex": pattern})
    assert "\n" not in str(exc.value)
    with pytest.raises(SpecError):
        Regex(pattern=pattern)
