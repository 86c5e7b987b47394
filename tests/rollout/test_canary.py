"""Canary analysis from cohort counts: breach needs size *and* significance; thin cohorts are inconclusive."""

from __future__ import annotations

from promptlab.gate import RollbackCriteria
from promptlab.rollout import CohortStats, analyze_canary


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
    report = _analyze(*_cohorts(20000, 1100, 20000, 1000), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    assert report.verdict == "healthy" and report.metrics[0].p_value is not None and report.metrics[0].p_value < 0.05


def test_an_increase_over_the_threshold_that_could_be_noise_does_not_breach() -> None:
    report = _analyze(*_cohorts(200, 15, 200, 8), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    m = report.metrics[0]
    assert m.exceeded and m.status == "ok" and report.verdict == "healthy"


def test_relative_thresholds_apply() -> None:
    report = _analyze(*_cohorts(5000, 150, 5000, 75), _criteria(escalation_rate={"max_rel_increase": 0.5}))
    assert report.verdict == "breach"


def test_below_the_minimum_sample_is_inconclusive() -> None:
    report = _analyze(*_cohorts(150, 100, 5000, 50), _criteria(escalation_rate={"max_abs_increase": 0.03}))
    assert report.verdict == "inconclusive" and "below the minimum sample of 200" in report.summary()


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
