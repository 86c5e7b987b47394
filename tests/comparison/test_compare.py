"""Comparisons of planted run pairs with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptlab.comparison import Comparison, compare
from promptlab.comparison._stats import benjamini_hochberg, holm
from promptlab.datasets import Case
from promptlab.errors import ComparabilityError, InputError
from promptlab.runner._results import CaseResult, load_run
from tests._support.runs import Profile, make_cases, write_run
from tests._support.scenarios import costly_improvement, equivalent_runs, segment_regression

FAST: dict[str, Any] = {"n_boot": 300, "n_permutations": 2000}


def _index(case: Case) -> int:
    return int(case.id[1:])


def _outcomes(table: dict[int, bool]) -> Any:
    """An outcome function from a case index -> pass table (missing indices pass)."""
    return lambda case, repeat, rng: table.get(_index(case), True)


# --- planted segment effects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segment_regression_is_named_while_the_candidate_improves_overall(tmp_path: Path, seed: int) -> None:
    base, cand = segment_regression(tmp_path, seed=seed)
    cmp = compare(base, cand, **FAST)
    assert cmp.overall.verdict == "improved"
    assert cmp.overall.delta is not None and cmp.overall.delta > 0.1
    regressed = [g.label for g in cmp.segments if g.verdict == "regressed"]
    assert regressed == ["intent=refund"]
    refund = cmp.group("segment:intent=refund")
    assert refund is not None and refund.delta is not None and refund.ci_high is not None
    assert refund.delta < -0.25 and refund.ci_high < 0
    assert cmp.summary.regressed_groups == ["intent=refund"]
    assert any("regressed: intent=refund" in line for line in cmp.summary.lines)


@pytest.mark.parametrize(("seed", "repeats"), [(1, 1), (2, 1), (3, 1), (4, 1), (1, 3)])
def test_equivalent_noisy_runs_report_no_significant_difference(tmp_path: Path, seed: int, repeats: int) -> None:
    base, cand = equivalent_runs(tmp_path, seed=seed, repeats=repeats)
    cmp = compare(base, cand, **FAST)
    assert cmp.overall.verdict == "no_significant_change"
    tested = [g for g in cmp.segments if g.verdict != "not_enough_data"]
    assert len(tested) >= 14  # intent x geo x tenant values, hard-negative categories and `regression`
    assert {g.verdict for g in tested} == {"no_significant_change"}
    assert cmp.summary.n_undeclared_changes == 0
    assert all(b.status in ("no_change", "descriptive") for b in cmp.behaviour.changes)
    # The runs really are noisy: many cases flip both ways, and the intervals straddle zero.
    assert cmp.overall.n_pass_to_fail > 10 and cmp.overall.n_fail_to_pass > 10
    assert cmp.overall.ci_low is not None and cmp.overall.ci_high is not None
    assert cmp.overall.ci_low < 0 < cmp.overall.ci_high
    if repeats > 1:
        assert cmp.overall.test in ("sign_flip_exact", "sign_flip_monte_carlo")


def test_segment_p_values_are_exact_mcnemar_on_planted_discordant_pairs(tmp_path: Path) -> None:
    cases = make_cases(40, dims={"intent": ["a", "b"]})  # even indices intent=a, odd intent=b
    base_table: dict[int, bool] = {}
    cand_table: dict[int, bool] = {}
    for i in range(40):
        j = i // 2
        if i % 2 == 0:  # intent=a: 7 pass->fail, 1 fail->pass, 6 pass both, 6 fail both
            base_table[i] = j <= 6 or 8 <= j <= 13
            cand_table[i] = j == 7 or 8 <= j <= 13
        else:  # intent=b: 6 fail->pass, 10 pass both, 4 fail both
            base_table[i] = 6 <= j <= 15
            cand_table[i] = j <= 15
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=_outcomes(base_table)))
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", outcome=_outcomes(cand_table)))
    cmp = compare(base, cand, min_n=10, **FAST)

    a, b = cmp.group("segment:intent=a"), cmp.group("segment:intent=b")
    assert a is not None and b is not None
    assert (a.n, a.n_pass_to_fail, a.n_fail_to_pass) == (20, 7, 1)
    assert a.baseline_pass_rate == pytest.approx(13 / 20) and a.candidate_pass_rate == pytest.approx(7 / 20)
    assert a.delta == pytest.approx(-0.30)
    assert a.test == "mcnemar_exact"
    assert a.p_value == pytest.approx(2 * (1 + 8) / 256)  # 0.0703125
    assert b.p_value == pytest.approx(2 / 64)  # 0.03125
    # Holm over the two groups: 0.03125 * 2 = 0.0625, then max(0.0625, 0.0703125 * 1).
    assert b.p_adjusted == pytest.approx(0.0625) and a.p_adjusted == pytest.approx(0.0703125)
    assert a.verdict == b.verdict == "no_significant_change"
    assert cmp.overall.p_value == pytest.approx(1.0)  # 7 vs 7 discordant pairs


@pytest.mark.parametrize(("correction", "adjust"), [("holm", holm), ("bh", benjamini_hochberg)])
def test_segment_p_values_are_adjusted_across_tested_groups(tmp_path: Path, correction: Any, adjust: Any) -> None:
    base, cand = segment_regression(tmp_path, seed=0)
    cmp = compare(base, cand, correction=correction, min_n=20, **FAST)
    tested = [g for g in cmp.segments if g.verdict != "not_enough_data"]
    small = [g for g in cmp.segments if g.verdict == "not_enough_data"]
    assert small and all(g.p_adjusted is None for g in small)
    expected = adjust([g.p_value for g in tested])
    assert [g.p_adjusted for g in tested] == pytest.approx(expected)
    assert cmp.overall.p_adjusted is None
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[correction]
    assert cmp.summary.correction.startswith(f"{name} across the {len(tested)} segment and tag groups")


def test_small_segments_are_reported_as_not_enough_data_even_when_they_drop(tmp_path: Path) -> None:
    cases = make_cases(60, dims={"intent": ["big", "big", "big", "big", "big", "tiny"]})
    tiny = [_index(c) for c in cases if c.segment["intent"] == "tiny"]
    assert len(tiny) == 10
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=_outcomes({})))
    cand = write_run(
        tmp_path / "c", cases=cases, profile=Profile(version="v2", outcome=_outcomes(dict.fromkeys(tiny, False)))
    )
    cmp = compare(base, cand, min_n=12, **FAST)
    g = cmp.group("segment:intent=tiny")
    assert g is not None
    assert (g.n, g.delta, g.verdict, g.p_adjusted) == (10, -1.0, "not_enough_data", None)
    assert g.p_value == pytest.approx(2 / 1024)  # still computed and shown, just not judged
    assert cmp.summary.segment_verdicts["not_enough_data"] == 1
    assert "1 not enough data (n < 12)" in cmp.summary.lines[2]
    # The four hard-negative categories are always listed, with n = 0 when absent.
    assert [(h.value, h.n, h.verdict) for h in cmp.hard_negatives] == [
        ("hard-negative:ambiguous", 0, "not_enough_data"),
        ("hard-negative:adversarial", 0, "not_enough_data"),
        ("hard-negative:long-context", 0, "not_enough_data"),
        ("hard-negative:tool-failure", 0, "not_enough_data"),
    ]


# --- comparability -------------------------------------------------------------------------------------------------


def _shifted_dataset(tmp_path: Path) -> tuple[Path, Path]:
    cases = make_cases(40)
    changed = cases[5].model_copy(update={"vars": {"message": "a different question"}})
    extra = make_cases(3, prefix="new")
    cand_cases = [*cases[2:5], changed, *cases[6:], *extra]  # c00, c01 removed; c05 changed; 3 added
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    cand = write_run(tmp_path / "c", cases=cand_cases, profile=Profile(version="v2"))
    return base, cand


def test_refuses_runs_over_different_datasets_and_says_what_differs(tmp_path: Path) -> None:
    base, cand = _shifted_dataset(tmp_path)
    with pytest.raises(ComparabilityError) as exc:
        compare(base, cand, **FAST)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("cannot compare: datasets differ")
    assert "2 cases only in baseline (c00, c01)" in message
    assert "3 cases only in candidate (new0, new1, new2)" in message
    assert "1 case with changed content (c05)" in message
    assert "--allow-different-datasets" in message and "38 shared cases" in message


def test_allowed_different_datasets_compare_the_shared_cases_and_say_so(tmp_path: Path) -> None:
    base, cand = _shifted_dataset(tmp_path)
    cmp = compare(base, cand, allow_different_datasets=True, **FAST)
    assert cmp.overall.n == 38
    c = cmp.comparability
    assert (c.same_dataset, c.cases_compared) == (False, 38)
    assert (c.only_in_baseline, c.only_in_candidate, c.changed_cases) == (
        ["c00", "c01"],
        ["new0", "new1", "new2"],
        ["c05"],
    )
    assert any("compared the 38 shared case ids only" in n for n in cmp.summary.notes)
    assert cmp.baseline.dataset_hash != cmp.candidate.dataset_hash


def test_refuses_runs_graded_by_different_evaluators_unless_allowed(tmp_path: Path) -> None:
    cases = make_cases(30)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(version="v2"),
        evaluators=["json_valid", {"contains": {"value": "order"}}],
    )
    with pytest.raises(ComparabilityError) as exc:
        compare(base, cand, **FAST)
    assert "\n" not in str(exc.value)
    assert 'evaluators only in baseline: "refusal"' in str(exc.value)
    assert "--allow-different-evaluators" in str(exc.value)
    cmp = compare(base, cand, allow_different_evaluators=True, **FAST)
    assert [e.label for e in cmp.evaluator_rates] == ["json_valid", "contains"]
    assert cmp.comparability.same_evaluators is False
    assert any("evaluator specs differ" in n for n in cmp.summary.notes)


def test_refuses_an_unfinished_run(tmp_path: Path) -> None:
    cases = make_cases(40)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(version="v2"),
        status="running",
        skip=lambda case, repeat: _index(case) >= 35,
    )
    with pytest.raises(ComparabilityError, match=r"candidate run is running \(35 of 40 cases have results\)"):
        compare(base, cand, **FAST)
    cmp = compare(base, cand, allow_different_datasets=True, **FAST)
    assert cmp.overall.n == 35


def test_bad_options_and_missing_runs_are_input_errors(tmp_path: Path) -> None:
    cases = make_cases(12)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    with pytest.raises(InputError, match="not a run directory"):
        compare(tmp_path / "missing", base)
    with pytest.raises(InputError, match="alpha"):
        compare(base, base, alpha=0)
    with pytest.raises(InputError, match="min_n"):
        compare(base, base, min_n=0)
    with pytest.raises(InputError, match="correction"):
        compare(base, base, correction="bonferroni")  # type: ignore[arg-type]


# --- regressions, evaluators -------------------------------------------------------------------------------------


def _flip_profile(failing: dict[int, list[str]]) -> Profile:
    return Profile(
        version="v2",
        outcome=lambda case, repeat, rng: _index(case) not in failing,
        fail_evaluators=lambda case, rng: failing[_index(case)],
    )


FAILING = {
    0: ["json_valid"],  # high risk, 1 flip -> severity 3
    1: ["json_valid", "contains", "refusal"],  # low risk, 3 flips -> 3
    2: ["json_valid", "contains"],  # medium, 2 flips -> 4
    3: ["json_valid", "contains", "refusal"],  # high, 3 flips -> 9
    4: ["contains"],  # low -> 1
    5: ["refusal"],  # medium -> 2
}


def test_regressions_are_ranked_by_severity_with_reasons_and_both_outputs(tmp_path: Path) -> None:
    cases = make_cases(12, dims={"risk": ["high", "low", "medium"]})
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=_outcomes({})))
    cand = write_run(tmp_path / "c", cases=cases, profile=_flip_profile(FAILING))
    cmp = compare(base, cand, **FAST)
    regs = cmp.regressions
    assert [r.case_id for r in regs] == ["c03", "c02", "c00", "c01", "c05", "c04"]
    assert [r.severity for r in regs] == [9.0, 4.0, 3.0, 3.0, 2.0, 1.0]
    assert [r.rank for r in regs] == [1, 2, 3, 4, 5, 6]
    top = regs[0]
    assert (top.risk, top.segment, top.baseline_outcome, top.candidate_outcome) == (
        "high",
        {"risk": "high"},
        "pass",
        "fail",
    )
    assert [f.label for f in top.flipped] == ["json_valid", "contains", "refusal"]
    assert top.flipped[1].reason == "contains failed on c03"
    assert top.baseline_output and top.candidate_output
    assert cmp.improvements == []
    assert cmp.summary.n_regressions == 6

    weighted = compare(base, cand, weights={"contains": 5.0}, **FAST)
    assert [r.case_id for r in weighted.regressions] == ["c03", "c02", "c01", "c04", "c00", "c05"]
    assert next(e for e in weighted.evaluator_rates if e.label == "contains").weight == 5.0

    flipped_back = compare(cand, base, **FAST)
    assert [r.case_id for r in flipped_back.improvements] == ["c03", "c02", "c00", "c01", "c05", "c04"]
    assert flipped_back.improvements[0].flipped[0].reason == "json_valid failed on c03"


def test_a_failed_model_call_is_named_as_the_flip(tmp_path: Path) -> None:
    cases = make_cases(10)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=_outcomes({})))
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(version="v2", outcome=_outcomes({}), error_prob=lambda c: float(c.id == "c4")),
    )
    cmp = compare(base, cand, **FAST)
    (reg,) = cmp.regressions
    assert (reg.case_id, reg.candidate_outcome, reg.candidate_output) == ("c4", "error", None)
    assert [(f.label, f.error) for f in reg.flipped] == [("error:timeout", "no answer within 30s")]
    assert "candidate: 1 model call failed; they count as not passing" in cmp.summary.notes


def test_per_evaluator_pass_rates_match_the_result_rows(tmp_path: Path) -> None:
    base, cand = segment_regression(tmp_path, seed=1)
    cmp = compare(base, cand, **FAST)
    fb, fc = load_run(base), load_run(cand)
    for e in cmp.evaluator_rates:
        assert e.n == len(fb)
        assert e.baseline_pass_rate == pytest.approx(fb[f"eval.{e.label}.passed"].astype(bool).mean())
        assert e.candidate_pass_rate == pytest.approx(fc[f"eval.{e.label}.passed"].astype(bool).mean())
        assert e.test == "mcnemar_exact" and e.p_value is not None
    assert [e.label for e in cmp.evaluator_rates] == ["json_valid", "contains", "refusal"]
    assert cmp.evaluator_rates[0].spec == "json_valid"


# --- repeats and stability -----------------------------------------------------------------------------------------


def test_repeats_average_per_case_and_report_flaky_cases_per_version(tmp_path: Path) -> None:
    cases = make_cases(30)
    base_flaky, cand_flaky = {0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}

    def outcome(flaky: set[int]) -> Any:
        return lambda case, repeat, rng: not (_index(case) in flaky and repeat == 1)

    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=outcome(base_flaky)), repeats=3)
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", outcome=outcome(cand_flaky)), repeats=3)
    cmp = compare(base, cand, min_n=5, **FAST)
    st = cmp.stability
    assert (st.baseline.repeats, st.baseline.n_cases, st.baseline.n_flaky) == (3, 30, 5)
    assert st.baseline.case_ids == ["c00", "c01", "c02", "c03", "c04"]
    assert st.candidate.case_ids == ["c05", "c06", "c07", "c08", "c09"]
    assert st.candidate.flaky_rate == pytest.approx(5 / 30)
    # Per-case rates averaged over repeats: 2/3 for flaky cases, so equal overall pass rates.
    assert cmp.overall.baseline_pass_rate == pytest.approx(cmp.overall.candidate_pass_rate)
    assert cmp.overall.baseline_pass_rate == pytest.approx((25 + 5 * 2 / 3) / 30)
    # Ten cases differ by +-1/3: the sign-flip test enumerates all 2^10 patterns; the sums cancel, so p = 1.
    assert (cmp.overall.test, cmp.overall.p_value) == ("sign_flip_exact", 1.0)
    assert "stability: baseline 5/30 flaky, candidate 5/30 flaky" in cmp.summary.lines


def test_one_repeat_leaves_stability_unmeasured(tmp_path: Path) -> None:
    cases = make_cases(12)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    cmp = compare(base, base, **FAST)
    assert cmp.stability.baseline.n_flaky is None and cmp.stability.baseline.case_ids == []
    assert "stability: not measured (one repeat per case)" in cmp.summary.lines


# --- latency and cost ----------------------------------------------------------------------------------------------


def test_latency_excludes_cache_hits_unless_every_call_was_a_hit(tmp_path: Path) -> None:
    cases = make_cases(100)

    def slow_cache_hits(case: Case, repeat: int, row: CaseResult) -> CaseResult:
        # A planted absurd latency on cache hits: it must not reach the percentiles.
        if _index(case) % 2 == 0:
            row.cached, row.latency_s = True, 50.0
        return row

    base = write_run(tmp_path / "b", cases=cases, profile=Profile(latency_s=1.0))
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", latency_s=2.0, edit=slow_cache_hits))
    cmp = compare(base, cand, **FAST)
    p50, p95 = cmp.metric("latency_p50_s"), cmp.metric("latency_p95_s")
    assert p50 is not None and p95 is not None
    assert p50.candidate is not None and p95.candidate is not None
    assert 1.6 < p50.candidate < 2.5 and p95.candidate < 5
    assert cmp.latency_cost.latency_source["candidate"] == "uncached calls (50 rows; 50 cache hits excluded)"
    assert p50.delta is not None and p50.ci_low is not None and p50.ci_high is not None
    assert 0 < p50.ci_low <= p50.delta <= p50.ci_high
    assert p50.delta_pct == pytest.approx(100 * p50.delta / p50.baseline)

    all_hits = write_run(tmp_path / "h", cases=cases, profile=Profile(version="v3", latency_s=3.0, cached_prob=1.0))
    cmp = compare(base, all_hits, **FAST)
    assert (
        cmp.latency_cost.latency_source["candidate"] == "recorded latencies of cache hits (all 100 rows were "
        "cache hits)"
    )
    p50 = cmp.metric("latency_p50_s")
    assert p50 is not None and p50.candidate is not None and 2.5 < p50.candidate < 3.5


def test_tokens_and_cost_per_case_and_total_with_intervals(tmp_path: Path) -> None:
    cases = make_cases(80)

    def free_cache_hit(case: Case, repeat: int, row: CaseResult) -> CaseResult:
        if _index(case) < 10:
            row.cached, row.cost_usd = True, 0.0
        return row

    base = write_run(tmp_path / "b", cases=cases, profile=Profile(price_out=0.6))
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", price_out=1.2, edit=free_cache_hit))
    cmp = compare(base, cand, **FAST)
    fb, fc = load_run(base), load_run(cand)
    in_b, out_b = fb.input_tokens.to_numpy(), fb.output_tokens.to_numpy()
    in_c, out_c = fc.input_tokens.to_numpy(), fc.output_tokens.to_numpy()
    cost_b = (in_b * 0.15 + out_b * 0.6) / 1e6
    cost_c = (in_c * 0.15 + out_c * 1.2) / 1e6  # cache hits recorded at $0 are priced from their tokens
    total = cmp.metric("total_cost_usd")
    per_case = cmp.metric("cost_per_case_usd")
    assert total is not None and per_case is not None
    assert total.baseline == pytest.approx(cost_b.sum()) and total.candidate == pytest.approx(cost_c.sum())
    assert per_case.candidate == pytest.approx(cost_c.mean())
    assert per_case.ci_low is not None and per_case.ci_high is not None and per_case.delta is not None
    assert per_case.ci_low <= per_case.delta <= per_case.ci_high
    tokens = cmp.metric("total_tokens")
    assert tokens is not None and tokens.candidate == pytest.approx(float(in_c.sum() + out_c.sum()))
    assert per_case.delta_pct == pytest.approx(100 * (cost_c.mean() - cost_b.mean()) / cost_b.mean())
    # One result per case on both sides: the total's interval is the per-case interval times the 80 cases.
    assert (total.ci_low, total.ci_high) == pytest.approx((per_case.ci_low * 80, per_case.ci_high * 80))


# --- behaviour changes -----------------------------------------------------------------------------------------------


def test_behaviour_changes_are_marked_declared_or_undeclared(tmp_path: Path) -> None:
    cases = make_cases(120, dims={"intent": ["refund", "billing", "shipping"]})
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(words=40, tools=["lookup_order"]), seed=1)
    declared = [
        {"behaviour": "verbosity", "direction": "increase", "description": "fuller answers"},
        {"behaviour": "tool_usage", "direction": "decrease"},
        {"behaviour": "latency", "direction": "decrease", "description": "shorter prompt"},
        {"behaviour": "output_format", "direction": "change", "segment": {"intent": "refund"}},
    ]
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(
            version="v2",
            words=70,
            tools=[],
            offered_tools=["lookup_order"],
            refusal_prob=0.3,
            expected_changes=declared,
        ),
        seed=2,
    )
    cmp = compare(base, cand, **FAST)
    rows = {(b.metric, tuple(b.scope.items())): b for b in cmp.behaviour.changes}
    words = rows[("words_per_case", ())]
    assert (words.status, words.direction) == ("declared_change", "increase")
    assert words.declaration == "verbosity increase: fuller answers"
    refusal = rows[("refusal_rate", ())]
    assert (refusal.status, refusal.direction, refusal.declaration) == ("undeclared_change", "increase", None)
    assert refusal.baseline == 0.0 and refusal.candidate is not None and 0.2 < refusal.candidate < 0.4
    calls = rows[("calls_to:lookup_order", ())]
    assert (calls.status, calls.direction, calls.baseline, calls.candidate) == ("declared_change", "decrease", 1.0, 0.0)
    assert rows[("latency_mean_s", ())].status == "no_change"
    # The declaration scoped to intent=refund is measured in that segment too (its behaviour only).
    assert rows[("json_valid_rate", (("intent", "refund"),))].n == 40
    assert [b.metric for b in cmp.behaviour.changes if b.scope] == ["json_valid_rate"]
    not_observed = {(d.behaviour, d.direction): d for d in cmp.behaviour.declared_not_observed}
    assert set(not_observed) == {("latency", "decrease"), ("output_format", "change")}
    assert "latency_mean_s" in not_observed[("latency", "decrease")].observed
    assert "no significant change" in not_observed[("latency", "decrease")].observed
    assert cmp.summary.n_undeclared_changes == 2  # refusals and cost (longer answers cost more)
    assert {b.metric for b in cmp.behaviour.changes if b.status == "undeclared_change"} == {
        "refusal_rate",
        "cost_per_case_usd",
    }


def test_refusal_rate_comes_from_the_refusal_evaluator_when_the_expectation_is_known(tmp_path: Path) -> None:
    cases = make_cases(40, should_refuse=lambda i: True)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=_outcomes({})))
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(
            version="v2", outcome=lambda case, repeat, rng: False, fail_evaluators=lambda case, rng: ["refusal"]
        ),
    )
    cmp = compare(base, cand, **FAST)
    refusal = next(b for b in cmp.behaviour.changes if b.metric == "refusal_rate")
    # The answers' text never refuses; the evaluator says the baseline refused (as it should) and the candidate not.
    assert (refusal.baseline, refusal.candidate, refusal.direction) == (1.0, 0.0, "decrease")
    assert refusal.p_value == pytest.approx(2 / 2**40)


def test_tool_sequence_changes_are_described_and_matched_to_declarations(tmp_path: Path) -> None:
    cases = make_cases(30)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(tools=["lookup_order", "issue_refund"]))
    cand = write_run(
        tmp_path / "c",
        cases=cases,
        profile=Profile(
            version="v2",
            tools=["issue_refund", "lookup_order"],
            expected_changes=[{"behaviour": "tool_usage", "direction": "change", "description": "refund first"}],
        ),
    )
    cmp = compare(base, cand, **FAST)
    seq = next(b for b in cmp.behaviour.changes if b.metric == "tool_sequence_changed")
    assert (seq.status, seq.direction, seq.candidate) == ("descriptive", "change", 1.0)
    assert seq.declaration == "tool_usage change: refund first"
    assert seq.detail.startswith("most frequent tool sequence differs in 30 of 30 cases: c00, c01")
    assert cmp.behaviour.declared_not_observed == []
    calls = next(b for b in cmp.behaviour.changes if b.metric == "tool_calls_per_case")
    assert calls.status == "no_change"


def test_code_fences_and_json_validity_are_measured(tmp_path: Path) -> None:
    cases = make_cases(60)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile())
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", code_fence_prob=1.0))
    cmp = compare(base, cand, **FAST)
    rows = {b.metric: b for b in cmp.behaviour.changes}
    assert (rows["code_fence_rate"].baseline, rows["code_fence_rate"].candidate) == (0.0, 1.0)
    assert rows["code_fence_rate"].status == "undeclared_change"
    assert rows["json_valid_rate"].candidate == 1.0  # fenced JSON still parses


# --- determinism ---------------------------------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    base, cand = costly_improvement(tmp_path)
    compare(base, cand, out=tmp_path / "one", **FAST)
    compare(base, cand, out=tmp_path / "two", **FAST)
    for name in ["comparison.json", *(f"tables/{p.name}" for p in (tmp_path / "one" / "tables").iterdir())]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    other_seed = compare(base, cand, seed=1, **FAST)
    first = compare(base, cand, **FAST)
    assert isinstance(first, Comparison)
    assert other_seed.overall.p_value == first.overall.p_value  # exact test: no randomness
    assert other_seed.overall.ci_low == first.overall.ci_low  # score interval: no randomness either
    p95 = "latency_p95_s"
    assert other_seed.metric(p95).ci_low != first.metric(p95).ci_low  # type: ignore[union-attr]  # bootstrap: seeded


def test_comparison_ci_level_follows_alpha(tmp_path: Path) -> None:
    base, cand = costly_improvement(tmp_path)
    wide = compare(base, cand, alpha=0.01, **FAST).overall
    narrow = compare(base, cand, alpha=0.2, **FAST).overall
    assert wide.ci_low is not None and wide.ci_high is not None
    assert narrow.ci_low is not None and narrow.ci_high is not None
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low
    assert np.isclose(wide.delta, narrow.delta)
