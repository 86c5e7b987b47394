from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from promptlab.artifacts import PromptArtifact, load_artifact
from promptlab.errors import FileFormatError, TemplateError


def _write(tmp_path: Path, data: object, name: str = "a.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if name.endswith(".yaml") else json.dumps(data))
    return path


def _data(artifact_file: Path) -> dict:
    return yaml.safe_load(artifact_file.read_text())


def test_valid_artifact_loads_with_every_area(artifact_file: Path) -> None:
    a = load_artifact(artifact_file)
    assert a.ref == "triage@v1"
    assert a.tool_names() == ["lookup_order"]
    assert a.model.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert a.path == artifact_file
    assert a.variables == {"company", "message"}


def test_hash_ignores_key_order_and_formatting(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    reordered = dict(reversed(list(data.items())))
    as_json = _write(tmp_path, reordered, "a.json")
    assert load_artifact(as_json).content_hash == load_artifact(artifact_file).content_hash


def test_hash_changes_when_content_changes(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["model"]["temperature"] = 0.3
    assert load_artifact(_write(tmp_path, data)).content_hash != load_artifact(artifact_file).content_hash


def test_hash_is_sha256_prefixed_hex(artifact_file: Path) -> None:
    h = load_artifact(artifact_file).content_hash
    assert h.startswith("sha256:") and len(h) == 7 + 64


def test_render_fills_variables(artifact_file: Path) -> None:
    messages = load_artifact(artifact_file).render({"company": "Acme", "message": "Where is my order?"})
    assert messages[0]["content"].startswith("You triage support tickets for Acme.")
    assert messages[1] == {"role": "user", "content": "Where is my order?"}


def test_render_missing_variable_is_an_error_not_an_empty_string(artifact_file: Path) -> None:
    with pytest.raises(TemplateError, match=r"triage@v1: messages\[0\]\.content: 'company' is undefined for case 'c1'"):
        load_artifact(artifact_file).render({"message": "hi"}, case_id="c1")


def test_unknown_key_is_an_error_naming_the_field(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["model"]["temprature"] = 0.1
    with pytest.raises(FileFormatError) as exc:
        load_artifact(_write(tmp_path, data))
    assert str(exc.value) == f"{tmp_path / 'a.yaml'}: model.temprature: unknown key (not part of the format)"


def test_wrong_type_names_field_and_expectation(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["model"]["max_tokens"] = "lots"
    with pytest.raises(FileFormatError, match=r"model\.max_tokens: input should be a valid integer.*got 'lots'"):
        load_artifact(_write(tmp_path, data))


def test_every_problem_gets_its_own_line(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    del data["owner"]
    data["extra"] = 1
    with pytest.raises(FileFormatError) as exc:
        load_artifact(_write(tmp_path, data))
    lines = str(exc.value).splitlines()
    assert len(lines) == 2
    assert any(line.endswith("owner: required field is missing") for line in lines)
    assert any(line.endswith("extra: unknown key (not part of the format)") for line in lines)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmessages: [\n")
    with pytest.raises(FileFormatError, match=r"bad\.yaml: malformed YAML at line \d+ column \d+"):
        load_artifact(path)


def test_malformed_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n  oops}')
    with pytest.raises(FileFormatError, match=r"bad\.json: malformed JSON at line 2 column 3"):
        load_artifact(path)


def test_template_syntax_error_is_reported_at_load(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["messages"][1]["content"] = "{{ message "
    with pytest.raises(FileFormatError, match=r"messages\[1\]\.content: .*expected a valid Jinja2 template"):
        load_artifact(_write(tmp_path, data))


def test_invalid_response_schema_is_rejected(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["response_format"] = {"type": "objekt"}
    with pytest.raises(FileFormatError, match=r"response_format: .*expected a valid JSON Schema"):
        load_artifact(_write(tmp_path, data))


def test_duplicate_tool_names_are_rejected(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["tools"]["functions"].append(data["tools"]["functions"][0])
    with pytest.raises(FileFormatError, match="'lookup_order' appears twice"):
        load_artifact(_write(tmp_path, data))


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(FileFormatError, match="empty file"):
        load_artifact(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="file not found"):
        load_artifact(tmp_path / "nope.yaml")


def test_expected_changes_are_structured(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["expected_changes"] = [{"behaviour": "verbosity", "direction": "increase", "description": "warmer"}]
    assert load_artifact(_write(tmp_path, data)).expected_changes[0].behaviour == "verbosity"
    data["expected_changes"] = [{"behaviour": "vibes", "direction": "increase"}]
    with pytest.raises(FileFormatError, match=r"expected_changes\[0\]\.behaviour"):
        load_artifact(_write(tmp_path, data))


def test_from_data_round_trips_a_dump(artifact_file: Path) -> None:
    a = load_artifact(artifact_file)
    b = PromptArtifact.from_data(a.model_dump(mode="json"))
    assert b.model_dump() == a.model_dump() and b.content_hash == a.content_hash


def test_openai_tools_are_in_wire_format(artifact_file: Path) -> None:
    tools = load_artifact(artifact_file).openai_tools()
    assert tools is not None
    assert tools[0]["type"] == "function" and tools[0]["function"]["name"] == "lookup_order"


@pytest.mark.parametrize(
    ("base_url", "named"),
    [
        ("https://alice:s3cr3t-pass@llm.example.com/v1", "without user or password"),
        ("https://llm.example.com/v1?api-key=s3cr3t-pass", "secret query parameters (api-key)"),
    ],
)
def test_base_url_with_credentials_is_refused_so_no_secret_is_published(
    tmp_path: Path, artifact_file: Path, base_url: str, named: str
) -> None:
    data = _data(artifact_file)
    data["model"]["base_url"] = base_url
    with pytest.raises(FileFormatError) as exc:
        load_artifact(_write(tmp_path, data))
    message = str(exc.value)
    assert "model.base_url" in message and named in message
    assert "s3cr3t-pass" not in message and "\n" not in message


def test_base_url_without_credentials_is_accepted(tmp_path: Path, artifact_file: Path) -> None:
    data = _data(artifact_file)
    data["model"]["base_url"] = "http://127.0.0.1:8080/v1?api-version=2024-06-01"
    assert load_artifact(_write(tmp_path, data)).model.base_url == "http://127.0.0.1:8080/v1?api-version=2024-06-01"
