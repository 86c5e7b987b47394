"""Canary analysis: the candidate cohort against the control cohort, metric by metric.

The criteria are the gate policy's `rollback` section (`promptlab.gate.RollbackCriteria`). A metric breaches when
both cohorts hold its minimum sample, the candidate exceeds the control by more than a threshold, *and* a
one-sided test says the increase is unlikely to be noise at the policy's confidence. A metric below its minimum
sample is inconclusive. The verdict is `breach` if any metric breaches, else `inconclusive` if any metric lacks
data, else `healthy`.

Rates (`<kind>_rate`: fallback, escalation, manual_correction, error, or any custom outcome kind) are the share
of requests with at least one such outcome, tested with a two-proportion z test (Fisher's exact test when counts
are small). Latency percentiles (`pNN_latency_s`) are tested on the tail: if both cohorts shared one distribution,
the same share of each would be slower than the control's percentile, so a larger share in the candidate is the
evidence that its tail moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from promptlab.gate import MetricThreshold, RollbackCriteria
from promptlab.rollout._stats import TestName, proportion_test

__all__ = ["CanaryReport", "CohortStats", "MetricResult", "analyze_canary", "quantile"]

Verdict = Literal["healthy", "breach", "inconclusive"]


@dataclass(frozen=True, kw_only=True)
class CohortStats:
    """What one cohort (the candidate or the control) was observed doing."""

    version: str
    """The version this cohort was served."""
    requests: int
    """Requests served to this cohort in the window."""
    events: Mapping[str, int] = field(default_factory=dict)
    """Outcome kind -> number of requests with at least one such outcome (late outcomes included)."""
    latencies_ms: Sequence[float] = ()
    """Observed latencies."""

    def rate(self, kind: str) -> float | None:
        """Share of requests with outcome `kind`, or None without requests."""
        return self.events.get(kind, 0) / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for evidence records (latencies summarised, not listed)."""
        lat = sorted(self.latencies_ms)
        return {
            "version": self.version,
            "requests": self.requests,
            "events": dict(sorted(self.events.items())),
            "latency_ms": {
                "n": len(lat),
                "p50": quantile(lat, 0.5),
                "p95": quantile(lat, 0.95),
            },
        }


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    """The judgement of one metric."""

    metric: str
    """Metric name (`escalation_rate`, `p95_latency_s` ...)."""
    status: Literal["ok", "breach", "inconclusive"]
    """Outcome for this metric."""
    candidate: float | None
    """Candidate value (a fraction for rates, seconds for latency)."""
    control: float | None
    """Control value."""
    candidate_n: int
    """Candidate sample size."""
    control_n: int
    """Control sample size."""
    min_sample: int
    """Sample each cohort needs before this metric is judged."""
    increase: float | None
    """Candidate minus control."""
    threshold: str
    """The allowed increase, as written in the policy."""
    exceeded: bool
    """Whether the observed increase exceeds a threshold."""
    p_value: float | None
    """One-sided p-value of "candidate is worse"."""
    test: str | None
    """Test used (`z`, `fisher`)."""
    detail: str
    """One line a responder can read."""


@dataclass(frozen=True, kw_only=True)
class CanaryReport:
    """One canary analysis: per-metric results, the verdict, and whether the stage may advance."""

    verdict: Verdict
    """`breach`, `inconclusive` or `healthy`."""
    metrics: tuple[MetricResult, ...]
    """Per-metric judgements."""
    candidate: CohortStats
    """Candidate cohort."""
    control: CohortStats
    """Control cohort."""
    criteria: RollbackCriteria
    """Criteria applied (the gate policy's rollback section)."""
    stage: str
    """Stage analysed."""
    elapsed_s: float
    """Time the stage has run."""
    min_duration_s: float
    """Time the stage must run before advancing."""
    min_requests: int
    """Candidate requests the stage must observe before advancing."""

    @property
    def ready(self) -> bool:
        """Whether the stage met its minimum duration and request count."""
        return self.elapsed_s >= self.min_duration_s and self.candidate.requests >= self.min_requests

    @property
    def breaches(self) -> tuple[MetricResult, ...]:
        """Metrics that breached."""
        return tuple(m for m in self.metrics if m.status == "breach")

    def summary(self) -> str:
        """One line: verdict and the metrics that drove it."""
        if self.verdict == "breach":
            return "breach: " + "; ".join(m.detail for m in self.breaches)
        if self.verdict == "inconclusive":
            return "inconclusive: " + "; ".join(m.detail for m in self.metrics if m.status == "inconclusive")
        return f"healthy: {len(self.metrics)} metrics within thresholds"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, recorded as evidence in the audit log."""
        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "stage": self.stage,
            "elapsed_s": self.elapsed_s,
            "min_duration_s": self.min_duration_s,
            "min_requests": self.min_requests,
            "ready": self.ready,
            "candidate": self.candidate.to_dict(),
            "control": self.control.to_dict(),
            "criteria": self.criteria.model_dump(mode="json"),
            "metrics": [asdict(m) for m in self.metrics],
        }


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile with linear interpolation (numpy's default); `values` must be sorted."""
    if not values:
        return None
    pos = (len(values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _describe(t: MetricThreshold, unit: str) -> str:
    parts = []
    if t.max_abs_increase is not None:
        parts.append(f"+{100 * t.max_abs_increase:.2f} points" if unit == "rate" else f"+{t.max_abs_increase:g} s")
    if t.max_rel_increase is not None:
        parts.append(f"+{100 * t.max_rel_increase:g}%")
    return " or ".join(parts)


def _fmt(value: float, unit: str) -> str:
    return f"{100 * value:.2f}%" if unit == "rate" else f"{value:.3f} s"


def _judge(
    name: str,
    t: MetricThreshold,
    unit: str,
    values: tuple[float | None, float | None],
    ns: tuple[int, int],
    counts: tuple[int, int],
    min_n: int,
    criteria: RollbackCriteria,
    test: TestName,
) -> MetricResult:
    """Judge one metric from its values and the (x, n) counts its test runs on."""
    (v1, v0), (n1, n0) = values, ns
    threshold = _describe(t, unit)
    if n1 < min_n or n0 < min_n or v1 is None or v0 is None:
        return MetricResult(
            metric=name,
            status="inconclusive",
            candidate=v1,
            control=v0,
            candidate_n=n1,
            control_n=n0,
            min_sample=min_n,
            increase=None,
            threshold=threshold,
            exceeded=False,
            p_value=None,
            test=None,
            detail=f"{name}: n={n1} candidate vs {n0} control, below the minimum sample of {min_n} each",
        )
    used, p = proportion_test(counts[0], n1, counts[1], n0, test=test)
    exceeded = t.exceeded(v0, v1)
    breached = exceeded and p < 1 - criteria.confidence
    increase = v1 - v0
    detail = (
        f"{name} {_fmt(v1, unit)} vs control {_fmt(v0, unit)} (allowed {threshold}; one-sided {used} "
        f"p={p:.3g}; n={n1}/{n0})"
    )
    return MetricResult(
        metric=name,
        status="breach" if breached else "ok",
        candidate=v1,
        control=v0,
        candidate_n=n1,
        control_n=n0,
        min_sample=min_n,
        increase=increase,
        threshold=threshold,
        exceeded=exceeded,
        p_value=p,
        test=used,
        detail=detail,
    )


def analyze_canary(
    *,
    candidate: CohortStats,
    control: CohortStats,
    criteria: RollbackCriteria,
    stage: str,
    elapsed_s: float,
    min_duration_s: float = 0.0,
    min_requests: int = 0,
    test: TestName = "auto",
) -> CanaryReport:
    """Judge the candidate cohort against the control cohort under the policy's rollback criteria."""
    results: list[MetricResult] = []
    for name, t in criteria.metrics.items():
        kind, q = RollbackCriteria.metric_kind(name)
        min_n = criteria.min_sample(name)
        if kind == "latency":
            assert q is not None
            lat1 = sorted(v / 1000 for v in candidate.latencies_ms)
            lat0 = sorted(v / 1000 for v in control.latencies_ms)
            v1, v0 = quantile(lat1, q), quantile(lat0, q)
            counts = (0, 0)
            if v0 is not None:
                counts = (sum(1 for v in lat1 if v > v0), sum(1 for v in lat0 if v > v0))
            results.append(_judge(name, t, "latency", (v1, v0), (len(lat1), len(lat0)), counts, min_n, criteria, test))
        else:
            outcome = name.removesuffix("_rate")
            x1, x0 = candidate.events.get(outcome, 0), control.events.get(outcome, 0)
            results.append(
                _judge(
                    name,
                    t,
                    "rate",
                    (candidate.rate(outcome), control.rate(outcome)),
                    (candidate.requests, control.requests),
                    (x1, x0),
                    min_n,
                    criteria,
                    test,
                )
            )
    statuses = {r.status for r in results}
    verdict: Verdict = "breach" if "breach" in statuses else "inconclusive" if "inconclusive" in statuses else "healthy"
    return CanaryReport(
        verdict=verdict,
        metrics=tuple(results),
        candidate=candidate,
        control=control,
        criteria=criteria,
        stage=stage,
        elapsed_s=elapsed_s,
        min_duration_s=min_duration_s,
        min_requests=min_requests,
    )
