from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptlab.comparison import load_comparison
from promptlab.errors import InputError
from promptlab.reports import REPORT_FILE, gather, render_html, write_html
from promptlab.review import ReviewSignoff, save_signoff

SECTIONS = [
    "decision",
    "summary",
    "segments",
    "hard-negatives",
    "regressions",
    "latency-cost",
    "behaviour",
    "stability",
    "evaluators",
    "provenance",
]


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start : html.index("</section>", start)]


def test_report_has_every_section_with_the_decision_first(reviewed_comparison: Path) -> None:
    html = render_html(reviewed_comparison)
    positions = [html.index(f'<section id="{name}">') for name in SECTIONS]
    assert positions == sorted(positions)


def test_decision_section_shows_gate_rules_and_signoffs(reviewed_comparison: Path) -> None:
    decision = _section(render_html(reviewed_comparison), "decision")
    assert '<span class="badge block">block</span>' in decision
    assert "policy test release policy" in decision
    for rule in ("min_pass_rate", "no_segment_regression", "hard_negative_coverage", "required_reviews"):
        assert f'<td class="mono">{rule}</td>' in decision
    assert "intent=refund" in decision  # the blocking segment is named
    assert "Ana Díaz" in decision
    assert "request changes" in decision
    assert "determinism=yes (flaky cases known)" in decision
    assert "2024-06-02T09:30:00+00:00" in decision


def test_user_text_is_escaped(reviewed_comparison: Path) -> None:
    html = render_html(reviewed_comparison)
    assert "Refund segment regressed &lt;b&gt;badly&lt;/b&gt;." in html
    assert "<b>badly</b>" not in html


def test_hostile_outputs_and_labels_cannot_break_out(comparison_copy: Path) -> None:
    cmp = load_comparison(comparison_copy)
    cmp.regressions[0].candidate_output = "</pre></div><script>alert('out')</script>"
    cmp.segments[0].label = "</script><script>alert('label')</script>"
    html = render_html(cmp)
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#39;out&#39;)&lt;/script&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;" in html


def test_segments_list_every_group_with_interval_and_verdict(reviewed_comparison: Path) -> None:
    cmp = load_comparison(reviewed_comparison)
    segments = _section(render_html(reviewed_comparison), "segments")
    for g in [cmp.overall, *cmp.segments]:
        assert f"<td>{g.label}</td>" in segments
    assert '<span class="badge regressed">regressed</span>' in segments
    assert '<span class="badge not_enough_data">not enough data</span>' in segments
    assert 'id="chart-segments"' in segments


def test_hard_negative_categories_show_counts_including_empty_ones(reviewed_comparison: Path) -> None:
    section = _section(render_html(reviewed_comparison), "hard-negatives")
    assert '<td>hard-negative:long-context</td><td class="num">0</td>' in section
    assert "no cases" in section
    assert 'id="chart-hard-negatives"' in section


def test_top_regressions_show_both_outputs_side_by_side(reviewed_comparison: Path) -> None:
    cmp = load_comparison(reviewed_comparison)
    section = _section(render_html(reviewed_comparison, top=3), "regressions")
    first = cmp.regressions[0]
    assert f"{len(cmp.regressions)} cases pass → fail, top 3 shown" in section
    block = section[section.index(f'<span class="id">{first.case_id}</span>') :]
    block = block[: block.index('<div class="case"', 1) if '<div class="case"' in block[1:] else len(block)]
    assert "baseline triage@v1" in block and "candidate triage@v2" in block
    assert block.count("<pre>") == 2
    for f in first.flipped:
        assert f.label in block
    shown = re.findall(r'<span class="id">([^<]+)</span><span class="badge regressed">', section)
    assert shown == [r.case_id for r in cmp.regressions[:3]]


def test_latency_cost_and_behaviour_sections_show_deltas_and_declarations(reviewed_comparison: Path) -> None:
    html = render_html(reviewed_comparison)
    latency = _section(html, "latency-cost")
    assert "latency_p95_s" in latency and "cost_per_case_usd" in latency
    assert 'id="chart-latency-cost"' in latency
    behaviour = _section(html, "behaviour")
    assert '<span class="badge declared_change">declared change</span>' in behaviour
    assert '<span class="badge undeclared_change">undeclared change</span>' in behaviour
    # Undeclared changes come first: they are what a reviewer must look at.
    assert behaviour.index("undeclared_change") < behaviour.index("badge declared_change")


def test_stability_lists_flaky_cases_per_version(reviewed_comparison: Path) -> None:
    cmp = load_comparison(reviewed_comparison)
    section = _section(render_html(reviewed_comparison), "stability")
    assert cmp.stability.candidate.n_flaky
    assert cmp.stability.candidate.case_ids[0] in section
    assert f'<td class="num">{cmp.stability.baseline.n_flaky}</td>' in section


def test_identical_inputs_give_byte_identical_reports(reviewed_comparison: Path, tmp_path: Path) -> None:
    first = render_html(reviewed_comparison)
    assert render_html(reviewed_comparison) == first
    # Where the directory lives does not matter: the report embeds no local paths.
    moved = Path(shutil.copytree(reviewed_comparison, tmp_path / "elsewhere" / "cmp"))
    assert render_html(moved) == first
    assert str(reviewed_comparison) not in first


def test_report_changes_when_a_signoff_is_added(comparison_copy: Path) -> None:
    before = render_html(comparison_copy)
    cmp = load_comparison(comparison_copy)
    save_signoff(
        comparison_copy,
        ReviewSignoff(
            layer="product",
            reviewer="Bo",
            decision="approve",
            signed_at=datetime(2024, 6, 3, tzinfo=UTC),
            comparison_hash=cmp.hash,
        ),
    )
    after = render_html(comparison_copy)
    assert after != before
    assert "<td>product</td><td>Bo</td>" in after


def test_signoff_for_another_comparison_is_flagged(comparison_copy: Path) -> None:
    save_signoff(
        comparison_copy,
        ReviewSignoff(
            layer="product",
            reviewer="Old Reviewer",
            decision="approve",
            signed_at=datetime(2024, 5, 1, tzinfo=UTC),
            comparison_hash="sha256:" + "0" * 64,
        ),
    )
    decision = _section(render_html(comparison_copy), "decision")
    row = decision[decision.index("Old Reviewer") :]
    assert 'badge stale">other comparison' in row[: row.index("</tr>")]


def test_report_is_offline_plotly_inline_once_and_no_remote_urls(reviewed_comparison: Path) -> None:
    html = render_html(reviewed_comparison)
    from plotly.offline import get_plotlyjs

    from promptlab.reports._plotly import plotly_js

    assert html.count(plotly_js()) == 1
    assert get_plotlyjs() not in html  # the partial bundle, not the full plotly.js
    ours = html.replace(plotly_js(), "")  # plotly.js itself mentions URLs in strings it never loads here
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert "cdn.plot.ly" not in ours
    assert "mathjax" not in ours.lower()


def test_report_of_the_example_comparison_is_at_most_one_and_a_half_megabytes(
    reviewed_comparison: Path, tmp_path: Path
) -> None:
    path = write_html(reviewed_comparison, tmp_path / "report.html")
    assert path.stat().st_size <= 1_500_000


def test_ungated_comparison_says_not_gated(comparison_copy: Path) -> None:
    (comparison_copy / "gate.json").unlink()
    decision = _section(render_html(comparison_copy), "decision")
    assert '<span class="badge not-gated">not gated</span>' in decision


def test_in_memory_comparison_renders_without_directory(reviewed_comparison: Path) -> None:
    cmp = load_comparison(reviewed_comparison)
    cmp.path = None
    html = render_html(cmp)
    assert "not gated" in html
    with pytest.raises(InputError, match=r"give an output path for report\.html"):
        write_html(cmp)


def test_write_html_defaults_into_the_comparison_directory(comparison_copy: Path) -> None:
    path = write_html(comparison_copy)
    assert path == comparison_copy / REPORT_FILE
    assert path.read_text(encoding="utf-8") == render_html(comparison_copy)


def test_not_a_comparison_directory_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        gather(tmp_path)
    assert (
        str(exc.value) == f"{tmp_path}: not a comparison directory (no comparison.json; run `promptlab compare` first)"
    )


def test_comparison_without_changes_renders_every_section(tmp_path: Path) -> None:
    from promptlab.comparison import compare
    from promptlab.reports import render_markdown
    from tests._support.runs import Profile, make_cases, write_run

    cases = make_cases(12, dims={"intent": ["refund", "billing"]})
    base = write_run(tmp_path / "b", cases=cases, profile=Profile(version="v1", pass_prob=1.0), seed=1)
    cand = write_run(tmp_path / "c", cases=cases, profile=Profile(version="v2", pass_prob=1.0), seed=1)
    compare(base, cand, out=tmp_path / "cmp", n_boot=100, n_permutations=100)
    html = render_html(tmp_path / "cmp")
    for name in SECTIONS:
        assert f'<section id="{name}">' in html
    assert "No case went from pass to fail." in html
    assert "Not measured: each case ran once." in html
    md = render_markdown(tmp_path / "cmp")
    assert "- **Regressions (pass → fail):** none" in md
    assert "- **Stability:** not measured (one repeat per case)" in md


def test_gate_decided_for_another_comparison_is_flagged(comparison_copy: Path) -> None:
    import json

    gate = json.loads((comparison_copy / "gate.json").read_text())
    gate["comparison_hash"] = "sha256:" + "1" * 64
    (comparison_copy / "gate.json").write_text(json.dumps(gate))
    decision = _section(render_html(comparison_copy), "decision")
    assert '<span class="badge stale">stale</span> the gate was evaluated for another comparison' in decision
