"""The gate on planted comparisons: decisions, evidence, approvals and gate.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptlab.comparison import Comparison, compare, load_comparison
from promptlab.errors import FileFormatError, InputError
from promptlab.gate import GATE_FILE, evaluate_gate, load_gate, load_policy, parse_approval
from promptlab.review import ReviewSignoff, save_signoff
from tests._support.runs import Profile, make_cases, write_run

FAST = {"n_boot": 300, "n_permutations": 2000}
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

TRADEOFF_POLICY = """\
rules:
  - min_pass_rate: 0.7
  - no_segment_regression: {min_n: 20, margin: 0.05}
  - cost_budget: {max_increase_pct: 60, approval_above_pct: 10}
  - quality_tradeoff: {cost_tolerance_pct: 5}
"""


def test_gate_blocks_when_one_segment_drops_and_names_it(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("segment_regression")
    policy = policy_file("""\
        rules:
          - min_pass_rate: 0.7
          - no_segment_regression: {min_n: 20, margin: 0.05, confidence: 0.95}
          - max_new_regressions: 100
        """)
    gate = evaluate_gate(directory, policy, now=NOW)
    assert (gate.decision, gate.exit_code) == ("block", 1)
    statuses = {r.rule: r.status for r in gate.rules}
    assert statuses == {"min_pass_rate": "pass", "no_segment_regression": "block", "max_new_regressions": "pass"}
    rule = gate.rules[1]
    assert rule.evidence[0].startswith("1 of ")
    assert rule.evidence[0].split(": ", 1)[1].startswith("intent=refund")
    assert rule.evidence[1].startswith("intent=refund: n=50, ")
    assert [d["key"] for d in rule.data["dropped"]] == ["segment:intent=refund"]
    assert gate.lines()[-1] == "decision: block (exit 1): blocked by no_segment_regression"
    # The overall improvement does not hide the segment, and a margin beyond the drop lets it through.
    lenient = policy_file("rules:\n  - no_segment_regression: {min_n: 20, margin: 0.6}\n", "lenient.yaml")
    assert evaluate_gate(directory, lenient, write=False).decision == "pass"


def test_gate_passes_equivalent_runs(compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]) -> None:
    directory = compare_dir("equivalent")
    policy = policy_file("""\
        rules:
          - no_segment_regression: {min_n: 10}
          - hard_negative_coverage: {min_cases: 12, max_drop: 0.5}
          - latency_budget: {max_increase_pct: 20}
          - cost_budget: {max_increase_pct: 10}
        """)
    gate = evaluate_gate(directory, policy, now=NOW)
    assert (gate.decision, gate.exit_code) == ("pass", 0), gate.lines()
    assert gate.rules[0].evidence[0].startswith("none of ")


def test_cost_increase_with_quality_gain_needs_approval_then_passes_once_approved(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY)
    gate = evaluate_gate(directory, policy, now=NOW)
    assert (gate.decision, gate.exit_code) == ("needs_approval", 3)
    pending = [t.id for r in gate.pending for t in r.tradeoffs]
    assert pending == ["cost_budget:cost_per_case_usd", "quality_tradeoff:cost_per_case_usd"]
    tradeoff = gate.rules[3]
    cmp = load_comparison(directory)
    cost = cmp.metric("cost_per_case_usd")
    assert cost is not None and cost.delta_pct is not None and cmp.overall.delta is not None
    assert tradeoff.evidence[0] == (
        f"trade-off: {cost.delta_pct:+.1f}% cost per case for "
        f"{cmp.overall.delta * 100:+.1f} pts quality (p=<0.001, improved)"
    )

    approved = evaluate_gate(
        directory, policy, approvals=["Dana Lee: +33% cost buys +20 points; budget agreed"], now=NOW
    )
    assert (approved.decision, approved.exit_code) == ("approved", 0)
    assert [r.status for r in approved.rules] == ["pass", "pass", "approved", "approved"]
    (approval,) = approved.approvals
    assert (approval.approver, approval.reason, approval.approved_at) == (
        "Dana Lee",
        "+33% cost buys +20 points; budget agreed",
        "2024-06-01T12:00:00Z",
    )
    assert approval.accepts == pending
    assert approval.summaries[0].startswith("cost per case +3")
    assert approved.rules[2].tradeoffs[0].approved_by == ["Dana Lee"]

    on_disk = json.loads((directory / GATE_FILE).read_text())
    assert on_disk["decision"] == "approved"
    assert on_disk["approvals"][0]["approver"] == "Dana Lee"
    assert on_disk["comparison_hash"] == load_comparison(directory).hash
    assert on_disk["policy_hash"] == load_policy(policy).hash
    assert on_disk["policy"]["rules"][2] == {"cost_budget": {"max_increase_pct": 60, "approval_above_pct": 10}}


def test_earlier_approvals_are_kept_while_comparison_and_policy_are_unchanged(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY)
    evaluate_gate(directory, policy, approvals=["Dana: agreed with finance"], now=NOW)
    again = evaluate_gate(directory, policy)
    assert again.decision == "approved"
    assert [a.approver for a in again.approvals] == ["Dana"]
    assert again.notes == ["kept 1 earlier approval(s): comparison and policy unchanged"]
    assert load_gate(directory) == again

    changed = policy_file(TRADEOFF_POLICY.replace("approval_above_pct: 10", "approval_above_pct: 12"), "p2.yaml")
    dropped = evaluate_gate(directory, changed)
    assert (dropped.decision, dropped.approvals) == ("needs_approval", [])
    assert dropped.notes == ["dropped 1 earlier approval(s) by Dana: the policy changed"]


def test_a_scoped_approval_accepts_only_the_named_rules(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY)
    gate = evaluate_gate(directory, policy, approvals=["Dana [cost_budget]: within the quarter's budget"])
    assert gate.decision == "needs_approval"
    assert {r.rule: r.status for r in gate.rules}["cost_budget"] == "approved"
    assert {r.rule: r.status for r in gate.rules}["quality_tradeoff"] == "needs_approval"
    assert gate.approvals[0].accepts == ["cost_budget:cost_per_case_usd"]
    both = evaluate_gate(directory, policy, approvals=["Lee [quality_tradeoff:cost_per_case_usd]: worth it"])
    assert both.decision == "approved"
    assert [a.approver for a in both.approvals] == ["Dana", "Lee"]


def test_bad_approvals_are_input_errors(compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY)
    with pytest.raises(
        InputError,
        match=r"\[latency_budget\] matches no trade-off needing approval \(pending: "
        r"cost_budget:cost_per_case_usd, quality_tradeoff:cost_per_case_usd\)",
    ):
        evaluate_gate(directory, policy, approvals=["Dana [latency_budget]: fine"])
    for text in ["no colon here", ": reason without a name", "Dana:", "Dana:   "]:
        with pytest.raises(InputError, match='expected "NAME: REASON"'):
            parse_approval(text)
    assert parse_approval("Dana Lee [a, b]: ok: really") == ("Dana Lee", ["a", "b"], "ok: really")
    assert not (directory / GATE_FILE).exists()


def test_an_approval_never_overrides_a_block(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY.replace("min_pass_rate: 0.7", "min_pass_rate: 0.99"))
    gate = evaluate_gate(directory, policy, approvals=["Dana: ship it"])
    assert (gate.decision, gate.exit_code) == ("block", 1)
    assert gate.rules[0].status == "block"
    assert gate.rules[2].status == "approved"  # the trade-off is recorded as accepted, the block stands


def test_nothing_to_approve_records_no_approval(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("equivalent")
    gate = evaluate_gate(directory, policy_file("rules: [no_segment_regression]\n"), approvals=["Dana: sure"])
    assert (gate.decision, gate.approvals) == ("pass", [])
    assert gate.notes == ["nothing needs approval; the approval by Dana was not recorded"]


def _signoff(layer: str, reviewer: str, decision: str, comparison_hash: str) -> ReviewSignoff:
    return ReviewSignoff.model_validate(
        {
            "layer": layer,
            "reviewer": reviewer,
            "decision": decision,
            "signed_at": "2024-06-01T10:00:00Z",
            "comparison_hash": comparison_hash,
            "checklist": {"tone": {"checked": True}},
        }
    )


def test_required_reviews_count_only_sign_offs_of_this_comparison(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("equivalent")
    policy = policy_file("rules:\n  - required_reviews: {layers: [product, technical]}\n")
    current = load_comparison(directory).hash
    stale = "sha256:" + "0" * 64

    gate = evaluate_gate(directory, policy)
    assert gate.decision == "block"
    assert gate.rules[0].evidence[0] == "missing review (product, technical)"

    save_signoff(directory, _signoff("product", "Priya", "approve", current))
    save_signoff(directory, _signoff("technical", "Tom", "approve", stale))
    gate = evaluate_gate(directory, policy)
    assert gate.decision == "block"
    assert gate.rules[0].evidence == [
        "missing review (technical)",
        "product: approved by Priya",
        "technical: 0 of 1 approvals; 1 sign-off(s) of another comparison ignored",
    ]
    assert [(r.reviewer, r.current) for r in gate.reviews] == [("Priya", True), ("Tom", False)]

    save_signoff(directory, _signoff("technical", "Tom", "request_changes", current))
    gate = evaluate_gate(directory, policy)
    assert gate.rules[0].evidence[0] == "changes requested (technical)"
    assert gate.rules[0].data["technical"]["changes_requested_by"] == ["Tom"]

    save_signoff(directory, _signoff("technical", "Tom", "approve", current))
    gate = evaluate_gate(directory, policy)
    assert (gate.decision, gate.rules[0].evidence[0]) == (
        "pass",
        "product and technical reviews approve this comparison",
    )
    # Passing sign-offs explicitly overrides the directory.
    assert evaluate_gate(directory, policy, reviews=[], write=False).decision == "block"


def test_hard_negative_coverage_needs_cases_and_no_worse_pass_rates(
    tmp_path: Path, policy_file: Callable[..., Path]
) -> None:
    tags = {
        "hard-negative:ambiguous": 6,
        "hard-negative:adversarial": 6,
        "hard-negative:long-context": 6,
        "hard-negative:tool-failure": 3,
    }
    cases = make_cases(40, tags=tags)
    # Two cases tagged adversarial and nothing else fail under the candidate.
    failing = sorted(c.id for c in cases if c.hard_negatives == ["hard-negative:adversarial"])[:2]
    assert len(failing) == 2
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=lambda c, r, g: True))
    cand = write_run(
        tmp_path / "c", cases=cases, profile=Profile(version="v2", outcome=lambda c, r, g: c.id not in failing)
    )
    cmp = compare(base, cand, out=tmp_path / "cmp", **FAST)
    gate = evaluate_gate(cmp, policy_file("rules:\n  - hard_negative_coverage: {min_cases: 5}\n"), write=False)
    rule = gate.rules[0]
    assert rule.status == "block"
    # Two failures out of six could be noise: only the missing cases block, not a point estimate.
    assert rule.evidence[0] == "hard-negative coverage fails for tool-failure"
    assert rule.evidence[2].startswith("adversarial: n=6, 100.0% -> 66.7%, 95% interval ")
    assert rule.evidence[4] == "tool-failure: n=3, 100.0% -> 100.0% - only 3 cases (need 5: 2 more)"
    relaxed = policy_file("rules:\n  - hard_negative_coverage: {min_cases: 3}\n", "relaxed.yaml")
    assert evaluate_gate(cmp, relaxed, write=False).decision == "pass"


def test_latency_budget_blocks_or_asks_for_approval(tmp_path: Path, policy_file: Callable[..., Path]) -> None:
    cases = make_cases(60)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(latency_s=1.0), seed=1)
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", latency_s=3.0), seed=2)
    cmp = compare(base, cand, **FAST)
    p95 = cmp.metric("latency_p95_s")
    assert p95 is not None and p95.candidate is not None and p95.candidate > 3

    def decide(rule: str) -> tuple[str, str]:
        gate = evaluate_gate(cmp, policy_file(f"rules:\n  - latency_budget: {rule}\n", "lat.yaml"), write=False)
        return gate.decision, gate.rules[0].evidence[0]

    decision, evidence = decide("{p95_max_s: 2.5}")
    assert decision == "block" and "exceeds the limit 2.5s; with 97.5% confidence at least " in evidence
    assert decide("{max_increase_pct: 100}")[0] == "block"
    # Over the limit on the point estimate but not confidently: a person decides.
    decision, evidence = decide("{max_increase_pct: 160}")
    assert decision == "needs_approval" and "may exceed the limit of +160%" in evidence
    assert decide("{max_increase_pct: 500}")[0] == "pass"
    assert decide("{approval_above_pct: 50}")[0] == "needs_approval"


def test_cost_without_quality_gain_is_blocked_by_the_tradeoff_rule(
    tmp_path: Path, policy_file: Callable[..., Path]
) -> None:
    cases = make_cases(60)
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(shared_noise=True))
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", shared_noise=True, price_out=1.5))
    cmp = compare(base, cand, **FAST)
    gate = evaluate_gate(cmp, policy_file("rules: [quality_tradeoff]\n"), write=False)
    assert gate.decision == "block"
    assert "without a significant quality gain" in gate.rules[0].evidence[0]
    lenient = policy_file("rules:\n  - quality_tradeoff: {without_gain: needs_approval}\n", "lenient.yaml")
    assert evaluate_gate(cmp, lenient, write=False).decision == "needs_approval"


def test_max_new_regressions_and_min_pass_rate_thresholds(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("segment_regression")
    cmp = load_comparison(directory)
    count = len(cmp.regressions)
    rate = cmp.overall.candidate_pass_rate
    assert count > 0 and rate is not None

    def decision(rules: str) -> str:
        return evaluate_gate(cmp, policy_file(f"rules:\n{rules}", "p.yaml"), write=False).decision

    # The candidate is better overall: net new failures are negative, so no limit blocks it.
    assert decision(f"  - max_new_regressions: {count - 1}\n") == "pass"
    assert decision("  - max_new_regressions: {max_rate: 0.0}\n") == "pass"
    # min_pass_rate blocks only when the one-sided upper bound is below the threshold.
    rule = evaluate_gate(cmp, policy_file(f"rules:\n  - min_pass_rate: {rate}\n", "m.yaml"), write=False).rules[0]
    upper = rule.data["upper_bound"]
    assert rate < upper < rate + 0.1
    assert decision(f"  - min_pass_rate: {rate + 0.01}\n") == "pass"
    assert decision(f"  - min_pass_rate: {upper}\n") == "pass"
    assert decision(f"  - min_pass_rate: {upper + 0.001}\n") == "block"
    assert decision(f"  - min_pass_rate: {{min: {rate}, bound: lower}}\n") == "block"


def test_gate_on_an_in_memory_comparison_writes_nothing(
    tmp_path: Path, compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    directory = compare_dir("equivalent")
    cmp = load_comparison(directory)
    cmp.path = None
    gate = evaluate_gate(cmp, policy_file("rules: [max_new_regressions]\n"))
    assert gate.comparison_dir is None
    assert not (directory / GATE_FILE).exists()


def _small_segment_runs(tmp_path: Path) -> Comparison:
    # 12 billing cases go from 10/12 passing to 0/12; 200 other cases are unchanged.
    cases = make_cases(212, dims={"intent": ["billing"] * 12 + ["other"] * 200})
    billing = [c.id for c in cases if c.segment["intent"] == "billing"]
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(outcome=lambda c, r, g: c.id not in billing[:2]))
    cand = write_run(
        tmp_path / "c", cases=cases, profile=Profile(version="v2", outcome=lambda c, r, g: c.id not in billing)
    )
    return compare(base, cand, **FAST)


def test_a_small_segment_that_collapses_needs_approval_instead_of_passing_silently(
    tmp_path: Path, policy_file: Callable[..., Path]
) -> None:
    cmp = _small_segment_runs(tmp_path)
    gate = evaluate_gate(
        cmp, policy_file("rules:\n  - no_segment_regression: {min_n: 20, margin: 0.05}\n"), write=False
    )
    rule = gate.rules[0]
    assert rule.status == "needs_approval", gate.lines()
    assert rule.data["small_with_drop"] == ["segment:intent=billing"]
    assert "segment:intent=billing" not in rule.data["family"]
    assert any("intent=billing: n=12 < 20" in line and "needs 8 more" in line for line in rule.evidence)
    assert [t.id for t in gate.rules[0].tradeoffs] == ["no_segment_regression:small:segment:intent=billing"]
    blocking = policy_file("rules:\n  - no_segment_regression: {min_n: 20, small_groups: block}\n", "b.yaml")
    assert evaluate_gate(cmp, blocking, write=False).decision == "block"
    # Judged (min_n reached), the collapse blocks on its own test.
    judged = policy_file("rules:\n  - no_segment_regression: {min_n: 10}\n", "j.yaml")
    dropped = evaluate_gate(cmp, judged, write=False).rules[0].data["dropped"]
    assert "segment:intent=billing" in [d["key"] for d in dropped]


def test_the_holm_family_is_exactly_the_groups_the_rule_judges(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    cmp = load_comparison(compare_dir("segment_regression"))
    for text, overall in (("{min_n: 40}", True), ("{min_n: 40, include_overall: false, include_tags: false}", False)):
        rule = evaluate_gate(cmp, policy_file(f"rules:\n  - no_segment_regression: {text}\n"), write=False).rules[0]
        expected = [g.key for g in [cmp.overall, *cmp.segments] if g.n >= 40 and (overall or g.kind == "segment")]
        assert rule.data["family"] == expected
        assert rule.data["family_includes_overall"] is overall
        m = len(expected)
        levels = sorted(j["level"] for j in rule.data["judged"])
        assert levels[0] == pytest.approx(0.05 / m)


def test_a_drop_exactly_at_the_margin_passes_and_just_beyond_it_blocks(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    cmp = load_comparison(compare_dir("segment_regression"))
    refund = cmp.group("segment:intent=refund")
    assert refund is not None and refund.delta is not None
    at = policy_file(f"rules:\n  - no_segment_regression: {{min_n: 20, margin: {-refund.delta}}}\n", "at.yaml")
    beyond = policy_file(
        f"rules:\n  - no_segment_regression: {{min_n: 20, margin: {-refund.delta - 0.01}}}\n", "b.yaml"
    )
    assert evaluate_gate(cmp, at, write=False).decision == "pass"
    assert evaluate_gate(cmp, beyond, write=False).decision == "block"


def test_max_new_regressions_scales_with_the_number_of_cases(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]
) -> None:
    cmp = load_comparison(compare_dir("equivalent"))
    assert cmp.overall.n_pass_to_fail > 5  # noise alone makes cases flip
    # The old raw count of 0 would have blocked this A/A pair; read as a rate and tested, it passes.
    rule = evaluate_gate(cmp, policy_file("rules:\n  - max_new_regressions: 0\n"), write=False).rules[0]
    assert rule.status == "pass", rule.evidence
    assert "(the count k=0 read as 0/" in rule.evidence[0]
    with pytest.raises(FileFormatError, match="not both"):
        load_policy(policy_file("rules:\n  - max_new_regressions: {k: 3, max_rate: 0.1}\n", "both.yaml"))
