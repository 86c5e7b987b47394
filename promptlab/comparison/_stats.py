"""Paired statistics for comparisons: exact and score McNemar tests, paired score intervals, sign-flip permutation
tests, cluster bootstrap, p-value adjustment and percentiles.

Pass-rate differences get a paired interval that is never of zero width: Tango's asymptotic score interval when every
case ran once under both versions (0/1 outcomes), and an adjusted t-interval on per-case mean differences with
repeats (Bonett and Price's two pseudo-cases, one +1 and one -1, then Student's t). Each comes with the one-sided test
it inverts, so a verdict taken from the test and the interval shown next to it always agree.

Every random procedure takes a `numpy.random.Generator` so results are reproducible: callers derive one generator
per quantity from a seed and a stable key (`rng_for`), which keeps a figure unchanged when unrelated segments or
metrics are added.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

__all__ = [
    "Correction",
    "adjust_pvalues",
    "adjusted_t_interval",
    "adjusted_t_moments",
    "adjusted_t_pvalue",
    "benjamini_hochberg",
    "bootstrap_mean_ci",
    "bootstrap_quantile_delta_ci",
    "holm",
    "holm_levels",
    "mcnemar_exact",
    "mcnemar_score_pvalue",
    "paired_test",
    "percentile",
    "rng_for",
    "sign_flip_test",
    "tango_interval",
    "tango_score",
    "wilson_interval",
]

Correction = Literal["holm", "bh"]

# Above this many non-zero differences the sign-flip test samples sign patterns instead of enumerating all 2^k.
_EXACT_SIGN_FLIP_MAX = 14
_CHUNK = 256


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator for one quantity, fixed by the comparison seed and a stable key (e.g. `segment:intent=refund`)."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    `b` counts pairs that pass under the baseline only, `c` those that pass under the candidate only. Under the null
    hypothesis each discordant pair is equally likely to go either way, so `min(b, c)` follows Binomial(b + c, 1/2);
    the p-value doubles its lower tail (capped at 1). The tail comes from SciPy's binomial CDF (the regularised
    incomplete beta function), so the cost does not grow with the counts.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))


def mcnemar_score_pvalue(pass_to_fail: int, fail_to_pass: int, *, n: int, margin: float = 0.0) -> float:
    """One-sided p-value that the candidate is worse by more than `margin`, from Tango's score statistic.

    Tests H0: delta >= -margin against H1: delta < -margin, where delta is the candidate's minus the baseline's pass
    rate over `n` paired cases. At `margin=0` the statistic is McNemar's `(c - b) / sqrt(b + c)` (the asymptotic
    McNemar test, which holds its level better than the exact one; Fagerland, Lydersen and Laake 2013). With no
    discordant pairs and no margin there is no evidence either way and the p-value is 0.5.
    """
    if n == 0:
        return 1.0
    return float(stats.norm.cdf(tango_score(pass_to_fail, fail_to_pass, n=n, delta=-margin)))


def tango_score(pass_to_fail: int, fail_to_pass: int, *, n: int, delta: float) -> float:
    """Tango's (1998) score statistic for H0: candidate minus baseline pass rate equals `delta`.

    With n12 = fail_to_pass (candidate passes only) and n21 = pass_to_fail, `Z = (n12 - n21 - n delta) /
    sqrt(n (2 p21 + delta (1 - delta)))`, where p21 is the maximum-likelihood estimate of the pass-to-fail probability
    under H0 (the root of a quadratic). Large positive values favour a candidate better than `delta`.
    """
    n12, n21 = float(fail_to_pass), float(pass_to_fail)
    a = 2.0 * n
    b = -n12 - n21 + (2.0 * n - n12 + n21) * delta
    c = -n21 * delta * (1.0 - delta)
    p21 = (math.sqrt(max(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
    variance = n * (2.0 * p21 + delta * (1.0 - delta))
    numerator = n12 - n21 - n * delta
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def tango_interval(pass_to_fail: int, fail_to_pass: int, *, n: int, alpha: float) -> tuple[float, float]:
    """Tango's asymptotic score interval (two-sided, 1 - alpha) for the candidate-minus-baseline pass rate.

    The interval holds every delta the score test does not reject. It is never of zero width when n > 0 (with no
    discordant pairs it is about +/- z^2 / (n + z^2)), and its coverage stays close to nominal from small n (Tango
    1998; Fagerland, Lydersen and Laake 2014 recommend it).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    z = float(stats.norm.ppf(1 - alpha / 2))
    estimate = (fail_to_pass - pass_to_fail) / n
    eps = 1e-12

    def root(target: float, lo: float, hi: float) -> float:
        def f(d: float) -> float:
            return tango_score(pass_to_fail, fail_to_pass, n=n, delta=d) - target

        f_lo, f_hi = f(lo), f(hi)
        if f_lo * f_hi > 0:
            return lo if abs(f_lo) < abs(f_hi) else hi
        return float(optimize.brentq(f, lo, hi, xtol=1e-12))

    # Z decreases in delta: Z(lower) = z and Z(upper) = -z.
    low = -1.0 if tango_score(pass_to_fail, fail_to_pass, n=n, delta=-1 + eps) <= z else root(z, -1 + eps, estimate)
    high = 1.0 if tango_score(pass_to_fail, fail_to_pass, n=n, delta=1 - eps) >= -z else root(-z, estimate, 1 - eps)
    return low, high


def adjusted_t_moments(differences: Sequence[float] | np.ndarray[Any, Any]) -> tuple[float, float, int]:
    """(mean, standard error, degrees of freedom) of per-case differences with two pseudo-cases, +1 and -1, added.

    The pseudo-cases are Bonett and Price's (2012) adjustment for paired proportions generalised to per-case mean
    differences in [-1, 1]; they shrink the mean slightly towards 0 and keep the standard error above zero when every
    case has the same difference. Degrees of freedom are those of the real cases (n - 1, at least 1).
    """
    d = np.asarray(differences, dtype=float)
    n = d.size
    if n == 0:
        raise ValueError("no differences")
    augmented = np.concatenate([d, [1.0, -1.0]])
    mean = float(augmented.mean())
    se = float(augmented.std(ddof=1) / math.sqrt(augmented.size))
    return mean, se, max(n - 1, 1)


def adjusted_t_interval(mean: float, se: float, df: int, *, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) t-interval from `adjusted_t_moments`, clipped to [-1, 1]."""
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return max(-1.0, mean - half), min(1.0, mean + half)


def adjusted_t_pvalue(mean: float, se: float, df: int, *, margin: float = 0.0) -> float:
    """One-sided p-value of H0: delta >= -margin against H1: delta < -margin (the t-test the interval inverts)."""
    return float(stats.t.cdf((mean + margin) / se, df))


def wilson_interval(successes: float, n: int, *, alpha: float) -> tuple[float, float]:
    """Wilson score interval (two-sided, 1 - alpha) for a pass rate.

    `successes` may be fractional (the sum of per-case pass rates over repeats): a per-case rate in [0, 1] has a
    variance of at most p (1 - p), so the interval over cases is then conservative.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_flip_test(
    differences: Sequence[float] | np.ndarray[Any, Any], *, rng: np.random.Generator, n_permutations: int = 10_000
) -> tuple[float, str]:
    """Two-sided paired sign-flip permutation test of a zero mean difference.

    Under the null hypothesis the two versions are exchangeable within each case, so each case's difference is as
    likely to have either sign. Exact (all sign patterns) when at most 14 differences are non-zero, otherwise Monte
    Carlo with `n_permutations` patterns and the `(1 + hits) / (1 + draws)` estimator, which never returns 0.

    Returns:
        The p-value and the method used (`sign_flip_exact` or `sign_flip_monte_carlo`).
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    k = d.size
    if k == 0:
        return 1.0, "sign_flip_exact"
    observed = abs(d.sum())
    tolerance = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if k <= _EXACT_SIGN_FLIP_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=k)))
        sums = np.abs(signs @ d)
        return float(np.mean(sums >= observed - tolerance)), "sign_flip_exact"
    hits = 0
    remaining = n_permutations
    total = d.sum()
    while remaining > 0:
        size = min(remaining, 2048)
        # Random bits from raw bytes are much cheaper than drawing signs one by one; with bit b the sign is 2b - 1,
        # so the signed sum is 2 * (bits @ d) - sum(d).
        raw = np.frombuffer(rng.bytes((size * k + 7) // 8), dtype=np.uint8)
        bits = np.unpackbits(raw)[: size * k].reshape(size, k).astype(float)
        hits += int(np.sum(np.abs(2 * (bits @ d) - total) >= observed - tolerance))
        remaining -= size
    return (1 + hits) / (1 + n_permutations), "sign_flip_monte_carlo"


def paired_test(
    baseline: np.ndarray[Any, Any],
    candidate: np.ndarray[Any, Any],
    *,
    binary: bool,
    rng: np.random.Generator,
    n_permutations: int = 10_000,
) -> tuple[float, str]:
    """The paired test for per-case values: exact McNemar for 0/1 outcomes, a sign-flip test otherwise.

    For 0/1 values the two agree (the sign-flip null distribution of the discordant pairs is the McNemar binomial),
    but McNemar is exact at any size and is the name reviewers expect.
    """
    if binary:
        b = int(np.sum((baseline == 1) & (candidate == 0)))
        c = int(np.sum((baseline == 0) & (candidate == 1)))
        return mcnemar_exact(b, c), "mcnemar_exact"
    return sign_flip_test(candidate - baseline, rng=rng, n_permutations=n_permutations)


def bootstrap_mean_ci(
    differences: Sequence[float] | np.ndarray[Any, Any], *, rng: np.random.Generator, n_boot: int, alpha: float
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for the mean of paired per-case differences (cases resampled with replacement).

    With repeats, each case's difference is already averaged over its repeats, so resampling cases is a cluster
    bootstrap. Returns `None` when there are no cases.
    """
    d = np.asarray(differences, dtype=float)
    n = d.size
    if n == 0:
        return None
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    means = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(n_boot, start + _CHUNK)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def percentile(values: Sequence[float] | np.ndarray[Any, Any], q: float) -> float | None:
    """The `q`-th percentile (0-100) by the inverted-CDF definition (an observed value), or `None` if empty."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    return float(np.percentile(v, q, method="inverted_cdf"))


def _weighted_quantiles(sorted_values: np.ndarray[Any, Any], weights: np.ndarray[Any, Any], q: float) -> Any:
    """Inverted-CDF quantile of `sorted_values` under each row of `weights` (one row per bootstrap draw)."""
    cumulative = np.cumsum(weights, axis=1)
    target = q * cumulative[:, -1:]
    index = np.argmax(cumulative >= target - 1e-12, axis=1)
    return sorted_values[index]


def bootstrap_quantile_delta_ci(
    baseline: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    candidate: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    *,
    n_cases: int,
    q: float,
    rng: np.random.Generator,
    n_boot: int,
    alpha: float,
) -> tuple[float, float] | None:
    """Cluster-bootstrap interval for `quantile(candidate) - quantile(baseline)` of per-call values.

    Each side is `(values, case_index)`: one entry per call with the index (0..n_cases-1) of its case. A bootstrap
    draw resamples cases with replacement and weights each call by how often its case was drawn, so both versions
    see the same cases (paired) and repeats of one case stay together (clustered).
    """
    (bv, bi), (cv, ci) = baseline, candidate
    if bv.size == 0 or cv.size == 0 or n_cases == 0:
        return None
    b_order, c_order = np.argsort(bv, kind="stable"), np.argsort(cv, kind="stable")
    bv_s, bi_s, cv_s, ci_s = bv[b_order], bi[b_order], cv[c_order], ci[c_order]
    deltas = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(n_boot, start + _CHUNK)
        counts = rng.multinomial(n_cases, np.full(n_cases, 1.0 / n_cases), size=stop - start).astype(float)
        bw, cw = counts[:, bi_s], counts[:, ci_s]
        # A draw may contain none of one side's cases; such draws carry no information about that side.
        ok = (bw.sum(axis=1) > 0) & (cw.sum(axis=1) > 0)
        block = np.full(stop - start, np.nan)
        if ok.any():
            block[ok] = _weighted_quantiles(cv_s, cw[ok], q) - _weighted_quantiles(bv_s, bw[ok], q)
        deltas[start:stop] = block
    deltas = deltas[~np.isnan(deltas)]
    if deltas.size == 0:
        return None
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (controls the family-wise error rate)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(pvalues: Sequence[float], alpha: float) -> list[float]:
    """The significance level Holm's step-down procedure compares each p-value with.

    The k-th smallest p-value is compared with alpha / (m - k + 1) until the first one that fails; every later
    hypothesis keeps the level at which the procedure stopped. An interval at a group's level therefore excludes the
    null exactly when Holm rejects that group.
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    levels = [0.0] * m
    stopped: float | None = None
    for rank, i in enumerate(order):
        level = alpha / (m - rank)
        if stopped is None and pvalues[i] >= level:
            stopped = level
        levels[i] = stopped if stopped is not None else level
    return levels


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (controls the false discovery rate)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, m / rank * pvalues[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def adjust_pvalues(pvalues: Sequence[float], method: Correction) -> list[float]:
    """Adjust a family of p-values with Holm (`holm`) or Benjamini-Hochberg (`bh`)."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    raise ValueError(f"unknown correction {method!r} (expected holm or bh)")
