"""One-sided tests for "the candidate's rate is higher than the control's".

Kept dependency-free (no SciPy): the normal tail comes from `math.erfc` and Fisher's exact test sums the
hypergeometric tail in log space, which stays exact and fast for the cohort sizes a canary sees.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["fisher_exact_greater", "normal_sf", "proportion_test", "two_proportion_z_greater"]

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
