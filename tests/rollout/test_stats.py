"""The one-sided tests behind the canary: known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from promptlab.rollout import (
    UnitSums,
    fisher_exact_greater,
    msprt_log_lr,
    proportion_test,
    sequential_rate_test,
    two_proportion_z_greater,
)
from promptlab.rollout._stats import confidence_sequence_halfwidth


def test_fisher_matches_the_lady_tasting_tea() -> None:
    # Fisher's classic table [[3, 1], [1, 3]]: one-sided p = 17/70.
    assert fisher_exact_greater(3, 4, 1, 4) == pytest.approx(17 / 70)


def test_fisher_matches_a_textbook_value() -> None:
    # [[8, 2], [1, 5]]: X ~ Hypergeometric(16 total, 9 events, 10 drawn); P(X >= 8) = (C(9,8)C(7,2) + C(9,9)C(7,1))
    # / C(16,10) = (189 + 7) / 8008.
    assert fisher_exact_greater(8, 10, 1, 6) == pytest.approx(196 / 8008, rel=1e-12)


def test_z_test_matches_the_formula() -> None:
    # 60/500 vs 40/500: pooled p = 0.1, se = sqrt(0.1 * 0.9 * (2/500)), z = 0.04 / se.
    z = 0.04 / math.sqrt(0.1 * 0.9 * 2 / 500)
    assert two_proportion_z_greater(60, 500, 40, 500) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))


def test_tests_are_one_sided() -> None:
    assert two_proportion_z_greater(40, 500, 60, 500) > 0.9
    assert fisher_exact_greater(1, 10, 8, 10) > 0.99


def test_degenerate_tables_give_no_evidence() -> None:
    assert two_proportion_z_greater(0, 100, 0, 100) == 1.0
    assert two_proportion_z_greater(5, 0, 1, 10) == 1.0
    assert fisher_exact_greater(0, 100, 0, 100) == 1.0


def test_auto_uses_fisher_for_small_counts_and_z_otherwise() -> None:
    assert proportion_test(3, 20, 1, 20)[0] == "fisher"
    assert proportion_test(60, 500, 40, 500)[0] == "z"


def test_fisher_and_z_agree_on_large_samples() -> None:
    _, pz = proportion_test(130, 1000, 100, 1000, test="z")
    _, pf = proportion_test(130, 1000, 100, 1000, test="fisher")
    assert abs(pz - pf) < 0.01


# -- the always-valid sequential test ------------------------------------------------------------------------------


def _integrated_lr(diff: float, variance: float, tau: float) -> float:
    """The one-sided mixture likelihood ratio by direct numerical integration over theta > 0."""

    def integrand(theta: float) -> float:
        lr = math.exp((theta * diff - theta * theta / 2) / variance)
        return lr * 2 * stats.norm.pdf(theta, scale=tau)

    value, _ = integrate.quad(integrand, 0, math.inf, limit=200)
    return float(value)


@pytest.mark.parametrize("seed", range(8))
def test_msprt_matches_direct_integration_of_the_mixture(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(10):
        variance = float(10 ** rng.uniform(-5, -2))
        tau = float(10 ** rng.uniform(-2.5, -0.5))
        diff = float(rng.normal(0, 3 * math.sqrt(variance)))
        expected = _integrated_lr(diff, variance, tau)
        assert math.exp(msprt_log_lr(diff, variance, tau)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("variance", "tau", "alpha"), [(1e-4, 0.02, 0.01), (4e-5, 0.01, 0.05), (1e-3, 0.1, 0.002)])
def test_confidence_sequence_bounds_the_set_the_two_sided_mixture_cannot_reject(
    variance: float, tau: float, alpha: float
) -> None:
    half = confidence_sequence_halfwidth(variance, tau, alpha)

    def two_sided_lr(d: float) -> float:
        s = variance + tau * tau
        return math.sqrt(variance / s) * math.exp(min(d * d * tau * tau / (2 * variance * s), 700.0))

    root = optimize.brentq(lambda d: math.log(two_sided_lr(d) * alpha), 0, 20 * math.sqrt(variance))
    assert half == pytest.approx(root, rel=1e-9)


def test_unit_sums_match_a_direct_delta_method_computation() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 8, 200)
    y = rng.binomial(n, 0.1)
    sums = UnitSums.from_units(n, y)
    r = y.sum() / n.sum()
    direct = np.sum((y - r * n) ** 2) * 200 / 199 / n.sum() ** 2
    assert sums.rate == pytest.approx(r) and sums.variance(r) == pytest.approx(direct)
    single = UnitSums.from_counts(30, 400)
    assert single.variance(30 / 400) == pytest.approx((30 / 400) * (1 - 30 / 400) / 400 * 400 / 399)


def test_identical_rates_rarely_cross_the_boundary_however_often_they_are_checked() -> None:
    # Ville's inequality: checked after every 10 requests up to 1,000, false rejections stay below alpha.
    rng = np.random.default_rng(11)
    alpha, runs, crossed = 0.05, 200, 0
    for _ in range(runs):
        a = rng.random(1000) < 0.1
        b = rng.random(1000) < 0.1
        for k in range(10, 1001, 10):
            test = sequential_rate_test(
                UnitSums.from_counts(int(a[:k].sum()), k),
                UnitSums.from_counts(int(b[:k].sum()), k),
                alpha=alpha,
                tau=0.05,
            )
            if test.reject:
                crossed += 1
                break
    assert crossed / runs <= alpha


def test_a_clear_increase_crosses_the_boundary_and_a_decrease_never_does() -> None:
    worse = sequential_rate_test(UnitSums.from_counts(80, 1000), UnitSums.from_counts(20, 1000), alpha=0.01, tau=0.02)
    better = sequential_rate_test(UnitSums.from_counts(20, 1000), UnitSums.from_counts(80, 1000), alpha=0.01, tau=0.02)
    assert worse.reject and worse.p_value < 0.01 and not better.reject and better.p_value == 1.0
