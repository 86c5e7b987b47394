"""Statistics checked against hand-computed values and simulated null distributions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from promptlab.comparison._stats import (
    benjamini_hochberg,
    bootstrap_mean_ci,
    bootstrap_quantile_delta_ci,
    holm,
    mcnemar_exact,
    paired_test,
    percentile,
    sign_flip_test,
)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (1, 5, 2 * (1 + 6) / 2**6),  # 0.21875
        (0, 10, 2 / 2**10),  # 0.001953125
        (2, 12, 2 * (1 + 14 + 91) / 2**14),  # 0.012939453125
        (7, 1, 2 * (1 + 8) / 2**8),  # 0.0703125
        (3, 3, 1.0),  # doubled tail exceeds 1: capped
        (0, 0, 1.0),
        (0, 1, 1.0),
        (0, 5, 2 / 32),  # 0.0625: five discordant pairs can never reach 0.05
        (0, 6, 2 / 64),  # 0.03125
    ],
)
def test_mcnemar_exact_matches_hand_computed_values(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, abs=1e-15)
    assert mcnemar_exact(c, b) == pytest.approx(expected, abs=1e-15)


def test_mcnemar_exact_handles_many_discordant_pairs_without_overflow() -> None:
    # 1000 vs 1100 discordant pairs: z = 100 / sqrt(2100) = 2.18, two-sided normal p ~ 0.029.
    p = mcnemar_exact(1000, 1100)
    assert 0.02 < p < 0.04


def test_mcnemar_rejects_at_most_alpha_of_null_datasets() -> None:
    rng = np.random.default_rng(7)
    rejections = 0
    trials = 4000
    for _ in range(trials):
        discordant = int(rng.integers(6, 80))
        b = int(rng.binomial(discordant, 0.5))
        rejections += mcnemar_exact(b, discordant - b) < 0.05
    rate = rejections / trials
    # The exact test is conservative (discrete), but not absurdly so.
    assert 0.02 < rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / trials)


def test_sign_flip_exact_enumerates_every_sign_pattern() -> None:
    # Sums of +-1 +-2 +-3: 6, 4, 2, 0, 0, -2, -4, -6; |S| >= 6 in 2 of 8 patterns, |S| >= 2 in 6 of 8.
    p, method = sign_flip_test([1.0, 2.0, 3.0], rng=np.random.default_rng(0))
    assert (p, method) == (0.25, "sign_flip_exact")
    p, _ = sign_flip_test([1.0, -2.0, 3.0, 0.0], rng=np.random.default_rng(0))
    assert p == 6 / 8


def test_sign_flip_on_zero_one_differences_equals_mcnemar() -> None:
    diffs = [1.0] * 9 + [-1.0] * 2 + [0.0] * 30
    p, method = sign_flip_test(diffs, rng=np.random.default_rng(0))
    assert method == "sign_flip_exact"
    assert p == pytest.approx(mcnemar_exact(2, 9))


def test_sign_flip_monte_carlo_is_seeded_and_close_to_exact() -> None:
    d = np.array([0.5, 1.0, 0.25, 0.75, 1.0, -0.5, 0.5, 1.0, 0.25, -0.25, 0.5, 0.75, 1.0, -0.75, 0.5, 0.25])
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9))
    p1, method = sign_flip_test(d, rng=np.random.default_rng(3), n_permutations=20_000)
    p2, _ = sign_flip_test(d, rng=np.random.default_rng(3), n_permutations=20_000)
    assert method == "sign_flip_monte_carlo"
    assert p1 == p2
    assert p1 == pytest.approx(exact, abs=0.005)


def test_paired_test_picks_mcnemar_for_binary_outcomes() -> None:
    b = np.array([1, 1, 1, 0, 0, 1, 1, 1.0])
    c = np.array([0, 0, 0, 0, 1, 1, 0, 0.0])
    p, method = paired_test(b, c, binary=True, rng=np.random.default_rng(0))
    assert (p, method) == (mcnemar_exact(5, 1), "mcnemar_exact")


def test_holm_matches_hand_computed_values() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_benjamini_hochberg_matches_hand_computed_values() -> None:
    # Ranks 1..4: 0.005*4/1 = 0.02, 0.01*4/2 = 0.02, 0.03*4/3 = 0.04, 0.04*4/4 = 0.04 (step-up minimum).
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # Step-up: a larger p-value lowers the adjustment of a smaller one.
    assert benjamini_hochberg([0.02, 0.03]) == pytest.approx([0.03, 0.03])


def test_bootstrap_mean_ci_covers_the_planted_mean_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    d = rng.normal(0.3, 1.0, size=400)
    ci1 = bootstrap_mean_ci(d, rng=np.random.default_rng(5), n_boot=2000, alpha=0.05)
    ci2 = bootstrap_mean_ci(d, rng=np.random.default_rng(5), n_boot=2000, alpha=0.05)
    assert ci1 == ci2
    assert ci1 is not None
    low, high = ci1
    assert low < d.mean() < high
    # Width close to the normal-theory 2 * 1.96 * sd / sqrt(n).
    assert high - low == pytest.approx(2 * 1.96 * d.std(ddof=1) / 20, rel=0.15)
    assert bootstrap_mean_ci([], rng=np.random.default_rng(0), n_boot=100, alpha=0.05) is None
    assert bootstrap_mean_ci([0.0, 0.0], rng=np.random.default_rng(0), n_boot=100, alpha=0.05) == (0.0, 0.0)


def test_bootstrap_quantile_delta_ci_finds_a_planted_latency_shift() -> None:
    rng = np.random.default_rng(2)
    n = 300
    base = rng.lognormal(0.0, 0.3, size=n)
    cand = base + 0.5
    index = np.arange(n)
    ci = bootstrap_quantile_delta_ci(
        (base, index), (cand, index), n_cases=n, q=0.95, rng=np.random.default_rng(0), n_boot=500, alpha=0.05
    )
    assert ci is not None
    # Every case is exactly 0.5 s slower, so every resample's p95 moves by exactly 0.5 s.
    assert ci == pytest.approx((0.5, 0.5))


def test_percentile_returns_an_observed_value() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 95) == 100.0
    assert percentile([], 95) is None


# --- score intervals, one-sided tests, Holm levels, Wilson (checked against SciPy and the defining formulas) -----


from scipy import optimize as _opt  # noqa: E402
from scipy import stats as _st  # noqa: E402

from promptlab.comparison._power import cases_needed, min_detectable_drop  # noqa: E402
from promptlab.comparison._stats import (  # noqa: E402
    adjusted_t_interval,
    adjusted_t_moments,
    adjusted_t_pvalue,
    holm_levels,
    mcnemar_score_pvalue,
    tango_interval,
    tango_score,
    wilson_interval,
)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 1), (3, 9), (17, 4), (250, 260), (19_990, 20_010), (0, 40_000)])
def test_mcnemar_exact_matches_scipy_binomtest_at_any_size(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else _st.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def _tango_p21_numerically(b: int, c: int, n: int, delta: float) -> float:
    """Constrained MLE of p21 (pass-to-fail) under p12 - p21 = delta, by maximising the multinomial likelihood."""

    def nll(p21: float) -> float:
        p12 = p21 + delta
        rest = 1 - p12 - p21
        return -(c * math.log(max(p12, 1e-300)) + b * math.log(max(p21, 1e-300)) + (n - b - c) * math.log(rest))

    lo, hi = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
    return float(_opt.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x)


@pytest.mark.parametrize(
    ("b", "c", "n", "delta"), [(3, 9, 40, 0.05), (10, 2, 30, -0.1), (5, 5, 50, 0.2), (1, 7, 20, -0.3)]
)
def test_tango_score_uses_the_constrained_maximum_likelihood_estimate(b: int, c: int, n: int, delta: float) -> None:
    p21 = _tango_p21_numerically(b, c, n, delta)
    direct = (c - b - n * delta) / math.sqrt(n * (2 * p21 + delta * (1 - delta)))
    assert tango_score(b, c, n=n, delta=delta) == pytest.approx(direct, abs=1e-4)


@pytest.mark.parametrize(("b", "c"), [(1, 5), (7, 1), (12, 30), (40, 1)])
def test_tango_score_at_zero_is_mcnemars_z_and_the_one_sided_p_is_its_normal_tail(b: int, c: int) -> None:
    z = (c - b) / math.sqrt(b + c)
    assert tango_score(b, c, n=100, delta=0.0) == pytest.approx(z)
    assert mcnemar_score_pvalue(b, c, n=100) == pytest.approx(_st.norm.cdf(z))


@pytest.mark.parametrize(("b", "c", "n"), [(0, 0, 15), (0, 3, 15), (4, 4, 30), (9, 1, 60), (0, 15, 15), (15, 0, 15)])
def test_tango_interval_inverts_the_score_test_and_is_never_of_zero_width(b: int, c: int, n: int) -> None:
    low, high = tango_interval(b, c, n=n, alpha=0.05)
    z = _st.norm.ppf(0.975)
    assert -1 <= low < (c - b) / n + 1e-12 and (c - b) / n - 1e-12 < high <= 1
    assert high - low > 0.05
    if low > -1:
        assert tango_score(b, c, n=n, delta=low) == pytest.approx(z, abs=1e-6)
    if high < 1:
        assert tango_score(b, c, n=n, delta=high) == pytest.approx(-z, abs=1e-6)


def test_tango_interval_without_discordant_pairs_has_the_closed_form_half_width() -> None:
    z2 = _st.norm.ppf(0.975) ** 2
    low, high = tango_interval(0, 0, n=15, alpha=0.05)
    assert high == pytest.approx(z2 / (15 + z2), abs=1e-9)
    assert low == pytest.approx(-z2 / (15 + z2), abs=1e-9)


@pytest.mark.parametrize("n", [15, 30])
@pytest.mark.parametrize(("p12", "p21"), [(0.05, 0.05), (0.1, 0.02), (0.2, 0.1), (0.02, 0.15), (0.3, 0.3), (0.01, 0.1)])
def test_tango_interval_covers_at_least_93_percent_by_exact_enumeration(n: int, p12: float, p21: float) -> None:
    # Every (candidate-only, baseline-only) count pair with its exact trinomial probability.
    delta = p12 - p21
    coverage = 0.0
    for c in range(n + 1):
        for b in range(n + 1 - c):
            prob = math.exp(
                math.lgamma(n + 1) - math.lgamma(c + 1) - math.lgamma(b + 1) - math.lgamma(n - b - c + 1)
                + (c * math.log(p12) if c else 0.0) + (b * math.log(p21) if b else 0.0)
                + (n - b - c) * math.log(1 - p12 - p21)
            )  # fmt: skip
            low, high = tango_interval(b, c, n=n, alpha=0.05)
            coverage += prob * (low - 1e-12 <= delta <= high + 1e-12)
    assert coverage >= 0.93


def test_adjusted_t_is_bonett_price_with_one_repeat_and_never_of_zero_width() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(5, 80))
        d = rng.choice([-1.0, 0.0, 1.0], size=n, p=[0.1, 0.8, 0.1])
        b, c = int(np.sum(d == -1)), int(np.sum(d == 1))
        mean, se, df = adjusted_t_moments(d)
        p12, p21 = (c + 1) / (n + 2), (b + 1) / (n + 2)
        assert mean == pytest.approx(p12 - p21)
        # Bonett-Price's variance (p12 + p21 - (p12 - p21)^2) / (n + 2), with the sample (n - 1) divisor.
        assert se**2 == pytest.approx((p12 + p21 - (p12 - p21) ** 2) / (n + 1))
        low, high = adjusted_t_interval(mean, se, df, alpha=0.05)
        assert high - low > 0
        assert adjusted_t_pvalue(mean, se, df) == pytest.approx(_st.t.cdf(mean / se, df))
    mean, se, df = adjusted_t_moments(np.zeros(15))
    low, high = adjusted_t_interval(mean, se, df, alpha=0.05)
    assert low < 0 < high


@pytest.mark.parametrize(("k", "n"), [(0, 15), (3, 15), (15, 15), (40, 50), (123, 245)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    expected = _st.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n, alpha=0.05) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_holm_levels_reject_exactly_what_holm_rejects() -> None:
    rng = np.random.default_rng(11)
    for _ in range(500):
        m = int(rng.integers(1, 12))
        ps = list(rng.uniform(0, 0.08, size=m) ** rng.uniform(0.5, 2))
        adjusted, levels = holm(ps), holm_levels(ps, 0.05)
        for p, pa, level in zip(ps, adjusted, levels, strict=True):
            assert (pa < 0.05) == (p < level)
            assert 0.05 / m <= level <= 0.05


@pytest.mark.parametrize(("discordance", "repeats"), [(0.02, 1), (0.1, 1), (0.1, 3)])
def test_power_planning_is_self_consistent(discordance: float, repeats: int) -> None:
    for drop in (0.05, 0.1, 0.2):
        n = cases_needed(drop, alpha=0.05 / 9, discordance=discordance, repeats=repeats)
        assert min_detectable_drop(n, alpha=0.05 / 9, discordance=discordance, repeats=repeats) <= drop + 1e-6
        assert min_detectable_drop(n - 1, alpha=0.05 / 9, discordance=discordance, repeats=repeats) > drop - 0.01
    # More repeats average noise away: fewer cases needed.
    assert cases_needed(0.1, alpha=0.01, discordance=0.1, repeats=3) < cases_needed(0.1, alpha=0.01, discordance=0.1,
                                                                                     repeats=1)  # fmt: skip
