"""Budget evaluators: latency and cost per case."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators

__all__ = ["Cost", "Latency"]


@evaluators.register("latency")
@dataclass(kw_only=True)
class Latency(Evaluator):
    """Passes when the call took at most `max_s` seconds (a cached result is judged on its recorded latency)."""

    max_s: Annotated[float, Field(gt=0)]
    """Latency budget in seconds."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Compare the recorded latency with the budget."""
        if ctx.latency_s is None:
            return EvaluationResult(reason="no latency recorded for this result")
        source = " (recorded when first answered; served from cache)" if ctx.cached else ""
        verdict = "within" if ctx.latency_s <= self.max_s else "over"
        return EvaluationResult(
            passed=ctx.latency_s <= self.max_s,
            reason=f"{ctx.latency_s:.3f}s, {verdict} the {self.max_s:g}s budget{source}",
        )


@evaluators.register("cost")
@dataclass(kw_only=True)
class Cost(Evaluator):
    """Passes when the case cost at most `max_usd` (from the artifact's token prices)."""

    max_usd: Annotated[float, Field(ge=0)]
    """Cost budget in US dollars per case."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Compare the case's cost with the budget."""
        verdict = "within" if ctx.cost_usd <= self.max_usd else "over"
        tokens = f"{ctx.input_tokens} in + {ctx.output_tokens} out tokens"
        source = " (cached result)" if ctx.cached else ""
        return EvaluationResult(
            passed=ctx.cost_usd <= self.max_usd,
            reason=f"${ctx.cost_usd:.6f} ({tokens}), {verdict} the ${self.max_usd:g} budget{source}",
        )
