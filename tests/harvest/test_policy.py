"""The harvest policy file: resolution, and one-line errors that name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptlab.errors import FileFormatError
from promptlab.harvest import load_harvest_policy
from tests.harvest.conftest import POLICY, write_policy


def test_a_policy_resolves_versions_from_their_artifacts(policy_file: Path) -> None:
    policy = load_harvest_policy(policy_file)
    v1 = policy.view.versions["v1"]
    assert v1.allowed_fields == ["category", "priority", "reply"]
    assert v1.tools == ["lookup_order"]
    assert v1.max_words == 60
    assert [d.spec_name for d in policy.detectors] == [
        "unexpected_refusal",
        "wrong_tool_sequence",
        "hallucinated_fields",
        "excessive_verbosity",
        "outcome",
    ]
    assert policy.length is not None and policy.length.field == "reply"
    assert policy.hash.startswith("sha256:")


def test_the_example_policy_is_valid() -> None:
    policy = load_harvest_policy(Path("examples/support-triage/production/harvest-policy.yaml"))
    assert set(policy.view.versions) == {"v1", "v2"}


def bad(tmp_path: Path, change: dict[str, Any]) -> str:
    path = write_policy(tmp_path, {**POLICY, **change})
    with pytest.raises(FileFormatError) as exc:
        load_harvest_policy(path)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    return message


def test_unknown_keys_and_wrong_types_name_the_field(tmp_path: Path) -> None:
    assert bad(tmp_path, {"detector": []}).endswith("detector: unknown key (not part of the format)")
    assert "versions.v1.max_words: input should be greater than 0" in bad(
        tmp_path, {"versions": {"v1": {"max_words": 0}}}
    )
    assert "detectors: list should have at least 1 item" in bad(tmp_path, {"detectors": []})
    assert "redact.patterns[0]: input should be 'email', 'phone'," in bad(tmp_path, {"redact": {"patterns": ["ssn"]}})
    assert "redact.custom: value error, pattern 'x' is not a valid regular expression" in bad(
        tmp_path, {"redact": {"custom": {"x": "(("}}}
    )


def test_detector_problems_name_the_detector_entry(tmp_path: Path) -> None:
    message = bad(tmp_path, {"detectors": ["outcome", {"unexpected_refusal": {"should_refus": ["x"]}}]})
    assert "detectors[1]: detector 'unexpected_refusal': unknown argument 'should_refus'" in message
    assert "detectors[0]: unknown detector 'nope'" in bad(tmp_path, {"detectors": ["nope"]})
    two = [{"excessive_verbosity": {"field": "reply"}}, {"excessive_verbosity": {"field": "notes"}}]
    assert "detectors[1]: two detectors measure the usual length differently" in bad(tmp_path, {"detectors": two})


def test_artifact_problems_name_the_version(tmp_path: Path) -> None:
    missing = bad(tmp_path, {"versions": {"v1": {"artifact": "gone.yaml"}}})
    assert "versions.v1.artifact: cannot load the artifact" in missing and "file not found" in missing
    (tmp_path / "other.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load((tmp_path / "v1.yaml").read_text()), "name": "other", "version": "v9"})
    )
    assert "versions.v1.artifact: the artifact is prompt 'other', expected 'triage'" in bad(
        tmp_path, {"versions": {"v1": {"artifact": "other.yaml"}}}
    )


def test_a_missing_or_malformed_policy_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"nope\.yaml: file not found$"):
        load_harvest_policy(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("detectors: [\n")
    with pytest.raises(FileFormatError, match=r"broken\.yaml: malformed YAML at line"):
        load_harvest_policy(broken)


def test_version_names_that_are_empty_or_hold_control_characters_are_refused(tmp_path: Path) -> None:
    for name in ("", " ", "v\x1e1"):
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"versions": {name: {"max_words": 5}}, "detectors": ["outcome"]}))
        with pytest.raises(FileFormatError, match=r"versions: .*must be non-empty printable text") as exc:
            load_harvest_policy(path)
        assert "\x1e" not in str(exc.value) and "\n" not in str(exc.value)
