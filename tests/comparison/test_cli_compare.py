"""`promptlab compare`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests._support.runs import Profile, make_cases, write_run


def test_compare_prints_a_short_summary_and_writes_the_directory(
    tmp_path: Path, regression_runs: tuple[Path, Path], run_cli: Callable[..., Any]
) -> None:
    base, cand = regression_runs
    out = tmp_path / "cmp"
    result = run_cli("compare", "--baseline", base, "--candidate", cand, "--out", out, "--n-boot", "200")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "candidate triage@v2 vs baseline triage@v1: 300 cases, 1 repeat, tests: mcnemar_exact"
    assert lines[1].startswith("overall pass rate ") and lines[1].endswith(": improved")
    assert any(line.startswith("  regressed: intent=refund (n=50") for line in lines)
    assert lines[-1] == f"wrote {out}/comparison.json and {out}/tables/"
    assert (out / "comparison.json").is_file() and (out / "tables" / "segments.csv").is_file()
    settings = json.loads((out / "comparison.json").read_text())["settings"]
    assert (settings["n_boot"], settings["alpha"], settings["correction"]) == (200, 0.05, "holm")


def test_compare_options_reach_the_comparison(
    tmp_path: Path, regression_runs: tuple[Path, Path], run_cli: Callable[..., Any]
) -> None:
    base, cand = regression_runs
    out = tmp_path / "cmp"
    result = run_cli(
        "compare",
        "--baseline",
        base,
        "--candidate",
        cand,
        "-o",
        out,
        "--alpha",
        "0.01",
        "--min-n",
        "60",
        "--correction",
        "bh",
        "--n-boot",
        "100",
        "--seed",
        "3",
        "--json",
    )
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["correction"].startswith("Benjamini-Hochberg")
    assert summary["segment_verdicts"]["not_enough_data"] > 0  # every intent has 50 cases < 60
    settings = json.loads((out / "comparison.json").read_text())["settings"]
    assert (settings["alpha"], settings["min_n"], settings["seed"]) == (0.01, 60, 3)


def test_incomparable_runs_exit_2_with_one_line(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    base = write_run(tmp_path / "b", cases=make_cases(20), profile=Profile())
    cand = write_run(tmp_path / "c", cases=make_cases(22), profile=Profile(version="v2"))
    result = run_cli("compare", "--baseline", base, "--candidate", cand, "--out", tmp_path / "cmp")
    assert result.code == 2
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith("error: cannot compare: datasets differ")
    assert "2 cases only in candidate (c20, c21)" in line
    assert not (tmp_path / "cmp").exists()
    allowed = run_cli(
        "compare",
        "--baseline",
        base,
        "--candidate",
        cand,
        "--out",
        tmp_path / "cmp",
        "--allow-different-datasets",
        "--n-boot",
        "100",
    )
    assert allowed.code == 0
    assert "note: datasets differ" in allowed.out


def test_bad_arguments_exit_2_without_a_traceback(tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    result = run_cli(
        "compare", "--baseline", tmp_path / "nope", "--candidate", tmp_path / "nope", "--out", tmp_path / "cmp"
    )
    assert (result.code, result.err.strip()) == (2, f"error: {tmp_path / 'nope'}: not a run directory (no run.json)")
    base = write_run(tmp_path / "b", cases=make_cases(12), profile=Profile())
    result = run_cli("compare", "--baseline", base, "--candidate", base, "--out", tmp_path / "cmp", "--alpha", "2")
    assert result.code == 2
    assert "Traceback" not in result.err and "--alpha" in result.err
