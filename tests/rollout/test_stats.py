"""The one-sided tests behind the canary: known values."""

from __future__ import annotations

import math

import pytest

from promptlab.rollout import fisher_exact_greater, proportion_test, two_proportion_z_greater


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
