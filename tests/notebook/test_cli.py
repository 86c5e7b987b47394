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
def test_failing_cell_exits_1_naming_the_cell(hello: Path, tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("notebook", "run", "hello", "-p", "out", "res.txt", "-p", "repeats", "7", "--out-dir", "nb")
    assert result.code == 1
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
