from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import CliResult

Cli = Callable[..., CliResult]


def test_validate_ok_prints_ref_and_hash(run_cli: Cli, artifact_file: Path) -> None:
    r = run_cli("artifact", "validate", artifact_file)
    assert r.code == 0
    assert r.out.startswith(f"{artifact_file}: ok (triage@v1, sha256:")


def test_validate_reports_each_problem_on_one_line_and_exits_2(
    run_cli: Cli, tmp_path: Path, artifact_file: Path
) -> None:
    data = yaml.safe_load(artifact_file.read_text())
    data["model"]["temprature"] = 1
    del data["owner"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    r = run_cli("artifact", "validate", artifact_file, bad)
    assert r.code == 2
    assert "Traceback" not in r.err
    assert sorted(r.err.splitlines()) == [
        f"{bad}: model.temprature: unknown key (not part of the format)",
        f"{bad}: owner: required field is missing",
    ]
    assert "ok" in r.out


def test_validate_malformed_yaml_exits_2_without_traceback(run_cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    r = run_cli("artifact", "validate", bad)
    assert r.code == 2
    assert r.err.startswith(f"{bad}: malformed YAML at line")
    assert len(r.err.splitlines()) == 1


def test_hash_prints_the_content_hash(run_cli: Cli, artifact_file: Path) -> None:
    r = run_cli("artifact", "hash", artifact_file)
    assert r.code == 0 and r.out.strip().startswith("sha256:") and len(r.out.strip()) == 71


def test_hash_of_missing_file_is_one_line_exit_2(run_cli: Cli, tmp_path: Path) -> None:
    r = run_cli("artifact", "hash", tmp_path / "nope.yaml")
    assert r.code == 2
    assert r.err == f"error: {tmp_path / 'nope.yaml'}: file not found\n"


def test_diff_text_and_json(run_cli: Cli, tmp_path: Path, artifact_file: Path) -> None:
    data = yaml.safe_load(artifact_file.read_text())
    data["version"] = "v2"
    data["model"]["temperature"] = 0.9
    new = tmp_path / "v2.yaml"
    new.write_text(yaml.safe_dump(data))
    r = run_cli("artifact", "diff", artifact_file, new)
    assert r.code == 0
    assert "## model" in r.out and "~ temperature: 0.2 -> 0.9" in r.out
    r = run_cli("artifact", "diff", artifact_file, new, "--json")
    areas = [s["area"] for s in json.loads(r.out)["sections"]]
    assert areas == ["metadata", "model"]


def test_render_missing_variable_exits_2(run_cli: Cli, artifact_file: Path) -> None:
    r = run_cli("artifact", "render", artifact_file, "--vars", '{"message": "hi"}')
    assert r.code == 2
    assert r.err.startswith("error: triage@v1: messages[0].content: 'company' is undefined")
    r = run_cli("artifact", "render", artifact_file, "--vars", "[1]")
    assert r.code == 2 and "expected a JSON object" in r.err
    r = run_cli("artifact", "render", artifact_file, "--vars", '{"message": "hi", "company": "Acme"}')
    assert r.code == 0 and json.loads(r.out)[1]["content"] == "hi"
