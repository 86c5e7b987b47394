"""Paired statistics for comparisons: exact McNemar, sign-flip permutation tests, cluster bootstrap, p-value
adjustment and percentiles.

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

__all__ = [
    "Correction",
    "adjust_pvalues",
    "benjamini_hochberg",
    "bootstrap_mean_ci",
    "bootstrap_quantile_delta_ci",
    "holm",
    "mcnemar_exact",
    "paired_test",
    "percentile",
    "rng_for",
    "sign_flip_test",
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
    the p-value doubles its lower tail (capped at 1).
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Exact integer arithmetic: the tail sum is a ratio of integers, so there is no rounding until the division.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / (1 << n))


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
