"""`promptlab registry publish|label|resolve|history`: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests._support.registry import make_artifact
from tests.conftest import CliResult


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with two artifact files; the registry comes from PROMPTLAB_REGISTRY_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", f"sqlite:///{tmp_path / 'reg.db'}")
    monkeypatch.setenv("PROMPTLAB_ACTOR", "alice")
    for v in ("v1", "v2"):
        (tmp_path / f"{v}.yaml").write_text(yaml.safe_dump(make_artifact(v).model_dump(mode="json")))
    return tmp_path


def test_publish_then_publish_again_is_unchanged(env: Path, run_cli: Callable[..., CliResult]) -> None:
    first = run_cli("registry", "publish", "v1.yaml", "v2.yaml")
    assert first.code == 0 and "triage@v1: published (#1)" in first.out and "triage@v2: published (#2)" in first.out
    again = run_cli("registry", "publish", "v1.yaml")
    assert again.code == 0 and "triage@v1: unchanged" in again.out


def test_publishing_changed_content_under_a_version_exits_2(env: Path, run_cli: Callable[..., CliResult]) -> None:
    run_cli("registry", "publish", "v1.yaml")
    (env / "v1.yaml").write_text(yaml.safe_dump(make_artifact("v1", text="changed").model_dump(mode="json")))
    result = run_cli("registry", "publish", "v1.yaml")
    assert result.code == 2 and result.err.startswith("error: triage@v1 is already published with different")
    assert len(result.err.strip().splitlines()) == 1


def test_bad_artifact_file_exits_2_and_publishes_nothing(env: Path, run_cli: Callable[..., CliResult]) -> None:
    (env / "bad.yaml").write_text("name: triage\nversion: v3\n")
    result = run_cli("registry", "publish", "v1.yaml", "bad.yaml")
    assert result.code == 2 and "bad.yaml: owner: required field is missing" in result.err
    assert "Traceback" not in result.err
    assert not (env / "reg.db").exists()
    history = run_cli("registry", "history", "triage")
    assert history.code == 1 and "the file is missing" in history.err


def test_label_production_needs_evidence_or_a_loud_force(env: Path, run_cli: Callable[..., CliResult]) -> None:
    run_cli("registry", "publish", "v1.yaml")
    refused = run_cli("registry", "label", "triage", "v1", "--reason", "ship")
    assert refused.code == 2 and refused.err.startswith("error: refused: making it active on 'production' needs")
    forced = run_cli("registry", "label", "triage", "v1", "--reason", "ship", "--force")
    assert forced.code == 0 and "WARNING: FORCED" in forced.err and "FORCED label production -> v1" in forced.out


def test_label_without_a_reason_is_a_usage_error(env: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("registry", "label", "triage", "v1", "--label", "staging")
    assert result.code == 2 and "Missing option '--reason'" in result.err


def test_resolve_and_history(env: Path, run_cli: Callable[..., CliResult]) -> None:
    run_cli("registry", "publish", "v1.yaml", "v2.yaml")
    run_cli("registry", "label", "triage", "v1", "--label", "staging", "--reason", "first")
    run_cli("registry", "label", "triage", "v2", "--label", "staging", "--reason", "second", "--actor", "bob")
    res = run_cli("registry", "resolve", "triage", "--label", "staging", "--user", "u1", "--attr", "plan=pro", "--json")
    data = json.loads(res.out)
    assert res.code == 0 and data["version"] == "v2" and not data["stale"]
    assert data["content_hash"] == make_artifact("v2").content_hash
    text = run_cli("registry", "history", "triage", "--label", "staging")
    lines = text.out.strip().splitlines()
    assert len(lines) == 2 and "alice: label staging -> v1" in lines[0]
    assert "bob: label staging -> v2 (was v1) - second" in lines[1]
    as_json = json.loads(run_cli("registry", "history", "triage", "--json").out)
    assert [e["action"] for e in as_json] == ["publish", "publish", "label", "label"]


def test_resolve_unknown_prompt_exits_2(env: Path, run_cli: Callable[..., CliResult]) -> None:
    run_cli("registry", "publish", "v1.yaml")
    result = run_cli("registry", "resolve", "nope")
    assert result.code == 2 and result.err.startswith("error: no version of 'nope' is labelled 'production'")


def test_bad_attr_is_a_usage_error(env: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("registry", "resolve", "triage", "--attr", "novalue")
    assert result.code == 2 and "expected KEY=VALUE" in result.err


def test_unreachable_store_exits_1_with_one_line(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/pl_test_does_not_exist"
    result = run_cli("registry", "history", "triage", "--url", url)
    assert result.code == 1 and result.err.startswith("error: registry store postgresql://")
    assert "unreachable" in result.err and len(result.err.strip().splitlines()) == 1
