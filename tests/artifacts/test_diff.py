from __future__ import annotations

from pathlib import Path

import yaml

from promptlab.artifacts import PromptArtifact, diff_artifacts, load_artifact


def _variant(tmp_path: Path, artifact_file: Path, edit) -> PromptArtifact:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(artifact_file.read_text())
    edit(data)
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_artifact(path)


def test_identical_artifacts_have_no_sections(artifact_file: Path) -> None:
    a = load_artifact(artifact_file)
    d = diff_artifacts(a, a)
    assert d.identical and d.sections == []


def test_instruction_change_gives_a_text_diff_and_variable_changes(tmp_path: Path, artifact_file: Path) -> None:
    def edit(d: dict) -> None:
        d["version"] = "v2"
        d["messages"][0]["content"] = "You triage tickets for {{ company }} in {{ locale }}.\nAnswer as JSON.\n"

    new = _variant(tmp_path, artifact_file, edit)
    d = diff_artifacts(load_artifact(artifact_file), new)
    section = d.section("instructions")
    assert section is not None
    assert "-You triage support tickets for {{ company }}." in section.text_diff
    assert "+You triage tickets for {{ company }} in {{ locale }}." in section.text_diff
    assert [c.describe() for c in section.changes] == ["+ variables: 'locale'"]
    meta = d.section("metadata")
    assert meta is not None and meta.changes[0].path == "version"


def test_model_settings_changes_are_listed_per_setting(tmp_path: Path, artifact_file: Path) -> None:
    def edit(d: dict) -> None:
        d["model"]["temperature"] = 0.7
        d["model"]["seed"] = 7

    d = diff_artifacts(load_artifact(artifact_file), _variant(tmp_path, artifact_file, edit))
    section = d.section("model")
    assert section is not None
    assert {(c.path, c.kind) for c in section.changes} == {("temperature", "changed"), ("seed", "changed")}


def test_tool_changes_go_down_to_parameters(tmp_path: Path, artifact_file: Path) -> None:
    def edit(d: dict) -> None:
        fn = d["tools"]["functions"][0]["function"]
        fn["parameters"]["properties"]["email"] = {"type": "string"}
        d["tools"]["functions"].append({"function": {"name": "refund", "description": "Refund."}})
        d["tools"]["schema_version"] = "2"

    d = diff_artifacts(load_artifact(artifact_file), _variant(tmp_path, artifact_file, edit))
    section = d.section("tools")
    assert section is not None
    described = [c.describe() for c in section.changes]
    assert "~ schema_version: '1' -> '2'" in described
    assert any(c.path == "tool refund" and c.kind == "added" for c in section.changes)
    assert any(c.path == "tool lookup_order.parameters.properties.email" and c.kind == "added" for c in section.changes)


def test_limitations_and_schema_changes_are_grouped(tmp_path: Path, artifact_file: Path) -> None:
    def edit(d: dict) -> None:
        d["known_limitations"] = ["English and German only"]
        d["response_format"]["properties"]["priority"] = {"type": "string"}
        d["retrieval"] = {"index": "kb", "top_k": 3}

    d = diff_artifacts(load_artifact(artifact_file), _variant(tmp_path, artifact_file, edit))
    areas = [s.area for s in d.sections]
    assert areas == ["retrieval", "response_format", "known_limitations"]
    limitations = d.section("known_limitations")
    assert limitations is not None
    assert {c.kind for c in limitations.changes} == {"added", "removed"}
    text = d.to_text()
    assert "## response_format" in text and "properties.priority" in text
    assert d.to_dict()["sections"][0]["area"] == "retrieval"
    assert "### tools" not in d._repr_markdown_()
