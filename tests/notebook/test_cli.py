from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

PARAMS = 'out = ""  # required, path: result file\nrepeats = 1  # how many\n'
BODY = "open(out, 'w').write(str(repeats * 2))"


@pytest.fixture
def hello(make_notebook: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return make_notebook("hello", PARAMS, BODY, "assert repeats < 5, 'too many repeats'")


def _one_line_error(result: CliResult) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_unknown_parameter_exits_2_with_one_line(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "x", "-p", "repeat", "2")
    assert result.code == 2
    assert _one_line_error(result) == f"error: {hello.resolve()}: unknown parameter 'repeat' (declared: out, repeats)"


def test_missing_required_parameter_exits_2(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "repeats", "2")
    assert result.code == 2
    assert _one_line_error(result).endswith("missing required parameter 'out' (give it with -p out VALUE)")


def test_badly_typed_parameter_exits_2(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "x", "-p", "repeats", "many")
    assert result.code == 2
    assert _one_line_error(result).endswith("parameter 'repeats': expected int, got 'many'")


def test_parameter_given_twice_exits_2(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "x", "-p", "out", "y")
    assert result.code == 2
    assert _one_line_error(result) == "error: parameter 'out' given more than once"


def test_unknown_notebook_exits_2(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "nope")
    assert result.code == 2
    assert "no notebook named 'nope'" in _one_line_error(result)
    assert "(available: hello)" in result.err


@pytest.mark.notebook
def test_run_writes_the_executed_notebook_and_results(
    hello: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "res.txt", "-p", "repeats", "2", "--out-dir", "nb")
    assert result.code == 0, result.err
    assert (tmp_path / "res.txt").read_text() == "4"
    assert result.out.strip() == "executed: nb/hello.ipynb"
    assert (tmp_path / "nb" / "hello.ipynb").is_file()


@pytest.mark.notebook
def test_failing_cell_exits_4_naming_the_cell(hello: Path, tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "res.txt", "-p", "repeats", "7", "--out-dir", "nb")
    assert result.code == 4  # not 1: that is the gate blocking
    line = _one_line_error(result)
    assert "cell 3 (`assert repeats < 5, 'too many repeats'`) raised AssertionError: too many repeats" in line
    assert (tmp_path / "nb" / "hello.ipynb").is_file()


def test_params_lists_declared_parameters(hello: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "params", "hello", "--json")
    assert result.code == 0
    assert json.loads(result.out) == [
        {"name": "out", "type": "str", "default": "", "required": True, "path": True, "help": "result file"},
        {"name": "repeats", "type": "int", "default": 1, "required": False, "path": False, "help": "how many"},
    ]
    text = run_cli("notebook", "params", "hello").out
    assert text.splitlines() == ["out: str  [required, path]  # result file", "repeats: int = 1  # how many"]


GATE_PARAMS = (
    'out_dir = ""  # required, path: the comparison directory\n'
    'policy = ""  # required, path: the gate policy\n'
    "fail_unless_pass = False  # raise unless the gate passes\n"
)
GATE_BODY = """\
from pathlib import Path
import promptlab.notebook as nb
from promptlab.gate import evaluate_gate
decision = evaluate_gate(out_dir, policy)
nb.write_results(out_dir, {"decision": decision.decision, "exit_code": decision.exit_code,
                           "gate": Path(out_dir) / "gate.json"})
nb.conclude(decision, out_dir, fail_unless_pass=fail_unless_pass)
"""
BLOCKING = "rules:\n  - min_pass_rate: 0.99\n"
PASSING = "rules:\n  - min_pass_rate: 0.01\n"


@pytest.fixture
def gate_notebook(make_notebook: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small notebook that gates a planted comparison and records the decision as compare.ipynb does."""
    from tests._support.comparisons import planted_comparison

    monkeypatch.chdir(tmp_path)
    planted_comparison(tmp_path, name="cmp")
    (tmp_path / "block.yaml").write_text(BLOCKING)
    (tmp_path / "pass.yaml").write_text(PASSING)
    return make_notebook("gated", GATE_PARAMS, GATE_BODY)


def _gate_run(run_cli: Callable[..., CliResult], policy: str, *extra: str) -> CliResult:
    params = ("-p", "out_dir", "cmp", "-p", "policy", policy)
    return run_cli("notebook", "run", "gated", *params, "--out-dir", "nb", *extra)


@pytest.mark.notebook
def test_run_exits_with_the_gate_decision_and_prints_the_deciding_rules(
    gate_notebook: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    blocked = _gate_run(run_cli, "block.yaml")
    assert blocked.code == 1, blocked.err
    lines = blocked.out.splitlines()
    assert lines[0] == "executed: nb/gated.ipynb"
    assert lines[1].startswith("decision: block (exit 1) for ")
    assert lines[2].startswith("  blocked by min_pass_rate: ")
    assert lines[-1] == f"results: {tmp_path / 'cmp' / 'results.json'}"
    passed = _gate_run(run_cli, "pass.yaml")
    assert passed.code == 0, passed.err
    assert "  every rule passes (1 rules)" in passed.out


@pytest.mark.notebook
def test_expect_decision_turns_the_known_outcome_into_success(
    gate_notebook: Path, run_cli: Callable[..., CliResult]
) -> None:
    expected = _gate_run(run_cli, "block.yaml", "--expect-decision", "block")
    assert expected.code == 0, expected.err
    assert expected.out.splitlines()[-1] == "decision block is the expected one (exit 0; the gate's own code is 1)"
    assert "decision: block (exit 1)" in expected.out
    unexpected = _gate_run(run_cli, "pass.yaml", "--expect-decision", "block")
    assert unexpected.code == 1
    assert unexpected.err == "expected decision block, got pass: failing\n"


@pytest.mark.notebook
def test_fail_unless_pass_is_the_decision_not_a_cell_failure(
    gate_notebook: Path, run_cli: Callable[..., CliResult]
) -> None:
    result = _gate_run(run_cli, "block.yaml", "-p", "fail_unless_pass", "true")
    assert result.code == 1, result.err  # the gate's code; a failing cell would exit 4
    assert result.err == "" and "  blocked by min_pass_rate: " in result.out


@pytest.mark.notebook
def test_bare_papermill_exits_nonzero_only_with_fail_unless_pass(gate_notebook: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def papermill(*params: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "papermill", str(gate_notebook), str(tmp_path / "pm.ipynb")]
        cmd += ["--cwd", str(tmp_path)]
        cmd += ["-p", "out_dir", "cmp", "-p", "policy", "block.yaml", *params]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)

    assert papermill().returncode == 0  # papermill knows only cell failures
    strict = papermill("-p", "fail_unless_pass", "True")
    assert strict.returncode == 1
    assert "GateNotPassedError: gate decision: block (exit 1)" in strict.stderr + strict.stdout


@pytest.mark.notebook
def test_results_left_by_an_earlier_run_say_nothing_about_this_one(
    make_notebook: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., CliResult],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text('{"decision": "block", "exit_code": 1}')
    import os

    os.utime(tmp_path / "old" / "results.json", (1_000_000_000, 1_000_000_000))
    make_notebook("quiet", 'out_dir = ""  # path: where results would go', "x = 1")
    args = ("notebook", "run", "quiet", "-p", "out_dir", "old", "--out-dir", "nb")
    result = run_cli(*args)
    assert result.code == 0 and result.out.strip() == "executed: nb/quiet.ipynb"
    expecting = run_cli(*args, "--expect-decision", "pass")
    assert expecting.code == 2
    assert expecting.err.strip().endswith("--expect-decision: the notebook recorded no gate decision")
