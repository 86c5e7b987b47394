"""Paired pass-rate statistics of a group, recomputable at any level from `PairedStats`."""

from __future__ import annotations

from typing import Any

import numpy as np

from promptlab.comparison._model import PairedStats
from promptlab.comparison._stats import (
    adjusted_t_interval,
    adjusted_t_moments,
    adjusted_t_pvalue,
    mcnemar_score_pvalue,
    tango_interval,
)

__all__ = ["paired_interval", "paired_method", "paired_p_drop", "paired_stats"]

_METHODS = {
    "tango_score": "Tango's score interval for paired proportions (one run per case)",
    "adjusted_t": "t-interval on per-case mean differences over repeats, with two pseudo-cases (+1, -1) added",
}


def paired_stats(baseline: np.ndarray[Any, Any], candidate: np.ndarray[Any, Any], *, binary: bool) -> PairedStats:
    """The sufficient statistics of per-case pass rates (0/1 with one repeat, means over repeats otherwise)."""
    n = int(baseline.size)
    if binary:
        b = int(np.sum((baseline >= 0.5) & (candidate < 0.5)))
        c = int(np.sum((baseline < 0.5) & (candidate >= 0.5)))
        return PairedStats(method="tango_score", n=n, pass_to_fail=b, fail_to_pass=c, mean=None, se=None, df=None)
    mean, se, df = adjusted_t_moments(candidate - baseline)
    return PairedStats(method="adjusted_t", n=n, pass_to_fail=None, fail_to_pass=None, mean=mean, se=se, df=df)


def paired_interval(stats: PairedStats, *, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) interval of candidate minus baseline pass rate."""
    if stats.method == "tango_score":
        assert stats.pass_to_fail is not None and stats.fail_to_pass is not None
        return tango_interval(stats.pass_to_fail, stats.fail_to_pass, n=stats.n, alpha=alpha)
    assert stats.mean is not None and stats.se is not None and stats.df is not None
    return adjusted_t_interval(stats.mean, stats.se, stats.df, alpha=alpha)


def paired_p_drop(stats: PairedStats, *, margin: float = 0.0) -> float:
    """One-sided p-value of H0: candidate minus baseline >= -margin (small when the candidate is worse)."""
    if stats.method == "tango_score":
        assert stats.pass_to_fail is not None and stats.fail_to_pass is not None
        return mcnemar_score_pvalue(stats.pass_to_fail, stats.fail_to_pass, n=stats.n, margin=margin)
    assert stats.mean is not None and stats.se is not None and stats.df is not None
    return adjusted_t_pvalue(stats.mean, stats.se, stats.df, margin=margin)


def paired_method(stats: PairedStats | None) -> str | None:
    """The interval's method in words."""
    return None if stats is None else _METHODS[stats.method]
