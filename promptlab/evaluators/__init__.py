"""Evaluators: the `Evaluator` seam, its registry and the built-ins (text, JSON, behaviour, budgets, LLM judge)."""

from promptlab.evaluators._base import (
    EvaluationResult,
    Evaluator,
    EvaluatorContext,
    build_evaluator,
    evaluate_all,
    evaluate_one,
    evaluator_labels,
    evaluators,
    json_error,
    parse_json_output,
)
from promptlab.evaluators._behaviour import Refusal, ToolSequence, Verbosity
from promptlab.evaluators._budget import Cost, Latency
from promptlab.evaluators._common import clip
from promptlab.evaluators._hallucination import HallucinatedFields, ungrounded_values
from promptlab.evaluators._json import FieldsMatch, JsonSchema, JsonValid, RequiredFields
from promptlab.evaluators._judge import LLMJudge, parse_judge_answer
from promptlab.evaluators._refusal import DEFAULT_REFUSAL_PATTERNS, detect_refusal
from promptlab.evaluators._text import Contains, Equals, NotContains, Regex

__all__ = [
    "Contains",
    "Cost",
    "DEFAULT_REFUSAL_PATTERNS",
    "Equals",
    "EvaluationResult",
    "Evaluator",
    "EvaluatorContext",
    "FieldsMatch",
    "HallucinatedFields",
    "JsonSchema",
    "JsonValid",
    "LLMJudge",
    "Latency",
    "NotContains",
    "Refusal",
    "Regex",
    "RequiredFields",
    "ToolSequence",
    "Verbosity",
    "build_evaluator",
    "clip",
    "detect_refusal",
    "evaluate_all",
    "evaluate_one",
    "evaluator_labels",
    "evaluators",
    "json_error",
    "parse_json_output",
    "parse_judge_answer",
    "ungrounded_values",
]
