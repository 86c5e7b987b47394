"""Text evaluators: equals, contains, not_contains, regex."""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptlab.errors import SpecError
from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators
from promptlab.evaluators._common import clip, clip_output, excerpt

__all__ = ["Contains", "Equals", "NotContains", "Regex"]


@evaluators.register("equals")
@dataclass(kw_only=True)
class Equals(Evaluator):
    """Passes when the output equals `value` (default: the case's `expected.output`)."""

    value: str | None = None
    """The expected text; `None` means the case's `expected.output`."""
    strip: bool = True
    """Ignore leading and trailing whitespace on both sides."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Compare the output with the expected text; the reason shows where they first differ."""
        expected = self.value if self.value is not None else ctx.case.expected.output
        if expected is None:
            return EvaluationResult(reason="nothing to compare: no `value` argument and no expected.output in the case")
        if ctx.output is None:
            return EvaluationResult(passed=False, reason=f"expected {clip(expected)}, got no output")
        want, got = (expected.strip(), ctx.output.strip()) if self.strip else (expected, ctx.output)
        if want == got:
            return EvaluationResult(passed=True, reason=f"output equals {clip(want)}")
        at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
        return EvaluationResult(
            passed=False,
            reason=f"differs at char {at}: expected {excerpt(want, at, at)}, got {excerpt(got, at, at)}",
        )


@evaluators.register("contains")
@dataclass(kw_only=True)
class Contains(Evaluator):
    """Passes when the output contains `value`."""

    value: str
    """The text that must appear."""
    case_sensitive: bool = True
    """Whether case matters."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Look for the text; the reason shows where it was found or what the output was."""
        at = _find(ctx.output or "", self.value, case_sensitive=self.case_sensitive)
        if at < 0:
            return EvaluationResult(
                passed=False,
                reason=f"expected {clip(self.value)} in the output, not found in {clip_output(ctx.output)}",
            )
        return EvaluationResult(passed=True, reason=f"found {clip(self.value)} at char {at}")


@evaluators.register("not_contains")
@dataclass(kw_only=True)
class NotContains(Evaluator):
    """Passes when the output does not contain `value`."""

    value: str
    """The text that must not appear."""
    case_sensitive: bool = True
    """Whether case matters."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Look for the text; the reason quotes the place it was found."""
        text = ctx.output or ""
        at = _find(text, self.value, case_sensitive=self.case_sensitive)
        if at < 0:
            return EvaluationResult(passed=True, reason=f"{clip(self.value)} does not appear")
        return EvaluationResult(
            passed=False,
            reason=f"expected no {clip(self.value)}, found at char {at}: {excerpt(text, at, at + len(self.value))}",
        )


@evaluators.register("regex")
@dataclass(kw_only=True)
class Regex(Evaluator):
    """Passes when the output matches `pattern` anywhere (or, with `must_match: false`, does not)."""

    pattern: str
    """A Python regular expression, searched anywhere in the output (use `^...$` to anchor, `(?i)` for case)."""
    must_match: bool = True
    """Pass on a match (true) or on the absence of one (false)."""

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise SpecError(
                f"evaluator 'regex': argument 'pattern': bad regular expression {self.pattern!r}: {exc}"
            ) from None

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Search the output; the reason quotes the match or the output."""
        text = ctx.output or ""
        match = re.search(self.pattern, text)
        if match is None:
            reason = f"no match for /{self.pattern}/ in {clip_output(ctx.output)}"
            return EvaluationResult(passed=not self.must_match, reason=reason)
        found = f"/{self.pattern}/ matched {excerpt(text, match.start(), match.end())} at char {match.start()}"
        return EvaluationResult(passed=self.must_match, reason=found if self.must_match else f"unwanted match: {found}")


def _find(text: str, value: str, *, case_sensitive: bool) -> int:
    return text.find(value) if case_sensitive else text.casefold().find(value.casefold())
