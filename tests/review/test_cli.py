from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from promptlab.review import Review, load_signoffs
from tests.conftest import CliResult


def test_sign_records_a_signoff(compare_dir: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli(
        "review", "sign", compare_dir, "--layer", "product", "--reviewer", "Bo Li", "--decision", "approve",
        "--check", "tone=yes", "--check", "policy_alignment=yes", "--check", "user_value=yes: refund drop accepted",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == f"signed: {compare_dir / 'reviews' / 'product-bo-li.json'}"
    (signoff,) = load_signoffs(compare_dir)
    assert signoff.checklist["user_value"].note == "refund drop accepted"
    assert signoff.comparison_hash == Review.open(compare_dir).hash


def test_sign_with_missing_answers_exits_2_in_one_line(compare_dir: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli(
        "review", "sign", compare_dir, "--layer", "technical", "--reviewer", "Ana", "--decision", "request_changes",
        "--check", "determinism=no",
    )  # fmt: skip
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: technical review not saved: not answered: schema_compliance, failure_handling; "
        "request_changes needs a comment saying what to change"
    ]
    assert load_signoffs(compare_dir) == []


def test_sign_rejects_malformed_and_repeated_checks(compare_dir: Path, run_cli: Callable[..., CliResult]) -> None:
    base = ["review", "sign", compare_dir, "--layer", "product", "--reviewer", "Bo", "--decision", "approve"]
    result = run_cli(*base, "--check", "tone")
    assert result.code == 2
    assert result.err.strip() == "error: --check 'tone': expected ITEM=yes or ITEM=no (optionally ITEM=no: note)"
    result = run_cli(*base, "--check", "tone=yes", "--check", "tone=no")
    assert result.err.strip() == "error: --check: item 'tone' answered more than once"
    result = run_cli(*base, "--check", "tonality=yes")
    assert (
        "unknown checklist item 'tonality' for the product review (expected: tone, policy_alignment, user_value)"
        in (result.err)
    )


def test_show_prints_items_evidence_and_coverage(planted: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("review", "show", planted, "--layer", "technical")
    assert result.code == 0, result.err
    assert "technical review" in result.out and "product review" not in result.out
    assert "[determinism] Outcomes are stable across repeats" in result.out
    assert "long-context: no cases (not covered)" in result.out
    data = json.loads(run_cli("review", "show", planted, "--json").out)
    assert list(data["layers"]) == ["product", "technical"]
    assert data["layers"]["product"][2]["id"] == "user_value" and data["layers"]["product"][2]["attention"]
    assert [row["n"] for row in data["coverage"]] == [6, 8, 0, 5]


def test_cases_and_case_show_failing_cases_with_both_outputs(planted: Path, run_cli: Callable[..., CliResult]) -> None:
    review = Review.open(planted)
    listing = run_cli("review", "cases", planted).out.splitlines()
    assert len(listing) == len(review.failing_cases())
    first = review.failing_cases()[0]
    assert listing[0].startswith(f"{first.case_id} [regression]")
    shown = run_cli("review", "case", planted, first.case_id).out
    assert "--- baseline repeat 0:" in shown and "--- candidate repeat 1:" in shown
    missing = run_cli("review", "case", planted, "nope")
    assert missing.code == 2 and missing.err.strip() == "error: case 'nope' is not in the compared runs"


def test_review_of_a_non_comparison_dir_exits_2(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("review", "show", tmp_path)
    assert result.code == 2
    assert "not a comparison directory" in result.err and "Traceback" not in result.err
