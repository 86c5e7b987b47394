from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptlab.cli import cli
from promptlab.comparison import load_comparison
from promptlab.errors import InputError
from promptlab.gate import evaluate_gate, load_gate
from promptlab.review import (
    CHECKLIST_ITEMS,
    ChecklistAnswer,
    Review,
    build_signoff,
    load_signoffs,
    parse_answer,
)
from tests._support.comparisons import planted_comparison
from tests.review.conftest import NOW

ALL_YES_TECH = {"determinism": True, "schema_compliance": True, "failure_handling": True}


def test_each_layer_has_its_three_items(planted: Path) -> None:
    review = Review.open(planted)
    assert [i.id for i in review.checklist("product").items] == ["tone", "policy_alignment", "user_value"]
    assert [i.id for i in review.checklist("technical").items] == [
        "determinism",
        "schema_compliance",
        "failure_handling",
    ]
    assert all(d.required for items in CHECKLIST_ITEMS.values() for d in items)
    with pytest.raises(InputError, match="layer: expected product or technical, got 'legal'"):
        review.checklist("legal")


def test_user_value_flags_the_regressed_segment(planted: Path) -> None:
    item = Review.open(planted).checklist("product").item("user_value")
    assert item.attention
    assert any(line.startswith("segment regressed: intent=refund") for line in item.evidence)
    assert item.evidence[0].startswith("overall pass rate ")


def test_tone_shows_the_declared_verbosity_change(planted: Path) -> None:
    item = Review.open(planted).checklist("product").item("tone")
    verbosity = next(line for line in item.evidence if line.startswith("words_per_case"))
    assert "declared (verbosity increase: more detail)" in verbosity
    assert not item.attention  # the verbosity change was declared


def test_policy_alignment_lists_undeclared_changes_and_adversarial_coverage(planted: Path) -> None:
    cmp = load_comparison(planted)
    undeclared = [b.metric for b in cmp.behaviour.changes if b.status == "undeclared_change"]
    assert undeclared
    item = Review.open(planted).checklist("product").item("policy_alignment")
    assert item.attention
    line = next(x for x in item.evidence if "undeclared behaviour change" in x)
    assert all(metric in line for metric in undeclared)
    assert any(x.startswith("adversarial 8 cases, pass rate ") for x in item.evidence)
    assert any(x.startswith("evaluator refusal: pass rate") for x in item.evidence)


def test_determinism_reports_flaky_cases_per_version(planted: Path) -> None:
    cmp = load_comparison(planted)
    item = Review.open(planted).checklist("technical").item("determinism")
    b, c = cmp.stability.baseline, cmp.stability.candidate
    assert item.evidence[0].startswith(f"baseline: {b.n_flaky}/{b.n_cases} cases flip between 2 repeats")
    assert item.evidence[1].startswith(f"candidate: {c.n_flaky}/{c.n_cases} cases flip between 2 repeats")
    new = sorted(set(c.case_ids) - set(b.case_ids))
    assert f"{len(new)} newly flaky under the candidate: {', '.join(new[:8])}" in item.evidence


def test_determinism_without_repeats_is_not_measured(tmp_path: Path) -> None:
    single = planted_comparison(tmp_path, n=30, repeats=1)
    item = Review.open(single).checklist("technical").item("determinism")
    assert item.attention
    assert item.evidence == ["not measured: each case ran once; run both versions with repeats >= 2"]


def test_schema_compliance_uses_json_evaluators_and_format_metrics(planted: Path) -> None:
    cmp = load_comparison(planted)
    rate = next(e for e in cmp.evaluator_rates if e.label == "json_valid")
    item = Review.open(planted).checklist("technical").item("schema_compliance")
    assert item.evidence[0].startswith(
        f"evaluator json_valid: pass rate {rate.baseline_pass_rate * 100:.1f}% -> {rate.candidate_pass_rate * 100:.1f}%"
    )
    assert any(line.startswith("json_valid_rate: ") for line in item.evidence)
    assert item.attention  # the candidate does not pass json_valid everywhere


def test_failure_handling_counts_errors_from_the_runs(planted: Path) -> None:
    item = Review.open(planted).checklist("technical").item("failure_handling")
    assert item.evidence[0] == "baseline: model-call errors 0/120 (0.0%)"
    assert item.evidence[1] == "candidate: model-call errors 0/120 (0.0%)"
    assert any(line.startswith("partial tool failure 5 cases") for line in item.evidence)
    assert "no evaluator errors" in item.evidence


def test_hard_negative_coverage_counts_every_category(planted: Path) -> None:
    rows = {r.name: r for r in Review.open(planted).coverage()}
    assert list(rows) == ["ambiguous", "adversarial", "long-context", "tool-failure"]
    assert (rows["adversarial"].n, rows["ambiguous"].n, rows["tool-failure"].n, rows["long-context"].n) == (8, 6, 5, 0)
    assert rows["tool-failure"].covered and not rows["long-context"].covered
    assert rows["long-context"].line() == "long-context: no cases (not covered)"
    strict = {r.name: r for r in Review.open(planted, min_cases=7).coverage()}
    assert strict["adversarial"].covered and not strict["ambiguous"].covered


def test_the_given_gate_decision_sets_the_coverage_threshold(tmp_path: Path) -> None:
    gated = planted_comparison(tmp_path, n=30, gate=True)  # the test policy asks for 3 cases per category
    assert Review.open(gated, gate=load_gate(gated)).min_cases == 3
    assert Review.open(gated).min_cases == 5  # review never reads gate.json itself: the caller passes the decision


def test_review_show_uses_the_gate_policy_threshold(tmp_path: Path) -> None:
    gated = planted_comparison(tmp_path, n=30, gate=True)
    result = CliRunner().invoke(cli, ["review", "show", str(gated)])
    assert result.exit_code == 0, result.output
    assert "hard-negative coverage (covered: at least 3 cases)" in result.output


def test_review_imports_nothing_from_the_gate() -> None:
    import promptlab.review as review_pkg

    package = Path(review_pkg.__file__).parent
    for module in sorted(package.glob("*.py")):
        text = module.read_text()
        assert "from promptlab.gate" not in text and "import promptlab.gate" not in text, module.name


def test_failing_cases_put_regressions_first_in_severity_order(planted: Path) -> None:
    cmp = load_comparison(planted)
    cases = Review.open(planted).failing_cases()
    regressions = [c.case_id for c in cases if c.kind == "regression"]
    assert regressions[: len(cmp.regressions)] == [r.case_id for r in cmp.regressions]
    kinds = [c.kind for c in cases]
    assert kinds == sorted(kinds, key=["regression", "flaky", "still_failing"].index)
    for c in cases:
        assert c.candidate_pass_rate < 1
        assert c.failed_evaluators
    assert {c.kind for c in cases} == {"regression", "flaky", "still_failing"}


def test_failing_cases_filter_by_category(planted: Path) -> None:
    review = Review.open(planted)
    adversarial = review.failing_cases(category="hard-negative:adversarial")
    assert adversarial
    assert all("hard-negative:adversarial" in c.tags for c in adversarial)
    assert {c.case_id for c in adversarial} < {c.case_id for c in review.failing_cases()}


def test_open_case_shows_every_repeat_of_both_versions(planted: Path) -> None:
    review = Review.open(planted)
    first = review.failing_cases()[0]
    detail = review.case(first.case_id)
    assert detail.source == "runs"
    assert [a.repeat for a in detail.baseline] == [0, 1]
    assert [a.repeat for a in detail.candidate] == [0, 1]
    failed = next(a for a in detail.candidate if a.outcome != "pass")
    assert failed.failed and failed.output
    assert detail.vars["message"].startswith("ticket ")
    with pytest.raises(InputError, match="case 'nope' is not in the compared runs"):
        review.case("nope")


def test_without_run_directories_evidence_comes_from_the_comparison(planted: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(planted.parent, tmp_path / "root"))
    cmp = load_comparison(planted)
    # The comparison records the original run paths; hide them by opening a comparison that points elsewhere.
    data = (root / "compare" / "comparison.json").read_text()
    data = data.replace(str(planted.parent / "runs"), str(tmp_path / "gone"))
    (root / "compare" / "comparison.json").write_text(data)
    review = Review.open(root / "compare")
    assert review.baseline_rows is None and review.candidate_rows is None
    assert any("is not available" in n for n in review.notes)
    cases = review.failing_cases()
    assert [c.case_id for c in cases] == [r.case_id for r in cmp.regressions]
    detail = review.case(cases[0].case_id)
    assert detail.source == "comparison"
    assert detail.candidate[0].output == cmp.regressions[0].candidate_output
    item = review.checklist("technical").item("failure_handling")
    assert item.evidence[0].startswith("run directories not available")


def test_changed_results_are_not_trusted(planted: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(planted.parent, tmp_path / "root"))
    data = (root / "compare" / "comparison.json").read_text().replace(str(planted.parent), str(root))
    (root / "compare" / "comparison.json").write_text(data)
    assert Review.open(root / "compare").candidate_rows is not None
    with (root / "runs" / "candidate" / "results.jsonl").open("a") as fh:
        fh.write("\n")
    review = Review.open(root / "compare")
    assert review.candidate_rows is None
    assert any("candidate results changed since the comparison" in n for n in review.notes)


@pytest.mark.parametrize(
    ("text", "checked", "note"),
    [
        ("yes", True, ""),
        ("No", False, ""),
        ("y: seen it", True, "seen it"),
        ("no: two flaky cases", False, "two flaky cases"),
    ],
)
def test_parse_answer(text: str, checked: bool, note: str) -> None:
    assert parse_answer(text) == ChecklistAnswer(checked=checked, note=note)


def test_parse_answer_rejects_other_words() -> None:
    with pytest.raises(InputError, match="expected yes or no"):
        parse_answer("maybe")


def test_signoff_requires_reviewer_decision_and_every_answer(planted: Path) -> None:
    checklist = Review.open(planted).checklist("technical")
    with pytest.raises(InputError) as exc:
        build_signoff(checklist, reviewer="  ", decision=None, answers={"determinism": True}, now=NOW)
    assert str(exc.value) == (
        "technical review not saved: reviewer name is required; decision: expected approve or request_changes, "
        "got None; not answered: schema_compliance, failure_handling"
    )


def test_approve_needs_every_required_item_confirmed(planted: Path) -> None:
    checklist = Review.open(planted).checklist("technical")
    with pytest.raises(InputError, match=r"cannot approve with unconfirmed items \(failure_handling\)"):
        build_signoff(
            checklist, reviewer="Ana", decision="approve", answers={**ALL_YES_TECH, "failure_handling": False}
        )


def test_request_changes_needs_a_comment(planted: Path) -> None:
    checklist = Review.open(planted).checklist("technical")
    with pytest.raises(InputError, match="request_changes needs a comment"):
        build_signoff(checklist, reviewer="Ana", decision="request_changes", answers=ALL_YES_TECH, comments=" ")
    signoff = build_signoff(
        checklist, reviewer="Ana", decision="request_changes", answers=ALL_YES_TECH, comments="fix refunds", now=NOW
    )
    assert signoff.decision == "request_changes" and signoff.comments == "fix refunds"


def test_unknown_item_is_rejected(planted: Path) -> None:
    checklist = Review.open(planted).checklist("product")
    with pytest.raises(InputError, match=r"unknown checklist item 'determinism' for the product review \(expected: "):
        build_signoff(checklist, reviewer="Bo", decision="approve", answers={"determinism": True})


def test_signoff_records_answers_notes_and_the_comparison_hash(planted: Path) -> None:
    review = Review.open(planted)
    signoff = review.signoff(
        "technical",
        reviewer=" Ana Díaz ",
        decision="approve",
        answers={**ALL_YES_TECH, "determinism": "yes: flaky cases are known"},
        notes={"schema_compliance": "fences gone"},
        now=NOW,
    )
    assert signoff.reviewer == "Ana Díaz"
    assert signoff.comparison_hash == load_comparison(planted).hash
    assert signoff.checklist["determinism"] == ChecklistAnswer(checked=True, note="flaky cases are known")
    assert signoff.checklist["schema_compliance"] == ChecklistAnswer(checked=True, note="fences gone")
    assert signoff.signed_at == NOW


def test_sign_saves_a_file_the_gate_counts(compare_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - required_reviews: {layers: [technical]}\n")
    before = evaluate_gate(compare_dir, policy, write=False)
    assert before.decision == "block"
    path = Review.open(compare_dir).sign("technical", reviewer="Ana Díaz", decision="approve", answers=ALL_YES_TECH)
    assert path == compare_dir / "reviews" / "technical-ana-diaz.json"
    (saved,) = load_signoffs(compare_dir)
    assert saved.reviewer == "Ana Díaz" and saved.decision == "approve"
    after = evaluate_gate(compare_dir, policy, write=False)
    assert after.decision == "pass"


def test_nothing_is_saved_when_validation_fails(compare_dir: Path) -> None:
    with pytest.raises(InputError):
        Review.open(compare_dir).sign("product", reviewer="", decision="approve", answers={})
    assert load_signoffs(compare_dir) == []


def test_markdown_lists_both_layers_with_evidence_and_coverage(planted: Path) -> None:
    review = Review.open(planted)
    md = review.to_markdown()
    assert md.index("### Product review") < md.index("### Technical review") < md.index("### Hard-negative coverage")
    assert "- **User value**: Users are served at least as well overall" in md and "**look at this**" in md
    assert "    - segment regressed: intent=refund" in md
    assert "- long-context: no cases (not covered)" in md
    assert f"`{review.hash}`" in md
