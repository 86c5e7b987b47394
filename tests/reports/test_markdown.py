from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from promptlab.comparison import load_comparison
from promptlab.reports import SUMMARY_FILE, render_markdown, write_markdown
from promptlab.review import ReviewSignoff, save_signoff


def test_summary_leads_with_the_gate_decision_and_blocking_rules(reviewed_comparison: Path) -> None:
    md = render_markdown(reviewed_comparison)
    lines = md.splitlines()
    assert lines[0] == "## Prompt comparison: triage@v2 vs triage@v1"
    assert lines[2] == "**Gate: BLOCK** — policy test release policy"
    assert any(line.startswith("- `no_segment_regression`: **block**") and "intent=refund" in line for line in lines)
    assert not any("`min_pass_rate`" in line for line in lines)  # passing rules stay out of a short summary
    assert "**Reviews:** technical: request changes by Ana Díaz" in lines


def test_summary_has_headline_numbers_segments_and_top_regressions(reviewed_comparison: Path) -> None:
    cmp = load_comparison(reviewed_comparison)
    md = render_markdown(reviewed_comparison, top=2)
    assert f"| pass rate ({cmp.overall.n} cases) |" in md
    assert "| latency p95 |" in md and "| cost / case |" in md
    assert "**intent=refund**" in md
    first, second = cmp.regressions[:2]
    assert f"`{first.case_id}`" in md and f"`{second.case_id}`" in md
    assert f"`{cmp.regressions[2].case_id}`" not in md
    assert f"and {len(cmp.regressions) - 2} more" in md
    assert "long-context no cases" in md
    assert "declared change(s) observed" in md
    assert f"comparison `{cmp.hash}`" in md


def test_summary_escapes_markdown_in_names(comparison_copy: Path) -> None:
    cmp = load_comparison(comparison_copy)
    save_signoff(
        comparison_copy,
        ReviewSignoff(
            layer="product",
            reviewer="Eve [click](http://x) <img>",
            decision="approve",
            signed_at=datetime(2024, 6, 3, tzinfo=UTC),
            comparison_hash=cmp.hash,
        ),
    )
    md = render_markdown(comparison_copy)
    assert "[click](http://x)" not in md
    assert "<img>" not in md
    assert r"Eve \[click\](http://x) \<img\>" in md


def test_summary_is_deterministic_and_short(reviewed_comparison: Path) -> None:
    md = render_markdown(reviewed_comparison)
    assert render_markdown(reviewed_comparison) == md
    assert len(md.splitlines()) < 40


def test_summary_without_gate_or_reviews(comparison_copy: Path) -> None:
    (comparison_copy / "gate.json").unlink()
    for f in (comparison_copy / "reviews").iterdir():
        f.unlink()
    md = render_markdown(comparison_copy)
    assert "**Gate:** not evaluated (no `gate.json`)" in md
    assert "**Reviews:** none yet" in md


def test_write_markdown_defaults_into_the_comparison_directory(comparison_copy: Path) -> None:
    assert write_markdown(comparison_copy) == comparison_copy / SUMMARY_FILE
    assert (comparison_copy / SUMMARY_FILE).read_text(encoding="utf-8") == render_markdown(comparison_copy)
