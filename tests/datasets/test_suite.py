from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from promptlab.datasets import REGRESSION_TAG, load_suite
from promptlab.errors import FileFormatError, InputError


def _project(tmp_path: Path) -> Path:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.jsonl").write_text(json.dumps({"id": "c1"}) + "\n" + json.dumps({"id": "c2"}) + "\n")
    (tmp_path / "regression_cases").mkdir()
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "datasets": ["cases"],
                "regression_cases": "regression_cases",
                "evaluators": ["json_valid", {"contains": "order"}],
            }
        )
    )
    return suite


def test_suite_resolves_paths_relative_to_its_file(tmp_path: Path) -> None:
    suite = load_suite(_project(tmp_path))
    assert [c.id for c in suite.dataset] == ["c1", "c2"]
    assert [s.name for s in suite.evaluators] == ["json_valid", "contains"]
    assert suite.evaluators[1].args == {"_": "order"}


def test_regression_cases_are_included_and_tagged(tmp_path: Path) -> None:
    path = _project(tmp_path)
    (tmp_path / "regression_cases" / "h.jsonl").write_text(json.dumps({"id": "r1", "tags": ["x"]}) + "\n")
    dataset = load_suite(path).dataset
    assert dataset["r1"].tags == ["x", REGRESSION_TAG]
    assert REGRESSION_TAG not in dataset["c1"].tags


def test_regression_case_colliding_with_a_suite_case_is_an_error(tmp_path: Path) -> None:
    path = _project(tmp_path)
    (tmp_path / "regression_cases" / "h.jsonl").write_text(json.dumps({"id": "c1"}) + "\n")
    with pytest.raises(InputError, match="duplicate case id 'c1'"):
        _ = load_suite(path).dataset


def test_suite_without_datasets_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("name: s\ndatasets: []\n")
    with pytest.raises(FileFormatError, match="datasets: list should have at least 1 item"):
        load_suite(path)


def test_bad_evaluator_spec_shape_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("name: s\ndatasets: [c]\nevaluators:\n  - {a: 1, b: 2}\n")
    with pytest.raises(FileFormatError, match=r"evaluators\[0\]"):
        load_suite(path)
