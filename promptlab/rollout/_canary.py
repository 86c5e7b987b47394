"""Canary analysis: the candidate cohort against the control cohort, metric by metric, valid at any check cadence.

The criteria are the gate policy's `rollback` section (`promptlab.gate.RollbackCriteria`). Each metric is tested
with an always-valid sequential test (a mixture SPRT, see `promptlab.rollout._stats`) of "the candidate's rate is
higher than the control's", on the declared unit of analysis (the rollout plan's `cohort_key`, users by default):
each unit's events over its requests, so sticky users do not count as many independent observations. The error
rate `1 - confidence` is split evenly across the metrics (Bonferroni), so the chance of a false freeze stays below
it however often `canary check` runs and however many metrics the policy lists.

A metric *breaches* when the sequential test has crossed its evidence boundary and the observed increase exceeds
a threshold of the policy; there is no minimum sample for a breach, so overwhelming evidence (15 failures of 15)
freezes within a handful of requests. A metric is *ok* once both cohorts reached its minimum sample without a
breach. Otherwise it is *inconclusive* and says what is missing: no data, or how many more requests it needs.
Missing data never counts as healthy. The verdict is `breach` if any metric breaches, else `inconclusive` if any
metric is inconclusive, else `healthy`.

Rates (`<kind>_rate`: fallback, escalation, manual_correction, error, or any custom outcome kind) are the share
of requests with at least one such outcome. Latency percentiles (`pNN_latency_s`) are tested on the tail: if both
cohorts shared one distribution the same share of each would be slower than the control's percentile, so a larger
share in the candidate is the evidence that its tail moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from promptlab.rollout._criteria import MetricThreshold, RollbackCriteria
from promptlab.rollout._stats import UnitSums, confidence_sequence_halfwidth, sequential_rate_test

__all__ = ["CanaryReport", "ClockSkew", "CohortStats", "MetricResult", "analyze_canary", "quantile"]

Verdict = Literal["healthy", "breach", "inconclusive"]
Tally = Sequence[int] | npt.NDArray[Any]
"""Per-unit counts: a sequence or a numpy array."""

METHOD = (
    "Each metric is judged with an always-valid sequential test (a mixture SPRT) on per-{unit} rates, so running "
    "the check as often as you like keeps the chance of a false freeze below {alpha:.0%} across all {k} metrics "
    "together."
)


@dataclass(frozen=True, kw_only=True)
class CohortStats:
    """What one cohort (the candidate or the control) was observed doing.

    Totals are enough for a request-level analysis. With per-unit tallies (`unit_requests` and friends, aligned
    by unit) the analysis treats each unit (a user, say) as one observation of its own rate.
    """

    version: str
    """The version this cohort was served."""
    requests: int
    """Requests served to this cohort in the window."""
    events: Mapping[str, int] = field(default_factory=dict)
    """Outcome kind -> number of requests with at least one such outcome (late outcomes included)."""
    latencies_ms: Sequence[float] = ()
    """Observed latencies."""
    unit: str = "request"
    """The unit of analysis the per-unit tallies are grouped by (`user_id`, `tenant_id` ...)."""
    unit_requests: Tally = ()
    """Requests per unit (empty: every request is its own unit)."""
    unit_events: Mapping[str, Tally] = field(default_factory=dict)
    """Outcome kind -> per unit, the number of its requests with that outcome (aligned with `unit_requests`)."""
    latency_units: Tally = ()
    """For each latency in `latencies_ms`, the index of its unit in `unit_requests`."""

    def rate(self, kind: str) -> float | None:
        """Share of requests with outcome `kind`, or None without requests."""
        return self.events.get(kind, 0) / self.requests if self.requests else None

    @property
    def units(self) -> int:
        """Number of units of analysis observed."""
        return len(self.unit_requests) if len(self.unit_requests) else self.requests

    def sums(self, kind: str) -> UnitSums:
        """Per-unit sums of outcome `kind` for the sequential test."""
        if not len(self.unit_requests):
            return UnitSums.from_counts(self.events.get(kind, 0), self.requests)
        events = self.unit_events.get(kind)
        if events is None or not len(events):
            return UnitSums.from_units(self.unit_requests, np.zeros(len(self.unit_requests)))
        return UnitSums.from_units(self.unit_requests, events)

    def tail_sums(self, cutoff_ms: float) -> UnitSums:
        """Per-unit sums of "latency above `cutoff_ms`" for the sequential test."""
        lat = np.asarray(self.latencies_ms, dtype=float)
        slow = (lat > cutoff_ms).astype(float)
        if not len(self.unit_requests) or len(self.latency_units) != lat.size:
            return UnitSums.from_counts(int(slow.sum()), int(lat.size))
        idx = np.asarray(self.latency_units, dtype=np.int64)
        m = len(self.unit_requests)
        return UnitSums.from_units(np.bincount(idx, minlength=m), np.bincount(idx, weights=slow, minlength=m))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for evidence records (latencies summarised, not listed)."""
        lat = sorted(self.latencies_ms)
        return {
            "version": self.version,
            "requests": self.requests,
            "unit": self.unit,
            "units": self.units,
            "events": dict(sorted(self.events.items())),
            "latency_ms": {
                "n": len(lat),
                "p50": quantile(lat, 0.5),
                "p95": quantile(lat, 0.95),
            },
        }


@dataclass(frozen=True, kw_only=True)
class ClockSkew:
    """How far the times clients reported for their requests were from the time the store received them."""

    records: int
    """Requests in the window that carried a reported time."""
    ahead: int
    """Requests reported later than the store received them, by more than the tolerance (a clock running ahead)."""
    behind: int
    """Requests reported earlier than received by more than the tolerance (a clock behind, or a late upload)."""
    max_abs_s: float
    """Largest absolute difference seen, in seconds."""
    tolerance_s: float
    """Differences within this are normal transit delay."""

    @property
    def flagged(self) -> bool:
        """Whether any request was outside the tolerance."""
        return self.ahead + self.behind > 0

    def describe(self) -> str:
        """One line for the report."""
        if not self.flagged:
            return f"clock skew: none beyond {self.tolerance_s:g} s in {self.records} requests"
        return (
            f"clock skew: {self.ahead + self.behind} of {self.records} requests reported a time more than "
            f"{self.tolerance_s:g} s off the store's receipt time ({self.ahead} ahead, {self.behind} behind; up to "
            f"{self.max_abs_s:.0f} s); the analysis windows use the receipt time"
        )


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
    """Candidate sample size (requests, or latency observations)."""
    control_n: int
    """Control sample size."""
    min_sample: int
    """Sample each cohort needs before this metric can pass (a breach needs no minimum)."""
    increase: float | None
    """Candidate minus control."""
    threshold: str
    """The allowed increase, as written in the policy."""
    exceeded: bool
    """Whether the observed increase exceeds a threshold."""
    p_value: float | None
    """Always-valid one-sided p-value of "candidate is worse" (compare with `alpha`)."""
    test: str | None
    """Test used (`msprt`)."""
    detail: str
    """One line a responder can read."""
    alpha: float | None = None
    """This metric's share of the error rate (1 - confidence, split across the metrics)."""
    evidence: float | None = None
    """Mixture likelihood ratio for "candidate is worse"; a breach needs at least 1/alpha."""
    upper: float | None = None
    """Largest increase in the tested rate (for latency: the share above the control's percentile) that the data
    do not yet rule out."""
    needs: int | None = None
    """About how many more candidate requests an inconclusive metric needs."""


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
    skew: ClockSkew | None = None
    """Clock skew between the clients' reported times and the store's receipt times, when known."""

    @property
    def ready(self) -> bool:
        """Whether the stage met its minimum duration and request count."""
        return self.elapsed_s >= self.min_duration_s and self.candidate.requests >= self.min_requests

    @property
    def breaches(self) -> tuple[MetricResult, ...]:
        """Metrics that breached."""
        return tuple(m for m in self.metrics if m.status == "breach")

    @property
    def method(self) -> str:
        """The statistics, in one sentence a product reviewer can read."""
        unit = self.candidate.unit.removesuffix("_id") if self.candidate.unit != "request" else "request"
        return METHOD.format(unit=unit, alpha=1 - self.criteria.confidence, k=len(self.metrics))

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
            "method": self.method,
            "stage": self.stage,
            "elapsed_s": self.elapsed_s,
            "min_duration_s": self.min_duration_s,
            "min_requests": self.min_requests,
            "ready": self.ready,
            "candidate": self.candidate.to_dict(),
            "control": self.control.to_dict(),
            "criteria": self.criteria.model_dump(mode="json"),
            "metrics": [_finite(asdict(m)) for m in self.metrics],
            "clock_skew": asdict(self.skew) | {"note": self.skew.describe()} if self.skew is not None else None,
        }


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    # JSON has no infinity: an unbounded value is recorded as null.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


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


def _more_needed(cand: UnitSums, ctrl: UnitSums, *, diff: float, margin: float, tau: float, alpha: float) -> int | None:
    """About how many more candidate requests (the control growing in proportion) rule out an increase of `margin`.

    Assumes the observed difference and per-unit spread stay as they are; None when the observed difference is
    already at or above the margin (more data alone would not rule it out).
    """
    r1, r0 = cand.rate, ctrl.rate
    if r1 is None or r0 is None or diff >= margin:
        return None
    pooled = (cand.y + ctrl.y) / (cand.n + ctrl.n)
    # Rule-of-three floor: with no events yet the spread is unknown, not zero.
    floor_rate = min(max(pooled, 3.0 / (cand.n + ctrl.n)), 0.5)
    floor = floor_rate * (1 - floor_rate) * (1 / cand.n + 1 / ctrl.n)
    variance = max(cand.variance(r1) + ctrl.variance(r0), floor)

    def fits(scale: float) -> bool:
        return diff + confidence_sequence_halfwidth(variance / scale, tau, alpha) <= margin

    if fits(1.0):
        return 0
    lo, hi = 1.0, 2.0
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > 1e7:
            return None
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return math.ceil(cand.n * (hi - 1))


def _judge(
    name: str,
    t: MetricThreshold,
    unit: str,
    values: tuple[float | None, float | None],
    sums: tuple[UnitSums, UnitSums],
    *,
    tau: float,
    margin: float | None,
    min_n: int,
    alpha: float,
) -> MetricResult:
    """Judge one metric from its values and the per-unit sums its sequential test runs on."""
    v1, v0 = values
    cand, ctrl = sums
    n1, n0 = int(cand.n), int(ctrl.n)
    threshold = _describe(t, unit)
    base: dict[str, Any] = {
        "metric": name,
        "candidate": v1,
        "control": v0,
        "candidate_n": n1,
        "control_n": n0,
        "min_sample": min_n,
        "threshold": threshold,
        "alpha": alpha,
    }
    if v1 is None or v0 is None or n1 == 0 or n0 == 0:
        empty = [c for c, n in (("candidate", n1), ("control", n0)) if n == 0]
        missing = " and ".join(empty) + (" cohorts" if len(empty) > 1 else " cohort") if empty else "either cohort"
        return MetricResult(
            **base,
            status="inconclusive",
            increase=None,
            exceeded=False,
            p_value=None,
            test=None,
            needs=max(min_n - n1, 0) or None,
            detail=f"{name}: no data from the {missing} in this window (missing data never counts as healthy)",
        )
    seq = sequential_rate_test(cand, ctrl, alpha=alpha, tau=tau)
    exceeded = t.exceeded(v0, v1)
    increase = v1 - v0
    evidence = math.exp(min(seq.log_lr, 700.0))
    common = {
        **base,
        "increase": increase,
        "exceeded": exceeded,
        "p_value": seq.p_value,
        "test": "msprt",
        "evidence": evidence,
        "upper": seq.upper,
    }
    observed = f"{name} {_fmt(v1, unit)} vs control {_fmt(v0, unit)} (allowed {threshold}; n={n1}/{n0})"
    if seq.reject and exceeded:
        return MetricResult(
            **common,
            status="breach",
            detail=f"{observed}: evidence {evidence:.3g}x against no increase, above the {1 / alpha:.0f}x boundary",
        )
    if n1 < min_n or n0 < min_n:
        short = [f"{min_n - n} more {c} requests" for c, n in (("candidate", n1), ("control", n0)) if n < min_n]
        needs = max(min_n - n1, 0)
        extra = ""
        if margin is not None and unit == "rate":
            more = _more_needed(cand, ctrl, diff=seq.diff, margin=margin, tau=tau, alpha=alpha)
            if more is not None and more > needs:
                needs = more
                extra = f"; about {more} more candidate requests to rule out a +{100 * margin:.2f} pt increase"
        return MetricResult(
            **common,
            status="inconclusive",
            needs=needs or None,
            detail=f"{observed}: needs {' and '.join(short)} to reach the agreed sample of {min_n}{extra}",
        )
    return MetricResult(**common, status="ok", detail=f"{observed}: no evidence of an increase beyond noise")


def analyze_canary(
    *,
    candidate: CohortStats,
    control: CohortStats,
    criteria: RollbackCriteria,
    stage: str,
    elapsed_s: float,
    min_duration_s: float = 0.0,
    min_requests: int = 0,
    skew: ClockSkew | None = None,
) -> CanaryReport:
    """Judge the candidate cohort against the control cohort under the policy's rollback criteria.

    Safe to call at any cadence on growing data: each metric's sequential test keeps its false-alarm rate whenever
    it is looked at.
    """
    alpha = (1 - criteria.confidence) / len(criteria.metrics)
    results: list[MetricResult] = []
    for name, t in criteria.metrics.items():
        kind, q = RollbackCriteria.metric_kind(name)
        min_n = criteria.min_sample(name)
        if kind == "latency":
            assert q is not None
            lat1 = sorted(v / 1000 for v in candidate.latencies_ms)
            lat0 = sorted(v / 1000 for v in control.latencies_ms)
            v1, v0 = quantile(lat1, q), quantile(lat0, q)
            cutoff = 1000 * v0 if v0 is not None else math.inf
            sums = (candidate.tail_sums(cutoff), control.tail_sums(cutoff))
            # The tested quantity is the share of requests slower than the control's percentile (1 - q under no
            # change): the mixture is tuned to that share doubling.
            results.append(_judge(name, t, "latency", (v1, v0), sums, tau=1 - q, margin=None, min_n=min_n, alpha=alpha))
        else:
            outcome = name.removesuffix("_rate")
            v0 = control.rate(outcome)
            margin = t.max_abs_increase
            if margin is None and t.max_rel_increase is not None and v0 is not None:
                margin = t.max_rel_increase * v0
            # Tune the mixture to the allowed increase; a relative threshold on a zero control rate falls back to
            # one point.
            tau = margin if margin else 0.01
            results.append(
                _judge(
                    name,
                    t,
                    "rate",
                    (candidate.rate(outcome), v0),
                    (candidate.sums(outcome), control.sums(outcome)),
                    tau=tau,
                    margin=margin,
                    min_n=min_n,
                    alpha=alpha,
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
        skew=skew,
    )
