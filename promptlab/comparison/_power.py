"""Power planning for paired pass-rate comparisons: the smallest drop a group can detect, and the cases it needs.

The model is the normal approximation of the one-sided paired test the gate uses (McNemar's score test with one
repeat, the t-test on per-case means with repeats; Connor 1987). Two runs of the *same* version disagree on a case
with probability `discordance` (the noise of one repeat); averaging R repeats per version divides that noise by R. A
drop of `d` adds about `d` of cases that newly fail, so under the alternative the per-case difference has variance
`discordance / R + d (1 - d)`. The cases needed to detect a drop `d` with probability `power` at one-sided level
`alpha` are then `((z_alpha * s0 + z_power * s1) / d)^2`, with `s0^2 = discordance / R` and `s1^2 = s0^2 + d (1 - d)`.

`discordance` comes from the data when it can: with repeats, from how often repeats of one version disagree (the
unbiased estimate `2 k (R - k) / (R (R - 1))` per case); with one repeat, from the observed share of cases whose
outcome differs between the two runs (an upper bound of the noise, as it includes real changes); before anything
has run, from `DEFAULT_DISCORDANCE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, stats

__all__ = [
    "DEFAULT_DISCORDANCE",
    "DEFAULT_POWER",
    "DEFAULT_TARGET_DROP",
    "cases_needed",
    "discordance_from_repeats",
    "min_detectable_drop",
]

DEFAULT_DISCORDANCE = 0.10
"""Assumed share of cases on which two runs of the same version disagree (one repeat each), when no run exists:
about what the support-triage example measures (16% of its cases are flaky over three repeats)."""
DEFAULT_POWER = 0.8
"""Probability of detecting the planned drop."""
DEFAULT_TARGET_DROP = 0.10
"""Drop to plan for when the policy has no margin: 10 points."""


def _sigmas(drop: float, discordance: float, repeats: int) -> tuple[float, float]:
    s0 = discordance / max(repeats, 1)
    return math.sqrt(s0), math.sqrt(s0 + drop * (1 - drop))


def cases_needed(drop: float, *, alpha: float, power: float = DEFAULT_POWER, discordance: float, repeats: int) -> int:
    """Cases needed to detect a pass-rate drop of `drop` with probability `power` at one-sided level `alpha`."""
    if not 0 < drop < 1:
        raise ValueError("drop must be between 0 and 1")
    s0, s1 = _sigmas(drop, discordance, repeats)
    z_a, z_b = float(stats.norm.ppf(1 - alpha)), float(stats.norm.ppf(power))
    return max(2, math.ceil(((z_a * s0 + z_b * s1) / drop) ** 2))


def min_detectable_drop(
    n: int, *, alpha: float, power: float = DEFAULT_POWER, discordance: float, repeats: int
) -> float | None:
    """The smallest pass-rate drop `n` cases detect with probability `power` at one-sided level `alpha`.

    `None` when even a drop to zero (100 points) would not be detected that reliably.
    """
    if n < 2:
        return None
    z_a, z_b = float(stats.norm.ppf(1 - alpha)), float(stats.norm.ppf(power))

    def gap(d: float) -> float:
        s0, s1 = _sigmas(d, discordance, repeats)
        return d * math.sqrt(n) - (z_a * s0 + z_b * s1)

    hi = 1 - 1e-9
    if gap(hi) < 0:
        return None
    lo = 1e-9
    if gap(lo) >= 0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=1e-6))


def discordance_from_repeats(per_case_outcomes: Sequence[Sequence[bool]] | Sequence[Any]) -> float | None:
    """Estimated single-repeat discordance of one version from its repeats, or `None` without repeats.

    For a case passing with probability p, two independent runs disagree with probability 2 p (1 - p); with k passes
    in R repeats `2 k (R - k) / (R (R - 1))` estimates it without bias. Averaged over cases with at least 2 repeats.
    """
    estimates = []
    for outcomes in per_case_outcomes:
        r = len(outcomes)
        if r < 2:
            continue
        k = int(np.sum(np.asarray(outcomes, dtype=bool)))
        estimates.append(2.0 * k * (r - k) / (r * (r - 1)))
    return float(np.mean(estimates)) if estimates else None
