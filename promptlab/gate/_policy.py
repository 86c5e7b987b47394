"""The gate policy file: release rules, and the rollback criteria a team agrees before it ships.

A policy is strict YAML (or JSON)::

    name: support-triage release policy
    rules:
      - min_pass_rate: 0.85
      - no_segment_regression: {min_n: 20, margin: 0.05, confidence: 0.95}
      - max_new_regressions: 3
      - hard_negative_coverage: {min_cases: 5}
      - latency_budget: {p95_max_s: 4.0, max_increase_pct: 25}
      - cost_budget: {max_increase_pct: 30, approval_above_pct: 10}
      - required_reviews: {layers: [product, technical]}
      - quality_tradeoff: {cost_tolerance_pct: 5, latency_tolerance_pct: 10}
    rollback:
      min_sample_per_cohort: 300
      confidence: 0.95
      metrics:
        fallback_rate: {max_abs_increase: 0.02}
        escalation_rate: {max_abs_increase: 0.02, max_rel_increase: 0.5}
        manual_correction_rate: {max_abs_increase: 0.03}
        error_rate: {max_abs_increase: 0.01}
        p95_latency_s: {max_rel_increase: 0.25}
      on_breach: {freeze: true, route_back: true, notify: ["#support-ml-oncall"]}

Each rule is a spec (`promptlab.gate.gate_rules`); the rollback section is read by the canary analysis
(`load_policy(path).rollback`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from promptlab._util.canonical import content_hash
from promptlab._util.files import read_structured, validate_data
from promptlab._util.models import StrictModel
from promptlab._util.spec import Spec
from promptlab.errors import FileFormatError, SpecError
from promptlab.rollout import KNOWN_CANARY_METRICS, BreachAction, MetricThreshold, RollbackCriteria

__all__ = [
    "BreachAction",
    "GatePolicy",
    "KNOWN_CANARY_METRICS",
    "MetricThreshold",
    "RollbackCriteria",
    "load_policy",
]


class GatePolicy(StrictModel):
    """A release gate policy: the rules a candidate must meet, and the rollback criteria for its canary."""

    format_version: Literal[1] = 1
    """Version of the policy format."""
    name: str = ""
    """Policy name."""
    description: str = ""
    """What the policy is for."""
    rules: list[Spec] = Field(min_length=1)
    """Gate rules, each a spec: `- name`, `- name: arg` or `- name: {key: value}`."""
    rollback: RollbackCriteria = Field(default_factory=RollbackCriteria)
    """Rollback criteria for the canary of a release gated by this policy."""

    @model_validator(mode="after")
    def _rules_build(self) -> GatePolicy:
        from promptlab.gate._rules import gate_rules

        for i, spec in enumerate(self.rules):
            try:
                gate_rules.build(spec)
            except SpecError as exc:
                raise PydanticCustomError("rule", "rules[{i}]: {error}", {"i": i, "error": str(exc)}) from None
        return self

    @cached_property
    def hash(self) -> str:
        """Content hash of the policy (`sha256:...`), independent of file formatting."""
        return content_hash(self.model_dump(mode="json"))

    def build_rules(self) -> list[Any]:
        """The rule objects, in order."""
        from promptlab.gate._rules import gate_rules

        return [gate_rules.build(spec) for spec in self.rules]


def load_policy(path: str | Path) -> GatePolicy:
    """Read and strictly validate a gate policy file.

    Raises:
        FileFormatError: malformed YAML, an unknown key, a wrong type, or an unknown or misconfigured rule; the
            one-line message names the file and the field (e.g. `policy.yaml: rules[2]: unknown gate rule 'x'`).
    """
    p = Path(path)
    data = read_structured(p)
    if isinstance(data, dict) and isinstance(data.get("rules"), list):
        # Build rules here first so the error names the rule's position instead of a generic validator message.
        from promptlab.gate._rules import gate_rules

        for i, raw in enumerate(data["rules"]):
            try:
                spec = Spec.model_validate(raw)
            except ValueError:
                continue  # reported by the model validation below, with its position
            try:
                gate_rules.build(spec)
            except SpecError as exc:
                raise FileFormatError(p, str(exc), field=f"rules[{i}]") from None
    return validate_data(p, GatePolicy, data)
