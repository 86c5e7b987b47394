from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult

Cli = Callable[..., CliResult]


def _cases(path: Path, ids: list[str], **extra: object) -> Path:
    path.write_text("".join(json.dumps({"id": i, "segment": {"intent": "x"}, **extra}) + "\n" for i in ids))
    return path


def test_validate_counts_cases(run_cli: Cli, tmp_path: Path) -> None:
    r = run_cli("dataset", "validate", _cases(tmp_path / "a.jsonl", ["a", "b"]))
    assert r.code == 0 and "ok (2 cases, sha256:" in r.out


def test_duplicate_ids_exit_2_with_both_places(run_cli: Cli, tmp_path: Path) -> None:
    _cases(tmp_path / "a.jsonl", ["a"])
    _cases(tmp_path / "b.jsonl", ["a"])
    r = run_cli("dataset", "validate", tmp_path)
    assert r.code == 2
    assert r.err == f"error: duplicate case id 'a': {tmp_path / 'a.jsonl'}:line 1 and {tmp_path / 'b.jsonl'}:line 1\n"


def test_empty_dataset_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("")
    r = run_cli("dataset", "validate", tmp_path / "a.jsonl")
    assert r.code == 2 and "empty dataset" in r.err


def test_wrong_type_exits_2_naming_line_and_field(run_cli: Cli, tmp_path: Path) -> None:
    path = _cases(tmp_path / "a.jsonl", ["a"], tags="not-a-list")
    r = run_cli("dataset", "validate", path)
    assert r.code == 2
    assert r.err.startswith(f"error: {path}: line 1 (id 'a'): tags: input should be a valid list")


def test_stats_counts_segments_and_hard_negatives(run_cli: Cli, tmp_path: Path) -> None:
    path = _cases(tmp_path / "a.jsonl", ["a", "b"], tags=["hard-negative:adversarial"])
    r = run_cli("dataset", "stats", path, "--json")
    data = json.loads(r.out)
    assert data["cases"] == 2
    assert data["segments"] == {"intent": {"x": 2}}
    assert data["hard_negatives"]["hard-negative:adversarial"] == 2
    assert data["hard_negatives"]["hard-negative:ambiguous"] == 0


def test_suite_flag_loads_every_dataset_of_the_suite(run_cli: Cli, tmp_path: Path) -> None:
    _cases(tmp_path / "a.jsonl", ["a"])
    _cases(tmp_path / "b.jsonl", ["b"])
    (tmp_path / "suite.yaml").write_text("name: s\ndatasets: [a.jsonl, b.jsonl]\n")
    r = run_cli("dataset", "validate", "--suite", tmp_path / "suite.yaml")
    assert r.code == 0 and "2 cases" in r.out


def test_unknown_command_exits_2(run_cli: Cli) -> None:
    r = run_cli("frobnicate")
    assert r.code == 2 and "No such command" in r.err
