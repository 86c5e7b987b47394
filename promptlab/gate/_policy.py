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

import re
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

__all__ = [
    "BreachAction",
    "GatePolicy",
    "KNOWN_CANARY_METRICS",
    "MetricThreshold",
    "RollbackCriteria",
    "load_policy",
]

KNOWN_CANARY_METRICS = ("fallback_rate", "escalation_rate", "manual_correction_rate", "error_rate", "p95_latency_s")
"""Metrics the canary analysis records for every request; other `*_rate` or `pNN_latency_s` names may be
configured when the serving code records them."""

_RATE = re.compile(r"^[a-z][a-z0-9_]*_rate$")
_LATENCY = re.compile(r"^p(\d{1,2}(?:\.\d+)?)_latency_s$")


class MetricThreshold(StrictModel):
    """How far one canary metric may rise above the control cohort before the rollout is stopped.

    Give `max_abs_increase`, `max_rel_increase` or both; exceeding either one is a breach.
    """

    max_abs_increase: float | None = Field(default=None, ge=0)
    """Largest allowed candidate-minus-control difference, in the metric's unit: a fraction for rates (0.02 = two
    percentage points), seconds for latency percentiles."""
    max_rel_increase: float | None = Field(default=None, ge=0)
    """Largest allowed relative increase over control, as a fraction (0.25 = +25%)."""
    min_sample: int | None = Field(default=None, ge=1)
    """Observations needed in each cohort before this metric can pass; defaults to `min_sample_per_cohort`."""

    @model_validator(mode="after")
    def _one_threshold(self) -> MetricThreshold:
        if self.max_abs_increase is None and self.max_rel_increase is None:
            raise PydanticCustomError("threshold_missing", "expected max_abs_increase, max_rel_increase or both")
        return self

    def exceeded(self, control: float, candidate: float) -> bool:
        """Whether the observed values alone exceed a threshold (significance is judged separately)."""
        diff = candidate - control
        if self.max_abs_increase is not None and diff > self.max_abs_increase:
            return True
        if self.max_rel_increase is not None:
            if control > 0:
                return diff / control > self.max_rel_increase
            return candidate > 0
        return False


class BreachAction(StrictModel):
    """What happens, without debate, when a canary metric breaches."""

    freeze: bool = True
    """Freeze the rollout: no stage advances until someone unfreezes it with a reason."""
    route_back: bool = True
    """Route the rollout's traffic back to the previous (control) version at once."""
    notify: list[str] = Field(default_factory=list)
    """Who to tell (channels or addresses); recorded with the breach evidence."""


def _default_metrics() -> dict[str, MetricThreshold]:
    return {
        "fallback_rate": MetricThreshold(max_abs_increase=0.02),
        "escalation_rate": MetricThreshold(max_abs_increase=0.02),
        "manual_correction_rate": MetricThreshold(max_abs_increase=0.02),
        "error_rate": MetricThreshold(max_abs_increase=0.01),
        "p95_latency_s": MetricThreshold(max_rel_increase=0.25),
    }


class RollbackCriteria(StrictModel):
    """Rollback criteria for canaries, agreed before release so responders act instead of debating.

    The canary analysis compares the candidate cohort with the control (baseline) cohort on each metric. A metric
    breaches when (1) the candidate's value exceeds the control's by more than a threshold
    (`MetricThreshold.exceeded`) and (2) an always-valid sequential test (a mixture SPRT per unit of analysis, with
    `1 - confidence` split across the metrics) has found the increase over control, one-sided; overwhelming evidence
    breaches at any sample size. A metric passes only once both cohorts reached its minimum sample; until then it is
    inconclusive and the rollout holds at its stage. Any breach triggers `on_breach`.
    """

    metrics: dict[str, MetricThreshold] = Field(default_factory=_default_metrics)
    """Thresholds per metric. Rates end in `_rate` (fallback_rate, escalation_rate, manual_correction_rate,
    error_rate or any recorded `*_rate`); latency percentiles are `pNN_latency_s` (e.g. p95_latency_s)."""
    min_sample_per_cohort: int = Field(default=200, ge=1)
    """Observations (requests, or latency observations) each cohort needs before a metric can pass; below it the
    metric is inconclusive and the rollout holds (a breach on overwhelming evidence needs no minimum)."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence of the canary's verdict: the chance of a false freeze, over all metrics and however often the
    check runs, stays below `1 - confidence`."""
    on_breach: BreachAction = Field(default_factory=BreachAction)
    """What to do when a metric breaches."""

    @model_validator(mode="after")
    def _metric_names(self) -> RollbackCriteria:
        if not self.metrics:
            raise PydanticCustomError("metrics_empty", "expected at least one metric")
        for name in self.metrics:
            if not (_RATE.match(name) or _LATENCY.match(name)):
                raise PydanticCustomError(
                    "metric_name",
                    "metric {name}: expected a rate (a name ending in _rate) or a latency percentile (pNN_latency_s)",
                    {"name": repr(name)},
                )
            m = _LATENCY.match(name)
            if m and not 0 < float(m.group(1)) < 100:
                raise PydanticCustomError(
                    "metric_name", "metric {name}: expected a percentile between 0 and 100", {"name": repr(name)}
                )
        return self

    @staticmethod
    def metric_kind(name: str) -> tuple[Literal["rate", "latency"], float | None]:
        """`("rate", None)` for a rate metric, `("latency", q)` for a latency percentile (q in 0..1)."""
        m = _LATENCY.match(name)
        if m:
            return "latency", float(m.group(1)) / 100
        return "rate", None

    def min_sample(self, metric: str) -> int:
        """The minimum sample per cohort for one metric."""
        threshold = self.metrics[metric]
        return threshold.min_sample if threshold.min_sample is not None else self.min_sample_per_cohort


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
