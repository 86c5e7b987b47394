from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promptlab.reports import render_html, render_markdown
from tests.conftest import CliResult


def test_report_writes_html_and_summary_into_the_comparison_dir(
    comparison_copy: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("report", comparison_copy)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"report: {comparison_copy / 'report.html'}",
        f"summary: {comparison_copy / 'summary.md'}",
    ]
    assert (comparison_copy / "report.html").read_text(encoding="utf-8") == render_html(comparison_copy)
    assert (comparison_copy / "summary.md").read_text(encoding="utf-8") == render_markdown(comparison_copy)


def test_report_to_chosen_paths_and_markdown_to_stdout(
    comparison_copy: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("report", comparison_copy, "-o", tmp_path / "r" / "out.html", "--markdown", "-")
    assert result.code == 0, result.err
    assert (tmp_path / "r" / "out.html").is_file()
    assert result.out == render_markdown(comparison_copy)
    assert not (comparison_copy / "summary.md").exists()


def test_report_on_a_non_comparison_dir_exits_2_with_one_line(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("report", tmp_path)
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"error: {tmp_path}: not a comparison directory (no comparison.json; run `promptlab compare` first)"
    ]


def test_report_on_a_corrupt_gate_file_names_the_file(comparison_copy: Path, run_cli: Callable[..., CliResult]) -> None:
    (comparison_copy / "gate.json").write_text("{broken")
    result = run_cli("report", comparison_copy)
    assert result.code == 2
    assert result.err.startswith(f"error: {comparison_copy / 'gate.json'}: malformed JSON")
    assert "Traceback" not in result.err


def test_report_top_limits_the_regressions_shown(comparison_copy: Path, run_cli: Callable[..., CliResult]) -> None:
    assert run_cli("report", comparison_copy, "--top", "2").code == 0
    html = (comparison_copy / "report.html").read_text(encoding="utf-8")
    assert "top 2 shown" in html
    assert html == render_html(comparison_copy, top=2)
