"""Statistics checked against hand-computed values and simulated null distributions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from promptlab.compare._stats import (
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
