"""The gate policy file: rules as specs, strict validation with one-line errors, and the rollback criteria."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.errors import FileFormatError
from promptlab.gate import (
    CostBudget,
    GatePolicy,
    HardNegativeCoverage,
    LatencyBudget,
    MaxNewRegressions,
    MetricThreshold,
    MinPassRate,
    NoSegmentRegression,
    QualityTradeoff,
    RequiredReviews,
    RollbackCriteria,
    gate_rules,
    load_policy,
)

POLICY = """\
name: support-triage release
rules:
  - min_pass_rate: 0.8
  - no_segment_regression: {min_n: 20, margin: 0.05, confidence: 0.95}
  - max_new_regressions: 3
  - hard_negative_coverage: {min_cases: 5}
  - latency_budget: {p95_max_s: 4.0, max_increase_pct: 25}
  - cost_budget: {max_increase_pct: 30, approval_above_pct: 10}
  - required_reviews: {layers: [product, technical]}
  - quality_tradeoff
rollback:
  min_sample_per_cohort: 300
  confidence: 0.99
  metrics:
    fallback_rate: {max_abs_increase: 0.02}
    escalation_rate: {max_abs_increase: 0.02, max_rel_increase: 0.5}
    p95_latency_s: {max_rel_increase: 0.25, min_sample: 50}
  on_breach: {notify: ["#support-oncall"]}
"""


def test_load_policy_builds_every_rule(policy_file: Callable[..., Path]) -> None:
    policy = load_policy(policy_file(POLICY))
    rules = policy.build_rules()
    assert [type(r) for r in rules] == [
        MinPassRate,
        NoSegmentRegression,
        MaxNewRegressions,
        HardNegativeCoverage,
        LatencyBudget,
        CostBudget,
        RequiredReviews,
        QualityTradeoff,
    ]
    assert rules[0] == MinPassRate(min=0.8)
    assert rules[1] == NoSegmentRegression(min_n=20, margin=0.05, confidence=0.95)
    assert rules[2] == MaxNewRegressions(k=3)
    assert rules[5] == CostBudget(max_increase_pct=30, approval_above_pct=10)
    # Each rule round-trips through its spec, so gate.json and bundles record exactly what ran.
    assert [gate_rules.build(r.to_spec()) for r in rules] == rules
    assert policy.name == "support-triage release"


def test_rollback_criteria_are_read_from_the_policy(policy_file: Callable[..., Path]) -> None:
    rollback = load_policy(policy_file(POLICY)).rollback
    assert isinstance(rollback, RollbackCriteria)
    assert set(rollback.metrics) == {"fallback_rate", "escalation_rate", "p95_latency_s"}
    assert rollback.metrics["escalation_rate"] == MetricThreshold(max_abs_increase=0.02, max_rel_increase=0.5)
    assert (rollback.min_sample("p95_latency_s"), rollback.min_sample("fallback_rate")) == (50, 300)
    assert rollback.confidence == 0.99
    assert (rollback.on_breach.freeze, rollback.on_breach.route_back) == (True, True)
    assert rollback.on_breach.notify == ["#support-oncall"]
    assert rollback.metric_kind("p95_latency_s") == ("latency", 0.95)
    assert rollback.metric_kind("fallback_rate") == ("rate", None)


def test_rollback_criteria_have_documented_defaults(policy_file: Callable[..., Path]) -> None:
    rollback = load_policy(policy_file("rules: [max_new_regressions]\n")).rollback
    assert set(rollback.metrics) == {
        "fallback_rate",
        "escalation_rate",
        "manual_correction_rate",
        "error_rate",
        "p95_latency_s",
    }
    assert (rollback.min_sample_per_cohort, rollback.confidence) == (200, 0.95)
    for name, field in RollbackCriteria.model_fields.items():
        assert field.description, f"RollbackCriteria.{name} is undocumented"


def test_metric_threshold_breaches_on_either_limit() -> None:
    both = MetricThreshold(max_abs_increase=0.02, max_rel_increase=0.5)
    assert not both.exceeded(0.10, 0.115)
    assert both.exceeded(0.10, 0.125)  # +2.5 points
    assert MetricThreshold(max_rel_increase=0.5).exceeded(0.01, 0.016)  # +60%
    assert not MetricThreshold(max_rel_increase=0.5).exceeded(0.01, 0.014)
    assert MetricThreshold(max_rel_increase=0.5).exceeded(0.0, 0.001)  # from zero, any increase is unbounded
    assert not MetricThreshold(max_abs_increase=0.01).exceeded(0.05, 0.04)


def test_policy_hash_ignores_formatting_but_not_content(policy_file: Callable[..., Path]) -> None:
    yaml_policy = load_policy(policy_file(POLICY))
    as_json = json.dumps(yaml_policy.model_dump(mode="json"), indent=4, sort_keys=True)
    assert load_policy(policy_file(as_json, "policy.json")).hash == yaml_policy.hash
    changed = load_policy(policy_file(POLICY.replace("max_new_regressions: 3", "max_new_regressions: 4"), "p2.yaml"))
    assert changed.hash != yaml_policy.hash


@pytest.mark.parametrize(
    ("text", "field", "expectation"),
    [
        ("rules: [min_pass_rate: 0.8\n", None, "malformed YAML at line 2 column 1"),
        ("- min_pass_rate: 0.8\n", None, "expected a mapping of fields at the top level, got a list"),
        (
            "rules:\n  - fastest_wins\n",
            "rules[0]",
            "unknown gate rule 'fastest_wins' (known: cost_budget, hard_negative_coverage, latency_budget",
        ),
        ("rules: [max_new_regressions]\nowner: me\n", "owner", "unknown key (not part of the format)"),
        (
            "rules:\n  - max_new_regressions\n  - max_new_regressions: {k: 1, kk: 2}\n",
            "rules[1]",
            "gate rule 'max_new_regressions': unknown argument 'kk' (expected: k, max_rate, confidence)",
        ),
        (
            "rules:\n  - min_pass_rate: high\n",
            "rules[0]",
            "gate rule 'min_pass_rate': argument 'min': input should be a valid number",
        ),
        ("rules:\n  - min_pass_rate\n", "rules[0]", "gate rule 'min_pass_rate': missing required argument 'min'"),
        ("rules:\n  - min_pass_rate: 85\n", "rules[0]", "argument 'min': expected a fraction between 0 and 1, got 85"),
        (
            "rules:\n  - latency_budget\n",
            "rules[0]",
            "gate rule 'latency_budget': expected p95_max_s, max_increase_pct or approval_above_pct",
        ),
        (
            "rules:\n  - required_reviews: {layers: [legal]}\n",
            "rules[0]",
            "gate rule 'required_reviews': argument 'layers.0': input should be 'product' or 'technical'",
        ),
        ("rules: []\n", "rules", "list should have at least 1 item after validation, not 0"),
        ("name: x\n", "rules", "required field is missing"),
        (
            "rules: [max_new_regressions]\nrollback:\n  metrics:\n    happiness: {max_abs_increase: 1}\n",
            "rollback",
            "metric 'happiness': expected a rate (a name ending in _rate) or a latency percentile (pNN_latency_s)",
        ),
        (
            "rules: [max_new_regressions]\nrollback:\n  metrics:\n    error_rate: {}\n",
            "rollback.metrics.error_rate",
            "expected max_abs_increase, max_rel_increase or both",
        ),
        (
            "rules: [max_new_regressions]\nrollback: {confidence: high}\n",
            "rollback.confidence",
            "input should be a valid number",
        ),
        (
            "rules: [max_new_regressions]\nrollback: {freeze: true}\n",
            "rollback.freeze",
            "unknown key (not part of the format)",
        ),
    ],
)
def test_bad_policy_files_give_one_line_errors(
    policy_file: Callable[..., Path], text: str, field: str | None, expectation: str
) -> None:
    path = policy_file(text)
    with pytest.raises(FileFormatError) as exc:
        load_policy(path)
    message = str(exc.value)
    assert "\n" not in message
    prefix = f"{path}: {field}: " if field else f"{path}: "
    assert message.startswith(prefix), message
    assert expectation in message, message


def test_missing_policy_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="file not found"):
        load_policy(tmp_path / "nope.yaml")


def test_policies_can_be_built_in_python() -> None:
    policy = GatePolicy.model_validate({"rules": ["max_new_regressions", {"min_pass_rate": 0.9}]})
    assert policy.build_rules() == [MaxNewRegressions(), MinPassRate(min=0.9)]
    with pytest.raises(ValueError, match=r"rules\[0\]: unknown gate rule 'nope'"):
        GatePolicy.model_validate({"rules": ["nope"]})
