"""Behaviour evaluators: refusal, tool_sequence, verbosity."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from promptlab.errors import SpecError
from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators, parse_json_output
from promptlab.evaluators._common import MISSING, clip, clip_output, lookup
from promptlab.evaluators._refusal import detect_refusal

__all__ = ["Refusal", "ToolSequence", "Verbosity"]


@evaluators.register("refusal")
@dataclass(kw_only=True)
class Refusal(Evaluator):
    """Passes when the output refuses exactly when the case's `expected.should_refuse` says it should."""

    patterns: list[str] | None = None
    """Regular expressions (case-insensitive) that mark a refusal; `None` means the built-in English phrasings."""
    field: str | None = None
    """A top-level field of a JSON output that decides instead of the text (e.g. `refused`)."""
    refusal_values: list[Any] | None = None
    """Values of `field` that mean a refusal; `None` means `true`, "refusal", "refused", "refuse"."""

    def __post_init__(self) -> None:
        for i, pattern in enumerate(self.patterns or []):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise SpecError(
                    f"evaluator 'refusal': argument 'patterns.{i}': bad regular expression {pattern!r}: {exc}"
                ) from None

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Detect a refusal and compare it with the case's expectation."""
        options: dict[str, Any] = {"patterns": self.patterns, "parsed": ctx.parsed, "field": self.field}
        if self.refusal_values is not None:
            options["refusal_values"] = tuple(self.refusal_values)
        refused = detect_refusal(ctx.output, **options)
        seen = "a refusal" if refused else "an answer"
        should = ctx.case.expected.should_refuse
        if should is None:
            return EvaluationResult(
                reason=f"got {seen}; the case does not say whether it should refuse (expected.should_refuse)"
            )
        if refused == should:
            return EvaluationResult(passed=True, reason=f"{'refused' if refused else 'answered'} as expected")
        wanted = "a refusal" if should else "an answer"
        return EvaluationResult(passed=False, reason=f"expected {wanted}, got {seen}: {clip_output(ctx.output)}")


@evaluators.register("tool_sequence")
@dataclass(kw_only=True)
class ToolSequence(Evaluator):
    """Passes when the tools called match the expected sequence (exact, in-order subsequence, or contains)."""

    expected: list[str] | None = None
    """Tool names in order; `None` means the case's `expected.tool_sequence`."""
    mode: Literal["exact", "in_order", "contains"] = "exact"
    """`exact`: the same calls in the same order; `in_order`: the expected calls appear in this order, other calls
    may come between; `contains`: each expected call appears (as often as listed), in any order."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Compare called tool names with the expected ones; the reason shows both and what is missing."""
        expected = self.expected if self.expected is not None else ctx.case.expected.tool_sequence
        if expected is None:
            return EvaluationResult(
                reason="nothing to check: no `expected` argument and no expected.tool_sequence in the case"
            )
        called = ctx.tool_sequence
        shown = f"expected {_names(expected)} ({self.mode.replace('_', '-')}), called {_names(called)}"
        if self.mode == "exact":
            passed = called == expected
            detail = ""
        elif self.mode == "in_order":
            matched = _subsequence_prefix(expected, called)
            passed = matched == len(expected)
            detail = "" if passed else f": no {expected[matched]!r} after the first {matched} expected call(s)"
        else:
            lacking = Counter(expected) - Counter(called)
            passed = not lacking
            detail = "" if passed else ": missing " + ", ".join(sorted(lacking.elements()))
        return EvaluationResult(passed=passed, reason=shown + detail)


@evaluators.register("verbosity")
@dataclass(kw_only=True)
class Verbosity(Evaluator):
    """Passes when the answer stays within its length budget; score is the share of the tightest budget used.

    Budgets: `max_words` (else the case's `expected.max_words`), `max_chars`, and `max_ratio` times the words of
    the baseline's answer to the same case (when the run has a baseline). A score of 1.0 means exactly at budget.
    """

    max_words: Annotated[int, Field(gt=0)] | None = None
    """Word budget; `None` means the case's `expected.max_words`, if any."""
    max_chars: Annotated[int, Field(gt=0)] | None = None
    """Character budget."""
    max_ratio: Annotated[float, Field(gt=0)] | None = None
    """Allowed words relative to the baseline's answer (1.2 = at most 20% longer)."""
    field: str | None = None
    """Measure only this dotted path of a JSON output (e.g. `reply`) instead of the whole output."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Measure words and characters against each budget that applies."""
        text, problem = self._measured(ctx.output, ctx.parsed)
        if text is None:
            return EvaluationResult(reason=f"not applicable: {problem}")
        words, chars = len(text.split()), len(text)
        checks: list[tuple[float, str]] = []  # (share of budget used, description)
        notes: list[str] = []
        word_budget = self.max_words if self.max_words is not None else ctx.case.expected.max_words
        if word_budget is not None:
            checks.append((words / word_budget, f"{words} words (budget {word_budget})"))
        if self.max_chars is not None:
            checks.append((chars / self.max_chars, f"{chars} chars (budget {self.max_chars})"))
        if self.max_ratio is not None:
            base, base_problem = self._measured(ctx.baseline_output, parse_json_output(ctx.baseline_output))
            base_words = len(base.split()) if base is not None else 0
            if base is None:
                notes.append(
                    f"no baseline ratio: {'no baseline answer' if ctx.baseline_output is None else base_problem}"
                )
            elif base_words == 0:
                notes.append("no baseline ratio: the baseline's answer is empty")
            else:
                ratio = words / base_words
                checks.append(
                    (
                        ratio / self.max_ratio,
                        f"{ratio:.2f}x the baseline's {base_words} words (allowed {self.max_ratio}x)",
                    )
                )
        if not checks:
            why = "; ".join(notes) or "no max_words, max_chars or max_ratio, and no expected.max_words in the case"
            return EvaluationResult(reason=f"nothing to check: {why}")
        share = max(c[0] for c in checks)
        over = [d for s, d in checks if s > 1]
        within = [d for s, d in checks if s <= 1]
        reason = "; ".join(within)
        if over:
            reason = "over budget: " + "; ".join(over) + (f"; within: {reason}" if within else "")
        return EvaluationResult(passed=not over, score=round(share, 4), reason="; ".join([reason, *notes]))

    def _measured(self, output: str | None, parsed: Any) -> tuple[str | None, str]:
        if output is None:
            return None, "no output"
        if self.field is None:
            return output, ""
        if not isinstance(parsed, (dict, list)):
            return None, f"cannot measure field {self.field!r}: the output is not a JSON object"
        value = lookup(parsed, self.field)
        if not isinstance(value, str):
            found = "it is missing" if value is MISSING else f"it is {clip(value, 30)}"
            return None, f"field {self.field!r} is not text ({found})"
        return value, ""


def _names(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


def _subsequence_prefix(expected: list[str], called: list[str]) -> int:
    """How many of `expected` are matched, in order, by a greedy scan of `called`."""
    matched = 0
    for name in called:
        if matched < len(expected) and name == expected[matched]:
            matched += 1
    return matched
