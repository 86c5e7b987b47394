"""`promptlab harvest`: output, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harvest.conftest import EXPECTED, EXPECTED_CASES, MALFORMED_LINES


def test_harvest_prints_counts_by_detector_and_segment_and_writes_cases(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    result = run_cli("harvest", *logs, "--policy", policy_file, "--out", out)
    assert result.code == 0, result.err
    assert f"malformed: {MALFORMED_LINES} lines" in result.out
    assert f"{logs[0]}:6: malformed JSON" in result.out
    for detector, n in EXPECTED.items():
        assert any(line.split() == [detector, str(n)] for line in result.out.splitlines()), detector
    assert "failures by intent:" in result.out and "failures by geo:" in result.out
    assert f"cases: {sum(EXPECTED_CASES.values())} new" in result.out
    assert (out / "harvest-outcome.jsonl").exists()


def test_dry_run_lists_new_cases_and_writes_nothing(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    result = run_cli("harvest", *logs, "--policy", policy_file, "--out", out, "--dry-run")
    assert result.code == 0
    assert "would write" in result.out and "+ harvest-" in result.out
    assert not out.exists()


def test_json_output_is_machine_readable(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    result = run_cli("harvest", *logs, "--policy", policy_file, "--out", tmp_path / "rc", "--dry-run", "--json")
    data = json.loads(result.out)
    assert data["by_detector"] == EXPECTED
    assert data["malformed"]["count"] == MALFORMED_LINES
    assert data["by_segment"]["intent"]["unexpected_refusal"] == {"billing": 2, "shipping": 1}
    assert len(data["cases"]["new"]) == sum(EXPECTED_CASES.values())


def test_bad_inputs_exit_2_with_one_line_errors(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    missing = run_cli("harvest", tmp_path / "nope.jsonl", "--policy", policy_file, "--out", tmp_path / "rc")
    assert (missing.code, missing.err) == (2, f"error: {tmp_path / 'nope.jsonl'}: log file not found\n")
    wrong = tmp_path / "log.csv"
    wrong.write_text("a,b\n")
    suffix = run_cli("harvest", wrong, "--policy", policy_file, "--out", tmp_path / "rc")
    assert suffix.code == 2 and suffix.err.count("\n") == 1 and "unsupported log file" in suffix.err
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("detectors: [nope]\n")
    policy = run_cli("harvest", *logs, "--policy", bad_policy, "--out", tmp_path / "rc")
    assert policy.code == 2 and policy.err.startswith(f"error: {bad_policy}: detectors[0]: unknown detector 'nope'")
    assert policy.err.count("\n") == 1
    since = run_cli("harvest", *logs, "--policy", policy_file, "--out", tmp_path / "rc", "--since", "soon")
    assert since.code == 2 and "--since: expected an ISO date" in since.err
    usage = run_cli("harvest", *logs, "--out", tmp_path / "rc")
    assert usage.code == 2 and "Missing option '--policy'" in usage.err
    assert not (tmp_path / "rc").exists()


def test_the_installed_command_runs_end_to_end_without_tracebacks(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    exe = Path(sys.executable).with_name("promptlab")
    ok = subprocess.run(
        [exe, "harvest", *logs, "--policy", policy_file, "--out", tmp_path / "rc"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    again = subprocess.run(
        [exe, "harvest", *logs, "--policy", policy_file, "--out", tmp_path / "rc"], capture_output=True, text=True
    )
    assert again.returncode == 0 and "nothing new for" in again.stdout
    broken = tmp_path / "rc" / "harvest-outcome.jsonl"
    broken.write_text("{oops\n")
    bad = subprocess.run(
        [exe, "harvest", *logs, "--policy", policy_file, "--out", tmp_path / "rc"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_a_log_of_only_malformed_lines_exits_2_with_the_count_and_first_examples(
    run_cli: Callable[..., Any], policy_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "junk.jsonl"
    log.write_text('not json\n{"request_id": 1}\n\n[1, 2]\n')
    result = run_cli("harvest", log, "--policy", policy_file, "--out", tmp_path / "rc")
    assert result.code == 2, result.out
    assert "malformed: 3 lines" in result.out
    assert f"{log}:1: malformed JSON" in result.out and f"{log}:4: " in result.out
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"error: no valid log record: all 3 lines malformed (first: {log}:1: malformed JSON")
    assert not (tmp_path / "rc").exists()


def test_max_malformed_rate_exits_3_after_harvesting_the_valid_lines(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    within = run_cli(
        "harvest", *logs, "--policy", policy_file, "--out", out, "--dry-run", "--max-malformed-rate", "0.5"
    )
    assert within.code == 0, within.err
    over = run_cli("harvest", *logs, "--policy", policy_file, "--out", out, "--max-malformed-rate", "0.01")
    assert over.code == 3, over.err
    assert over.err.count("\n") == 1 and "over --max-malformed-rate 1.0%" in over.err
    assert f"cases: {sum(EXPECTED_CASES.values())} new" in over.out and (out / "harvest-outcome.jsonl").exists()


def test_an_unreadable_parquet_file_exits_3_naming_it_and_the_rest_is_harvested(
    run_cli: Callable[..., Any], logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    bad = logs[0].parent / "broken.parquet"
    bad.write_bytes(b"PAR1\x00\x01garbage")
    result = run_cli("harvest", logs[0].parent, "--policy", policy_file, "--out", tmp_path / "rc", "--json")
    assert result.code == 3
    assert result.err.count("\n") == 1 and result.err.startswith("error: 1 input file was unreadable and left out")
    assert str(bad) in result.err and "Traceback" not in result.err
    data = json.loads(result.out)
    assert data["by_detector"] == EXPECTED and data["unreadable"][0].startswith(f"{bad}: ")


def test_an_empty_intent_dimension_is_a_one_line_policy_error_not_a_binder_exception(
    run_cli: Callable[..., Any], logs: list[Path], tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('intent_dimension: ""\ndetectors: [excessive_verbosity]\n')
    result = run_cli("harvest", *logs, "--policy", policy, "--out", tmp_path / "rc")
    assert result.code == 2
    assert result.err == f"error: {policy}: intent_dimension: string should have at least 1 character\n"
