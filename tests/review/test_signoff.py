"""Review sign-off files in a comparison directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptlab.errors import FileFormatError, InputError
from promptlab.review import ReviewSignoff, load_signoffs, reviewer_slug, save_signoff, signoff_path

HASH = "sha256:" + "ab" * 32


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "layer": "technical",
        "reviewer": "Ana Díaz",
        "decision": "approve",
        "checklist": {"determinism": {"checked": True, "note": "2 flaky cases, known"}, "schema": {"checked": False}},
        "comments": "Fine by me.",
        "signed_at": "2024-06-01T12:00:00+02:00",
        "comparison_hash": HASH,
    }
    data.update(changes)
    return data


def test_save_and_load_round_trip_under_a_slugged_name(tmp_path: Path) -> None:
    signoff = ReviewSignoff.model_validate(_data())
    path = save_signoff(tmp_path, signoff)
    assert path == tmp_path / "reviews" / "technical-ana-diaz.json"
    assert path == signoff_path(tmp_path, "technical", "Ana Díaz")
    on_disk = json.loads(path.read_text())
    assert on_disk["signed_at"] == "2024-06-01T12:00:00+02:00"
    assert on_disk["checklist"]["schema"] == {"checked": False, "note": ""}
    second = ReviewSignoff.model_validate(_data(layer="product", reviewer="bob", decision="request_changes"))
    save_signoff(tmp_path, second)
    assert load_signoffs(tmp_path) == [second, signoff]


def test_saving_again_replaces_the_reviewers_earlier_sign_off(tmp_path: Path) -> None:
    save_signoff(tmp_path, ReviewSignoff.model_validate(_data(decision="request_changes")))
    save_signoff(tmp_path, ReviewSignoff.model_validate(_data(decision="approve")))
    (only,) = load_signoffs(tmp_path)
    assert only.decision == "approve"
    assert [p.name for p in (tmp_path / "reviews").iterdir()] == ["technical-ana-diaz.json"]


def test_no_reviews_directory_means_no_sign_offs(tmp_path: Path) -> None:
    assert load_signoffs(tmp_path) == []


def test_reviewer_slugs() -> None:
    assert reviewer_slug("  Ana  Díaz ") == "ana-diaz"
    assert reviewer_slug("o'brien@example.com") == "o-brien-example-com"
    with pytest.raises(InputError, match="at least one letter or digit"):
        reviewer_slug("!!!")


@pytest.mark.parametrize(
    ("changes", "field", "expectation"),
    [
        ({"layer": "legal"}, "layer", "input should be 'product' or 'technical'"),
        ({"decision": "lgtm"}, "decision", "input should be 'approve' or 'request_changes'"),
        ({"comparison_hash": "abc"}, "comparison_hash", "string should match pattern"),
        ({"signed_at": "2024-06-01T12:00:00"}, "signed_at", "input should have timezone info"),
        ({"checklist": {"tone": {"checked": "maybe"}}}, "checklist.tone.checked", "input should be a valid boolean"),
        ({"checklist": {"tone": {"checked": True, "score": 3}}}, "checklist.tone.score", "unknown key"),
        ({"reviewer": "???"}, "reviewer", "expected a reviewer name with at least one letter or digit"),
        ({"extra": 1}, "extra", "unknown key (not part of the format)"),
    ],
)
def test_bad_sign_off_files_give_one_line_errors_naming_file_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, expectation: str
) -> None:
    path = tmp_path / "reviews" / "technical-ana-diaz.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_data(**changes)))
    with pytest.raises(FileFormatError) as exc:
        load_signoffs(tmp_path)
    message = str(exc.value).splitlines()[0]
    assert message.startswith(f"{path}: {field}: "), message
    assert expectation in message.lower()
    assert "value error" not in message.lower()


def test_missing_field_and_malformed_json_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "reviews" / "product-x.json"
    path.parent.mkdir()
    data = _data(layer="product", reviewer="x")
    del data["decision"]
    path.write_text(json.dumps(data))
    with pytest.raises(FileFormatError, match=r"product-x\.json: decision: required field is missing"):
        load_signoffs(tmp_path)
    path.write_text("{")
    with pytest.raises(FileFormatError, match=r"product-x\.json: malformed JSON"):
        load_signoffs(tmp_path)


def test_a_file_named_for_someone_else_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "reviews" / "product-someone-else.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_data()))
    with pytest.raises(FileFormatError) as exc:
        load_signoffs(tmp_path)
    assert str(exc.value) == (
        f"{path}: reviewer: file name does not match layer 'technical' and reviewer "
        "'Ana Díaz' (expected technical-ana-diaz.json)"
    )


def test_save_needs_an_existing_comparison_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        save_signoff(tmp_path / "missing", ReviewSignoff.model_validate(_data()))
