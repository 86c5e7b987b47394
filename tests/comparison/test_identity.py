"""A comparison's content identity: what was compared, not where or when the runs happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from promptlab.comparison import compare, describe_identity_change, identity_parts
from promptlab.gate import evaluate_gate
from promptlab.review import ChecklistAnswer, ReviewSignoff, save_signoff
from tests._support.runs import Profile, latent, make_cases, write_run

POLICY = "name: reviews only\nrules:\n  - required_reviews: {layers: [technical]}\n"


def _runs(root: Path, *, candidate_seed: int = 2, run_tag: str = "") -> tuple[Path, Path]:
    cases = make_cases(40)
    base = write_run(
        root / "baseline", cases=cases, profile=Profile(version="v1", pass_prob=lambda c: 0.6 + 0.3 * latent(c)), seed=1
    )
    cand = write_run(
        root / "candidate",
        cases=cases,
        profile=Profile(version="v2", pass_prob=lambda c: 0.7 + 0.2 * latent(c)),
        seed=candidate_seed,
    )
    if run_tag:
        # A re-run records another run id (and run.json another time); the content it produced is the same.
        for run in (base, cand):
            manifest = json.loads((run / "run.json").read_text())
            manifest["run_id"] = f"{manifest['run_id']}-{run_tag}"
            (run / "run.json").write_text(json.dumps(manifest))
    return base, cand


def test_rerunning_identical_inputs_in_another_directory_keeps_the_hash(tmp_path: Path) -> None:
    first = compare(*_runs(tmp_path / "a"), out=tmp_path / "a" / "cmp", n_boot=200, n_permutations=200)
    second = compare(
        *_runs(tmp_path / "b", run_tag="rerun"), out=tmp_path / "b" / "cmp", n_boot=200, n_permutations=200
    )
    assert first.baseline.run_dir != second.baseline.run_dir and first.baseline.run_id != second.baseline.run_id
    assert first.hash == second.hash


def test_other_results_change_the_hash_and_say_what_changed(tmp_path: Path) -> None:
    first = compare(*_runs(tmp_path / "a"), out=tmp_path / "a" / "cmp", n_boot=200, n_permutations=200)
    other = compare(
        *_runs(tmp_path / "b", candidate_seed=7), out=tmp_path / "b" / "cmp", n_boot=200, n_permutations=200
    )
    assert first.hash != other.hash
    changed = describe_identity_change(identity_parts(first.to_dict()), identity_parts(other.to_dict()))
    assert "candidate results" in changed and "baseline" not in changed


def test_a_sign_off_still_counts_after_the_comparison_is_rerun(tmp_path: Path) -> None:
    first = compare(*_runs(tmp_path / "a"), out=tmp_path / "a" / "cmp", n_boot=200, n_permutations=200)
    signoff = ReviewSignoff(
        layer="technical",
        reviewer="Ana",
        decision="approve",
        checklist={"determinism": ChecklistAnswer(checked=True)},
        signed_at=datetime(2024, 6, 2, 9, 30, tzinfo=UTC),
        comparison_hash=first.hash,
    )
    rerun_dir = tmp_path / "b" / "cmp"
    compare(*_runs(tmp_path / "b", run_tag="rerun"), out=rerun_dir, n_boot=200, n_permutations=200)
    save_signoff(rerun_dir, signoff)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    decision = evaluate_gate(rerun_dir, policy, now=datetime(2024, 6, 2, 10, 0, tzinfo=UTC))
    assert decision.decision == "pass"


def test_a_stale_sign_off_says_what_changed_since_it_was_given(tmp_path: Path) -> None:
    from promptlab.review import Review

    first_dir = tmp_path / "a" / "cmp"
    compare(*_runs(tmp_path / "a"), out=first_dir, n_boot=200, n_permutations=200)
    review = Review.open(first_dir)
    checklist = review.checklist("technical")
    answers = {item.id: "yes" for item in checklist.items}
    signoff = review.signoff("technical", reviewer="Ana", decision="approve", answers=answers)
    assert signoff.comparison_parts
    other_dir = tmp_path / "b" / "cmp"
    compare(*_runs(tmp_path / "b", candidate_seed=7), out=other_dir, n_boot=200, n_permutations=200)
    save_signoff(other_dir, signoff)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    decision = evaluate_gate(other_dir, policy, now=datetime(2024, 6, 2, 10, 0, tzinfo=UTC))
    assert decision.decision == "block"
    evidence = " ".join(line for rule in decision.rules for line in rule.evidence)
    assert "changed since: candidate results" in evidence
