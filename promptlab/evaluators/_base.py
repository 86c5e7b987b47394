"""The evaluator seam: one `evaluate(ctx)` (sync or async) per evaluator, built from specs."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from promptlab._util.spec import Pluggable, Spec, SpecRegistry
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case
from promptlab.providers import ToolCall

__all__ = [
    "EvaluationResult",
    "Evaluator",
    "EvaluatorContext",
    "build_evaluator",
    "evaluate_all",
    "evaluate_one",
    "evaluator_labels",
    "evaluators",
    "json_error",
    "parse_json_output",
]

evaluators: SpecRegistry[Evaluator] = SpecRegistry("evaluator")
"""The evaluator registry; `@evaluators.register("name")` adds one."""


@dataclass(kw_only=True)
class EvaluationResult:
    """An evaluator's verdict: pass/fail and/or a score, with a reason."""

    passed: bool | None = None
    score: float | None = None
    reason: str = ""


@dataclass(kw_only=True)
class EvaluatorContext:
    """Everything an evaluator may look at for one case result."""

    case: Case
    artifact: PromptArtifact
    output: str | None
    tool_calls: Sequence[ToolCall] = ()
    tool_outputs: Sequence[Any] = ()
    """What each tool call returned to the model (canned result or error text), aligned with `tool_calls`."""
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    baseline_output: str | None = None
    """The baseline version's output for the same case, when the run was given a baseline."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def parsed(self) -> Any:
        """The output parsed as JSON (fenced ```json blocks accepted), or `None` when it is not JSON."""
        return parse_json_output(self.output)

    @property
    def tool_sequence(self) -> list[str]:
        """Names of the tools called, in order."""
        return [c.name for c in self.tool_calls]


def _json_body(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body


def parse_json_output(text: str | None) -> Any:
    """Parse model output as JSON, tolerating a Markdown code fence around it; `None` if it is not JSON."""
    if text is None:
        return None
    try:
        return orjson.loads(_json_body(text))
    except orjson.JSONDecodeError:
        return None


def json_error(text: str | None) -> str | None:
    """Why model output is not JSON (a code fence around it is accepted), or `None` when it parses.

    Unlike `parse_json_output`, this tells a literal `null` apart from text that does not parse.
    """
    if text is None:
        return "no output"
    try:
        orjson.loads(_json_body(text))
    except orjson.JSONDecodeError as exc:
        return str(exc)
    return None


class Evaluator(Pluggable, ABC):
    """Base class: subclass as a keyword-only dataclass, register with `@evaluators.register("name")`."""

    @abstractmethod
    def evaluate(
        self, ctx: EvaluatorContext
    ) -> EvaluationResult | bool | float | Awaitable[EvaluationResult | bool | float]:
        """Grade one result. May be `async`. Return a result, a bool (pass/fail) or a float score in [0, 1]."""


def build_evaluator(spec: Spec | str | dict[str, Any]) -> Evaluator:
    """Build an evaluator from a spec or one of its YAML short forms."""
    return evaluators.build(spec)


def evaluator_labels(specs: Sequence[Spec]) -> list[str]:
    """Column labels for specs: the name, or `name_2`, `name_3` ... when a name repeats."""
    counts: dict[str, int] = {}
    labels = []
    for spec in specs:
        counts[spec.name] = counts.get(spec.name, 0) + 1
        labels.append(spec.name if counts[spec.name] == 1 else f"{spec.name}_{counts[spec.name]}")
    return labels


def _coerce(value: Any) -> EvaluationResult:
    if isinstance(value, EvaluationResult):
        return value
    if isinstance(value, bool):
        return EvaluationResult(passed=value)
    if isinstance(value, (int, float)):
        return EvaluationResult(score=float(value))
    raise TypeError(f"evaluate() returned {type(value).__name__}; expected EvaluationResult, bool or float")


async def evaluate_one(evaluator: Evaluator, ctx: EvaluatorContext) -> tuple[EvaluationResult | None, str | None]:
    """Run one evaluator; an exception becomes an error message instead of propagating."""
    try:
        value = evaluator.evaluate(ctx)
        if inspect.isawaitable(value):
            value = await value
        return _coerce(value), None
    except Exception as exc:  # noqa: BLE001 - an evaluator bug must not crash the run
        return None, f"{type(exc).__name__}: {exc}"


async def evaluate_all(
    labelled: Sequence[tuple[str, Evaluator]], ctx: EvaluatorContext
) -> dict[str, tuple[EvaluationResult | None, str | None]]:
    """Run every evaluator on one context, in order."""
    return {label: await evaluate_one(ev, ctx) for label, ev in labelled}
