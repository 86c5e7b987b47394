"""`promptlab gate`: every rule with its evidence, exit codes 0 / 1 / 3, approvals, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TRADEOFF_POLICY = """\
rules:
  - min_pass_rate: 0.7
  - cost_budget: {max_increase_pct: 60, approval_above_pct: 10}
  - quality_tradeoff
"""


def test_gate_exits_1_and_names_the_blocking_segment(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path], run_cli: Callable[..., Any]
) -> None:
    directory = compare_dir("segment_regression")
    policy = policy_file("rules:\n  - min_pass_rate: 0.7\n  - no_segment_regression: {min_n: 20, margin: 0.05}\n")
    result = run_cli("gate", directory, "--policy", policy)
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("gate for triage@v2 vs triage@v1 (comparison sha256:")
    assert lines[1].startswith("[pass] min_pass_rate: candidate pass rate ")
    assert lines[2].startswith("[BLOCK] no_segment_regression: 1 of ")
    assert lines[3].startswith("    intent=refund: n=50, ")
    assert lines[-2] == "decision: block (exit 1): blocked by no_segment_regression"
    assert lines[-1] == f"wrote {directory}/gate.json"
    assert json.loads((directory / "gate.json").read_text())["exit_code"] == 1


def test_gate_exits_3_until_approved_then_0(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path], run_cli: Callable[..., Any]
) -> None:
    directory = compare_dir("costly_improvement")
    policy = policy_file(TRADEOFF_POLICY)
    result = run_cli("gate", directory, "--policy", policy)
    assert result.code == 3
    assert "[NEEDS APPROVAL] cost_budget: " in result.out
    assert "    trade-off cost_budget:cost_per_case_usd: cost per case +" in result.out
    assert (
        "decision: needs_approval (exit 3): needs approval of cost_budget:cost_per_case_usd, "
        'quality_tradeoff:cost_per_case_usd (re-run with --approve "NAME: REASON")'
    ) in result.out

    approved = run_cli("gate", directory, "--policy", policy, "--approve", "Dana Lee: agreed with finance")
    assert approved.code == 0
    assert "[approved] cost_budget: " in approved.out
    assert "approval by Dana Lee at " in approved.out
    assert "decision: approved (exit 0): trade-offs approved" in approved.out

    rerun = run_cli("gate", directory, "--policy", policy, "--json")
    assert rerun.code == 0
    data = json.loads(rerun.out)
    assert data["decision"] == "approved"
    assert data["approvals"][0]["accepts"] == ["cost_budget:cost_per_case_usd", "quality_tradeoff:cost_per_case_usd"]


def test_gate_exits_0_when_every_rule_passes(
    compare_dir: Callable[[str], Path], policy_file: Callable[..., Path], run_cli: Callable[..., Any]
) -> None:
    result = run_cli("gate", compare_dir("equivalent"), "--policy", policy_file("rules: [no_segment_regression]\n"))
    assert result.code == 0
    assert "decision: pass (exit 0): every rule passes" in result.out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [min_pass_rate: 0.8\n", "malformed YAML at line 2 column 1"),
        ("rules:\n  - fastest_wins\n", "rules[0]: unknown gate rule 'fastest_wins'"),
        ("rules: [max_new_regressions]\nowner: me\n", "owner: unknown key (not part of the format)"),
        ("rules:\n  - min_pass_rate: high\n", "rules[0]: gate rule 'min_pass_rate': argument 'min': input should be"),
    ],
)
def test_bad_policy_exits_2_with_one_line(
    compare_dir: Callable[[str], Path],
    policy_file: Callable[..., Path],
    run_cli: Callable[..., Any],
    text: str,
    message: str,
) -> None:
    directory = compare_dir("equivalent")
    policy = policy_file(text)
    result = run_cli("gate", directory, "--policy", policy)
    assert result.code == 2
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {policy}: ")
    assert message in line
    assert not (directory / "gate.json").exists()


def test_bad_approval_and_missing_comparison_exit_2(
    tmp_path: Path, compare_dir: Callable[[str], Path], policy_file: Callable[..., Path], run_cli: Callable[..., Any]
) -> None:
    policy = policy_file(TRADEOFF_POLICY)
    result = run_cli("gate", compare_dir("costly_improvement"), "--policy", policy, "--approve", "just do it")
    assert result.code == 2
    assert (
        result.err.strip() == 'error: --approve \'just do it\': expected "NAME: REASON" (or "NAME [RULE, ...]: REASON")'
    )
    result = run_cli("gate", tmp_path / "none", "--policy", policy)
    assert result.code == 2
    assert result.err.strip().startswith(f"error: {tmp_path / 'none'}: not a comparison directory")


def test_gate_exit_code_reaches_the_shell(compare_dir: Callable[[str], Path], policy_file: Callable[..., Path]) -> None:
    exe = Path(sys.executable).with_name("promptlab")
    proc = subprocess.run(
        [str(exe), "gate", str(compare_dir("costly_improvement")), "--policy", str(policy_file(TRADEOFF_POLICY))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "decision: needs_approval (exit 3)" in proc.stdout
