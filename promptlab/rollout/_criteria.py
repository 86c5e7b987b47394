"""Rollback criteria: what a canary watches and what happens on a breach (Argo's AnalysisTemplate, as its own type).

A gate policy file may embed them under `rollback:`; rollouts store them with the plan they judge.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from promptlab._util.models import StrictModel

__all__ = ["KNOWN_CANARY_METRICS", "BreachAction", "MetricThreshold", "RollbackCriteria"]

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
