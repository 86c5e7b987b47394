from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptlab._util.files import MAX_DEPTH, atomic_write, read_bytes, read_structured, validate_data, write_output
from promptlab._util.models import StrictModel
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import load_dataset
from promptlab.errors import FileFormatError, InputError
from promptlab.rollout import load_plan
from tests.conftest import ARTIFACT_YAML


def test_atomic_write_replaces_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "gate.json"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["gate.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_atomic_write_failure_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "gate.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["gate.json"]


# --- bounded, strict loaders -------------------------------------------------------------------------------------


def _error(path: Path, **kwargs: Any) -> str:
    with pytest.raises(FileFormatError) as exc:
        read_structured(path, **kwargs)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_duplicate_yaml_key_is_refused_naming_the_key_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("name: first\nversion: v1\nname: second\n")
    assert _error(path) == f"{path}: malformed YAML at line 3 column 1: duplicate key 'name' (first at line 1)"


def test_duplicate_artifact_name_is_refused_instead_of_validating_the_second(tmp_path: Path) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(ARTIFACT_YAML + "name: other-prompt\n")
    with pytest.raises(FileFormatError, match="duplicate key 'name'"):
        PromptArtifact.from_file(path)


def test_yaml_merge_keys_still_work_and_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n")
    assert read_structured(path)["item"] == {"x": 1, "y": 3}


def test_duplicate_json_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"a": 1, "b": {"c": 1, "c": 2}}')
    assert _error(path) == f"{path}: malformed JSON: duplicate key 'c'"


@pytest.mark.parametrize(("suffix", "text"), [(".json", "[" * 5000 + "]" * 5000), (".yaml", "a: " + "[" * 500)])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    assert "nest" in _error(path)


def test_nesting_just_over_the_limit_is_refused_and_at_the_limit_accepted(tmp_path: Path) -> None:
    ok, deep = tmp_path / "ok.json", tmp_path / "deep.json"
    ok.write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    deep.write_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    read_structured(ok)
    assert f"nested deeper than {MAX_DEPTH} levels" in _error(deep)


def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path.write_text("\n".join(lines) + "\n")
    assert "too many values" in _error(path)


def test_nan_and_non_string_keys_are_refused(tmp_path: Path) -> None:
    nan, keys, constant = tmp_path / "nan.yaml", tmp_path / "keys.yaml", tmp_path / "c.json"
    nan.write_text("threshold: .nan\n")
    keys.write_text("segment:\n  1: x\n")
    constant.write_text('{"a": NaN}')
    assert "threshold: expected a finite number" in _error(nan)
    assert "segment: expected string keys, got int" in _error(keys)
    assert "NaN is not a JSON number" in _error(constant)


def test_yaml_timestamps_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("version: 2024-06-01\n")
    assert read_structured(path) == {"version": "2024-06-01"}


def test_devices_fifos_and_directories_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert _error(Path("/dev/zero")).endswith("expected a regular file, found a device, pipe or socket")
    assert _error(fifo).endswith("expected a regular file, found a device, pipe or socket")
    assert _error(tmp_path).endswith("expected a file, found a directory")


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000)
    assert _error(path, limit=1000).endswith("file too large (limit 0.000953674 MB)")
    assert read_bytes(path, limit=5000).startswith(b"a: x")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a\x00b.yaml", "invalid path (it contains a NUL byte)"), ("x" * 200_000 + ".yaml", "cannot read the file")],
)
def test_paths_the_os_refuses_are_one_line(name: str, expected: str) -> None:
    message = _error(Path(name))
    assert expected in message and len(message) < 400


def test_a_path_with_a_newline_still_gives_one_line(tmp_path: Path) -> None:
    assert "a\\nb.yaml: file not found" in _error(tmp_path / "a\nb.yaml")


# --- strict numbers and booleans ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_tokens", True, "input should be a valid integer, got True"),
        ("max_tokens", "300", "input should be a valid integer, got '300'"),
        ("temperature", "0.5", "input should be a valid number, got '0.5'"),
        ("seed", 1.5, "input should be a valid integer, got 1.5"),
    ],
)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_artifact_numbers_are_strict(tmp_path: Path, key: str, value: object, expected: str, suffix: str) -> None:
    data = yaml.safe_load(ARTIFACT_YAML)
    data["model"][key] = value
    path = tmp_path / f"v1{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    with pytest.raises(FileFormatError) as exc:
        PromptArtifact.from_file(path)
    assert str(exc.value) == f"{path}: model.{key}: {expected}"


def test_an_int_is_fine_for_a_float_and_text_for_a_datetime() -> None:
    class Model(StrictModel):
        ratio: float
        at: datetime

    model = validate_data("m.yaml", Model, {"ratio": 1, "at": "2026-01-01T00:00:00+00:00"})
    assert model.ratio == 1.0 and model.at.year == 2026


def test_rollout_percent_true_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("name: p\nstages:\n  - name: all\n    percent: true\n")
    with pytest.raises(FileFormatError, match=r"stages\[0\]\.percent: input should be a valid number, got True"):
        load_plan(path)


def test_case_booleans_are_strict_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "expected": {"should_refuse": 1}}\n')
    with pytest.raises(FileFormatError, match=r"line 1 \(id 'a'\): expected.should_refuse: input should be a valid"):
        load_dataset(path)


def test_duplicate_keys_in_a_jsonl_case_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "id": "c"}\n')
    with pytest.raises(FileFormatError, match=r"line 2: malformed JSON: duplicate key 'id'"):
        load_dataset(path)


# --- output files --------------------------------------------------------------------------------------------------


def test_write_output_into_a_path_under_a_file_is_one_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"file/out.html: cannot write \(") as exc:
        write_output(blocker / "out.html", "<html>")
    assert "\n" not in str(exc.value)
    assert write_output(tmp_path / "new" / "out.md", "# hi").read_text() == "# hi"
