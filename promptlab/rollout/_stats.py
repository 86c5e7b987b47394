"""One-sided tests for "the candidate's rate is higher than the control's".

The canary uses an always-valid sequential test (`sequential_rate_test`): a mixture sequential probability ratio
test (mSPRT; Robbins 1970, Johari et al. 2017 "Always valid inference", as Optimizely and Eppo run it) on the
difference between the candidate's and the control's rate. The difference is estimated per unit of analysis (a
user, say): each unit contributes its events over its requests (a ratio estimator with a delta-method variance),
so a sticky user's many requests count as one correlated observation, not many independent ones. Under "no
increase" the mixture likelihood ratio is a non-negative (super)martingale, so by Ville's inequality the chance it
*ever* reaches 1/alpha is at most alpha: the test may be checked after every request, every hour or at random
times without inflating false alarms. The fixed-sample tests below (z, Fisher) stay for one-off comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr

__all__ = [
    "SequentialTest",
    "UnitSums",
    "confidence_sequence_halfwidth",
    "fisher_exact_greater",
    "msprt_log_lr",
    "normal_sf",
    "proportion_test",
    "sequential_rate_test",
    "two_proportion_z_greater",
]

TestName = Literal["auto", "z", "fisher"]


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal: P(Z > z)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z_greater(x1: int, n1: int, x0: int, n0: int) -> float:
    """One-sided pooled two-proportion z test of p1 > p0; returns the p-value."""
    if n1 <= 0 or n0 <= 0:
        return 1.0
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)
    if var <= 0.0:
        # Both cohorts all-zero or all-one: no evidence of a difference.
        return 1.0
    return normal_sf((x1 / n1 - x0 / n0) / math.sqrt(var))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_greater(x1: int, n1: int, x0: int, n0: int) -> float:
    """One-sided Fisher exact test of p1 > p0 on the 2x2 table [[x1, n1-x1], [x0, n0-x0]]; returns the p-value."""
    if n1 <= 0 or n0 <= 0:
        return 1.0
    total = n1 + n0
    events = x1 + x0
    lo, hi = x1, min(n1, events)
    log_denominator = _log_comb(total, events)
    logs = [_log_comb(n1, k) + _log_comb(n0, events - k) - log_denominator for k in range(lo, hi + 1)]
    if not logs:
        return 1.0
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def proportion_test(x1: int, n1: int, x0: int, n0: int, *, test: TestName = "auto") -> tuple[str, float]:
    """Run the chosen one-sided test; `auto` uses Fisher when any expected cell count is below 5, else z.

    Returns:
        The test actually used (`z` or `fisher`) and its p-value.
    """
    if test == "auto":
        total = n1 + n0
        events = x1 + x0
        if total == 0:
            return "fisher", 1.0
        expected = [n * e / total for n in (n1, n0) for e in (events, total - events)]
        test = "fisher" if min(expected) < 5 else "z"
    if test == "fisher":
        return "fisher", fisher_exact_greater(x1, n1, x0, n0)
    return "z", two_proportion_z_greater(x1, n1, x0, n0)


# -- always-valid sequential test -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UnitSums:
    """Sufficient statistics of one cohort for a ratio metric, one term per unit of analysis.

    For units i with `n_i` requests and `y_i` of them showing the outcome: the number of units, and the sums of
    n, y, y*y, n*n and y*n. A request-level analysis is the special case n_i = 1.
    """

    units: int
    n: float
    y: float
    yy: float
    nn: float
    yn: float

    @classmethod
    def from_counts(cls, events: int, requests: int) -> UnitSums:
        """Every request its own unit: `events` of `requests` showed the outcome."""
        return cls(units=requests, n=requests, y=events, yy=events, nn=requests, yn=events)

    @classmethod
    def from_units(
        cls, requests: Sequence[int] | npt.NDArray[Any], events: Sequence[int] | npt.NDArray[Any]
    ) -> UnitSums:
        """Per-unit request and event counts (aligned sequences)."""
        n = np.asarray(requests, dtype=float)
        y = np.asarray(events, dtype=float)
        keep = n > 0
        n, y = n[keep], y[keep]
        return cls(
            units=int(n.size),
            n=float(n.sum()),
            y=float(y.sum()),
            yy=float(y @ y),
            nn=float(n @ n),
            yn=float(y @ n),
        )

    @property
    def rate(self) -> float | None:
        """Events per request, or None without requests."""
        return self.y / self.n if self.n > 0 else None

    def variance(self, rate: float) -> float:
        """Delta-method variance of this cohort's ratio estimate, with residuals taken around `rate`."""
        if self.n <= 0 or self.units < 1:
            return math.inf
        ss = self.yy - 2.0 * rate * self.yn + rate * rate * self.nn
        # m/(m-1): the usual small-sample correction of the cluster-robust variance.
        correction = self.units / (self.units - 1) if self.units > 1 else 1.0
        return max(ss, 0.0) * correction / (self.n * self.n)


def msprt_log_lr(diff: float, variance: float, tau: float) -> float:
    """Log of the one-sided mixture likelihood ratio for "the difference is above zero".

    The estimate `diff` ~ N(theta, variance); the mixture over theta > 0 is a half-normal with scale `tau`:

        LR = 2 sqrt(V / (V + tau^2)) exp(diff^2 tau^2 / (2 V (V + tau^2))) Phi(diff tau / sqrt(V (V + tau^2)))
    """
    if variance <= 0.0 or not math.isfinite(variance):
        return 0.0
    s = variance + tau * tau
    return (
        math.log(2.0)
        + 0.5 * math.log(variance / s)
        + diff * diff * tau * tau / (2.0 * variance * s)
        + float(log_ndtr(diff * tau / math.sqrt(variance * s)))
    )


def confidence_sequence_halfwidth(variance: float, tau: float, alpha: float) -> float:
    """Half-width of the two-sided normal-mixture confidence sequence (Robbins) at error rate `alpha`."""
    if not math.isfinite(variance):
        return math.inf
    if variance <= 0.0:
        return 0.0
    s = variance + tau * tau
    return math.sqrt(variance * s / (tau * tau) * (2.0 * math.log(1.0 / alpha) + math.log(s / variance)))


# Weights of the mixture components: most mass at the metric's own scale (power where the threshold sits), some on a
# wide scale so overwhelming evidence (15 failures of 15) freezes within a handful of requests.
_WIDE_TAU = 0.5
_WIDE_WEIGHT = 0.1


@dataclass(frozen=True, kw_only=True)
class SequentialTest:
    """The always-valid test of one metric at one look."""

    diff: float
    """Candidate rate minus control rate."""
    variance: float
    """Variance of `diff` under "no difference": binomial at the pooled rate times the per-unit design effect."""
    log_lr: float
    """Log mixture likelihood ratio: the evidence that the candidate is worse."""
    p_value: float
    """Always-valid p-value at this look, min(1, 1/LR)."""
    reject: bool
    """Whether the evidence crossed 1/alpha: the candidate is worse than control."""
    upper: float
    """Upper end of the always-valid confidence bound on the difference (how large an increase is not ruled out)."""


def sequential_rate_test(candidate: UnitSums, control: UnitSums, *, alpha: float, tau: float) -> SequentialTest:
    """Always-valid one-sided test that the candidate's rate exceeds the control's.

    Args:
        candidate: The candidate cohort's per-unit sums.
        control: The control cohort's per-unit sums.
        alpha: Error rate of this test (already split across metrics).
        tau: Scale of the increase the test is tuned to detect (the metric's threshold).
    """
    r1, r0 = candidate.rate, control.rate
    if r1 is None or r0 is None:
        return SequentialTest(diff=0.0, variance=math.inf, log_lr=0.0, p_value=1.0, reject=False, upper=math.inf)
    diff = r1 - r0
    pooled = (candidate.y + control.y) / (candidate.n + control.n)
    # Variance under "no difference": the binomial variance at the pooled rate, times the design effect of the unit
    # of analysis (how much more the per-unit tallies spread than independent requests would; never below 1).
    binomial = candidate.n * r1 * (1 - r1) + control.n * r0 * (1 - r0)
    clustered = candidate.variance(r1) * candidate.n**2 + control.variance(r0) * control.n**2
    design_effect = max(1.0, clustered / binomial) if binomial > 0 else 1.0
    variance = pooled * (1 - pooled) * (1 / candidate.n + 1 / control.n) * design_effect
    if variance <= 0.0:
        # Both cohorts all-zero or all-one: no evidence of a difference (and none against one).
        return SequentialTest(diff=diff, variance=0.0, log_lr=0.0, p_value=1.0, reject=False, upper=diff)
    narrow = msprt_log_lr(diff, variance, tau)
    wide = msprt_log_lr(diff, variance, _WIDE_TAU)
    log_lr = float(np.logaddexp(math.log(1.0 - _WIDE_WEIGHT) + narrow, math.log(_WIDE_WEIGHT) + wide))
    p = min(1.0, math.exp(-log_lr)) if log_lr > 0 else 1.0
    # The interval uses the unpooled variance: it bounds the difference whatever its size.
    spread = candidate.variance(r1) + control.variance(r0)
    upper = diff + confidence_sequence_halfwidth(max(spread, variance), tau, alpha)
    return SequentialTest(
        diff=diff, variance=variance, log_lr=log_lr, p_value=p, reject=log_lr >= math.log(1.0 / alpha), upper=upper
    )
