"""`promptlab report` writes its files atomically and reports an unwritable output as one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests._support.comparisons import planted_comparison
from tests.conftest import CliResult


def test_report_into_a_path_under_a_file_exits_2_with_one_line(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    compare_dir = planted_comparison(tmp_path, n=12, repeats=1)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    r = run_cli("report", compare_dir, "-o", blocker / "report.html")
    assert r.code == 2
    assert "Traceback" not in r.out + r.err
    assert r.err.startswith(f"error: {blocker / 'report.html'}: cannot write (") and r.err.count("\n") == 1


def test_report_leaves_no_temporary_files(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    compare_dir = planted_comparison(tmp_path, n=12, repeats=1)
    out = tmp_path / "site"
    r = run_cli("report", compare_dir, "-o", out / "report.html", "--markdown", out / "summary.md")
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.md"]
