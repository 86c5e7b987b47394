"""Canary analysis from cohort counts: breach needs size *and* sequential evidence; thin cohorts are inconclusive."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.bench_canary_calibration import simulate
from promptlab.gate import load_policy
from promptlab.rollout import ClockSkew, CohortStats, RollbackCriteria, analyze_canary


def _criteria(**metrics: dict[str, float]) -> RollbackCriteria:
    return RollbackCriteria.model_validate({"metrics": metrics, "min_sample_per_cohort": 200, "confidence": 0.95})


def _cohorts(n1: int, x1: int, n0: int, x0: int, kind: str = "escalation") -> tuple[CohortStats, CohortStats]:
    return (
        CohortStats(version="v2", requests=n1, events={kind: x1}),
        CohortStats(version="v1", requests=n0, events={kind: x0}),
    )


def _analyze(cand: CohortStats, ctrl: CohortStats, criteria: RollbackCriteria, **kw: float):  # type: ignore[no-untyped-def]
    return analyze_canary(
        candidate=cand,
        control=ctrl,
        criteria=criteria,
        stage="s",
        elapsed_s=kw.get("elapsed", 0),
        min_duration_s=kw.get("min_duration", 0),
        min_requests=int(kw.get("min_requests", 0)),
    )


def test_a_large_significant_increase_breaches() -> None:
    report = _analyze(*_cohorts(1000, 150, 1000, 50), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    assert report.verdict == "breach"
    (m,) = report.breaches
    assert m.increase is not None and abs(m.increase - 0.10) < 1e-9 and m.p_value is not None and m.p_value < 1e-6
    assert "escalation_rate 15.00% vs control 5.00%" in report.summary()


def test_an_increase_within_the_threshold_is_healthy_even_if_significant() -> None:
    report = _analyze(*_cohorts(200000, 11000, 200000, 10000), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    assert report.verdict == "healthy" and report.metrics[0].p_value is not None and report.metrics[0].p_value < 1e-4


def test_an_increase_over_the_threshold_that_could_be_noise_does_not_breach() -> None:
    report = _analyze(*_cohorts(200, 15, 200, 8), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    m = report.metrics[0]
    assert m.exceeded and m.status == "ok" and report.verdict == "healthy"


def test_relative_thresholds_apply() -> None:
    report = _analyze(*_cohorts(5000, 150, 5000, 75), _criteria(escalation_rate={"max_rel_increase": 0.5}))
    assert report.verdict == "breach"


def test_below_the_minimum_sample_without_strong_evidence_is_inconclusive_and_says_what_is_missing() -> None:
    report = _analyze(*_cohorts(150, 9, 5000, 250), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    m = report.metrics[0]
    assert report.verdict == "inconclusive" and m.needs is not None and m.needs >= 50
    assert "needs 50 more candidate requests to reach the agreed sample of 200" in report.summary()


def test_overwhelming_evidence_freezes_long_before_the_minimum_sample() -> None:
    # 10.10: every candidate request fails, no control request does; one request per cohort at a time.
    criteria = load_policy("examples/support-triage/gate-policy.yaml").rollback
    first = None
    for n in range(1, 31):
        cand = CohortStats(version="v2", requests=n, events={"error": n})
        ctrl = CohortStats(version="v1", requests=n, events={"error": 0})
        if _analyze(cand, ctrl, criteria).verdict == "breach":
            first = n
            break
    assert first is not None and first <= 15


def test_no_candidate_data_is_inconclusive_never_healthy() -> None:
    report = _analyze(*_cohorts(0, 0, 5000, 250), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    assert report.verdict == "inconclusive" and "no data from the candidate cohort" in report.summary()
    latency = _analyze(
        CohortStats(version="v2", requests=500),
        CohortStats(version="v1", requests=500, latencies_ms=[800.0] * 500),
        _criteria(p95_latency_s={"max_rel_increase": 0.25}),
    )
    assert latency.verdict == "inconclusive"


def test_sticky_users_weigh_as_units_not_as_independent_requests() -> None:
    # The same totals: 40 events in 400 candidate requests. Spread over 400 users they are strong evidence; piled on
    # 4 users who each sent 10 requests (and failed every one of them) they say little about the next user.
    criteria = _criteria(escalation_rate={"max_abs_increase": 0.03})
    ctrl = CohortStats(version="v1", requests=4000, events={"escalation": 200})
    spread = CohortStats(version="v2", requests=400, events={"escalation": 40})
    piled = CohortStats(
        version="v2",
        requests=400,
        events={"escalation": 40},
        unit="user_id",
        unit_requests=[10] * 4 + [1] * 360,
        unit_events={"escalation": [10] * 4 + [0] * 360},
    )
    by_request, by_user = _analyze(spread, ctrl, criteria), _analyze(piled, ctrl, criteria)
    assert by_request.verdict == "breach" and by_user.verdict != "breach"
    assert by_user.metrics[0].evidence is not None and by_request.metrics[0].evidence is not None
    assert by_user.metrics[0].evidence < by_request.metrics[0].evidence / 10
    assert "per-user rates" in by_user.method and "5%" in by_user.method


def test_report_is_plain_json_with_method_and_clock_skew() -> None:
    skew = ClockSkew(records=10, ahead=0, behind=3, max_abs_s=600.0, tolerance_s=300.0)
    report = analyze_canary(
        candidate=CohortStats(version="v2", requests=0),
        control=CohortStats(version="v1", requests=10, events={"escalation": 1}),
        criteria=_criteria(escalation_rate={"max_abs_increase": 0.03}),
        stage="s",
        elapsed_s=0,
        skew=skew,
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["clock_skew"]["behind"] == 3 and "3 of 10 requests" in data["clock_skew"]["note"]
    assert data["method"].startswith("Each metric is judged with an always-valid sequential test")


def test_identical_versions_are_rarely_frozen_with_sticky_users_and_frequent_checks() -> None:
    # Seeded simulation through the real analysis: 60 A/A rollouts, checked every 100 candidate requests to 1,500.
    criteria = load_policy("examples/support-triage/gate-policy.yaml").rollback
    rng = np.random.default_rng(7)
    frozen = sum(simulate(rng, criteria, max_candidate=1500).froze_at is not None for _ in range(60))
    assert frozen <= 3


def test_a_breach_on_one_metric_wins_over_a_thin_other_metric() -> None:
    criteria = RollbackCriteria.model_validate(
        {
            "metrics": {"escalation_rate": {"max_abs_increase": 0.03}, "p95_latency_s": {"max_rel_increase": 0.2}},
            "min_sample_per_cohort": 200,
        }
    )
    report = _analyze(*_cohorts(1000, 150, 1000, 50), criteria)
    assert [m.status for m in report.metrics] == ["breach", "inconclusive"] and report.verdict == "breach"


def test_custom_outcome_rates_are_analysed() -> None:
    report = _analyze(
        *_cohorts(1000, 120, 1000, 40, kind="thumbs_down"), _criteria(thumbs_down_rate={"max_abs_increase": 0.02})
    )
    assert report.verdict == "breach"


def test_latency_percentile_breach_needs_a_slower_tail() -> None:
    fast = [500.0 + (i % 100) * 5 for i in range(1000)]
    slow = [v * 1.6 for v in fast]
    criteria = _criteria(p95_latency_s={"max_rel_increase": 0.25})
    breach = _analyze(
        CohortStats(version="v2", requests=1000, latencies_ms=slow),
        CohortStats(version="v1", requests=1000, latencies_ms=fast),
        criteria,
    )
    assert breach.verdict == "breach"
    m = breach.metrics[0]
    assert m.candidate is not None and m.control is not None and abs(m.candidate / m.control - 1.6) < 0.01
    same = _analyze(
        CohortStats(version="v2", requests=1000, latencies_ms=fast),
        CohortStats(version="v1", requests=1000, latencies_ms=fast),
        criteria,
    )
    assert same.verdict == "healthy"


def test_ready_needs_both_duration_and_requests() -> None:
    cand, ctrl = _cohorts(1000, 50, 1000, 50)
    c = _criteria(escalation_rate={"max_abs_increase": 0.03})
    assert not _analyze(cand, ctrl, c, elapsed=100, min_duration=200).ready
    assert not _analyze(cand, ctrl, c, elapsed=300, min_duration=200, min_requests=2000).ready
    assert _analyze(cand, ctrl, c, elapsed=300, min_duration=200, min_requests=1000).ready
