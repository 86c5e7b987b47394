from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from promptlab.datasets import Dataset, load_dataset
from promptlab.errors import FileFormatError, InputError


def _case(i: int, **extra: object) -> dict:
    return {"id": f"c{i}", "vars": {"message": f"m{i}"}, "segment": {"intent": "refund", "geo": "US"}, **extra}


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_and_yaml_files_in_a_directory_are_merged(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [_case(1), _case(2)])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(yaml.safe_dump([_case(3, tags=["hard-negative:ambiguous"])]))
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset(tmp_path)
    assert [c.id for c in ds] == ["c1", "c2", "c3"]
    assert ds["c3"].hard_negatives == ["hard-negative:ambiguous"]
    assert ds.sources["c2"].endswith("a.jsonl:line 2")
    assert ds.segment_dimensions() == ["geo", "intent"]


def test_yaml_file_may_wrap_cases_in_a_cases_key(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump({"cases": [_case(1)]}))
    assert len(load_dataset(path)) == 1


def test_duplicate_ids_name_both_places(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [_case(1)])
    (tmp_path / "b.yaml").write_text(yaml.safe_dump([_case(2), _case(1)]))
    with pytest.raises(InputError) as exc:
        load_dataset(tmp_path)
    assert str(exc.value) == (
        f"duplicate case id 'c1': {tmp_path / 'a.jsonl'}:line 1 and {tmp_path / 'b.yaml'}:cases[1]"
    )


def test_duplicate_ids_within_one_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"duplicate case id 'c1': .*line 1 and .*line 2"):
        load_dataset(_jsonl(tmp_path / "a.jsonl", [_case(1), _case(1)]))


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("\n")
    with pytest.raises(InputError, match="empty dataset"):
        load_dataset(tmp_path / "a.jsonl")


def test_empty_directory_allowed_when_asked(tmp_path: Path) -> None:
    assert len(load_dataset(tmp_path, allow_empty=True)) == 0


def test_malformed_jsonl_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(_case(1)) + "\n{oops\n")
    with pytest.raises(FileFormatError, match=r"a\.jsonl: line 2: malformed JSON"):
        load_dataset(path)


def test_invalid_case_names_file_line_id_and_field(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", [_case(1), _case(2, expected={"should_refuse": "maybe"}), _case(3, colour=1)])
    with pytest.raises(FileFormatError) as exc:
        load_dataset(path)
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{path}: line 2 (id 'c2'): expected.should_refuse: input should be a valid boolean, got 'maybe'",
        f"{path}: line 3 (id 'c3'): colour: unknown key (not part of the format)",
    ]


def test_unknown_hard_negative_category_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="expected a hard-negative category"):
        load_dataset(_jsonl(tmp_path / "a.jsonl", [_case(1, tags=["hard-negative:ambigous"])]))


def test_numeric_segment_values_become_text(tmp_path: Path) -> None:
    ds = load_dataset(_jsonl(tmp_path / "a.jsonl", [_case(1, segment={"tier": 2})]))
    assert ds["c1"].segment == {"tier": "2"}


def test_missing_path_and_wrong_suffix_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="dataset not found"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "cases.csv").write_text("id\n")
    with pytest.raises(FileFormatError, match="expected a dataset file ending in"):
        load_dataset(tmp_path / "cases.csv")


def test_top_level_scalar_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("just text\n")
    with pytest.raises(FileFormatError, match="expected a list of cases"):
        load_dataset(path)


def test_content_hash_ignores_file_layout_and_order(tmp_path: Path) -> None:
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _jsonl(one / "all.jsonl", [_case(1), _case(2), _case(3)])
    _jsonl(two / "b.jsonl", [_case(3), _case(1)])
    (two / "a.yaml").write_text(yaml.safe_dump([_case(2)]))
    assert load_dataset(one).content_hash == load_dataset(two).content_hash
    _jsonl(two / "b.jsonl", [_case(3), _case(1, tags=["x"])])
    assert load_dataset(one).content_hash != load_dataset(two).content_hash


def test_to_frame_has_segment_columns(tmp_path: Path) -> None:
    frame = load_dataset(_jsonl(tmp_path / "a.jsonl", [_case(1), _case(2)])).to_frame()
    assert list(frame["segment.intent"]) == ["refund", "refund"]


def test_merge_rejects_duplicates_across_datasets(tmp_path: Path) -> None:
    a = load_dataset(_jsonl(tmp_path / "a.jsonl", [_case(1)]))
    b = load_dataset(_jsonl(tmp_path / "b.jsonl", [_case(1)]))
    with pytest.raises(InputError, match="duplicate case id 'c1'"):
        Dataset.merge([a, b])
