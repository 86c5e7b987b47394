"""The results file and DataFrame: torn lines, and the `varies` column with repeats."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from promptlab.errors import FileFormatError
from promptlab.runner import CaseResult, EvalOutcome, ResultRow, read_result_rows
from promptlab.runner._results import read_results, results_frame


def write(path: Path, rows: list[CaseResult], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(r.to_json() for r in rows) + tail)


def test_a_torn_last_line_is_dropped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write(path, [CaseResult(case_id="a"), CaseResult(case_id="b")], tail=b'{"case_id": "c", "rep')
    assert [r["case_id"] for r in read_results(path)] == ["a", "b"]
    read_results(path, repair=True)
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 2


def test_a_malformed_line_before_the_end_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CaseResult(case_id="a").to_json() + b"garbage\n" + CaseResult(case_id="b").to_json())
    with pytest.raises(FileFormatError, match="line 2: malformed result row"):
        read_results(path)


def test_varies_flags_cases_whose_outcome_changes_across_repeats() -> None:
    rows = [
        CaseResult(case_id="steady", repeat=0, outcome="pass"),
        CaseResult(case_id="steady", repeat=1, outcome="pass"),
        CaseResult(case_id="wobbly", repeat=1, outcome="fail"),
        CaseResult(case_id="wobbly", repeat=0, outcome="pass"),
    ]
    frame = results_frame([orjson.loads(r.to_json()) for r in rows])
    assert list(zip(frame["case_id"], frame["repeat"], frame["varies"], strict=True)) == [
        ("steady", 0, False),
        ("steady", 1, False),
        ("wobbly", 0, True),
        ("wobbly", 1, True),
    ]


def test_no_varies_column_without_repeats() -> None:
    frame = results_frame([orjson.loads(CaseResult(case_id="a").to_json())])
    assert "varies" not in frame


def test_a_result_row_reads_back_typed_and_writes_the_same_line() -> None:
    written = CaseResult(
        case_id="a",
        repeat=1,
        segment={"intent": "refund"},
        tool_calls=[{"name": "lookup", "arguments": "{}", "error": "timeout"}],
        error={"kind": "timeout", "message": "slow"},
        evaluations={"contains": EvalOutcome(passed=False, reason="no apple")},
        outcome="error",
    )
    row = ResultRow.from_json(orjson.loads(written.to_json()))
    assert (row.case_id, row.repeat, row.error_kind, row.tool_failed, row.passed) == ("a", 1, "timeout", True, False)
    assert row.evaluations["contains"].reason == "no apple"
    assert row.to_json() == written.to_json()


def test_a_row_with_an_unknown_field_is_a_format_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(CaseResult(case_id="a").to_json() + b'{"case_id": "b", "colour": "red"}\n')
    with pytest.raises(FileFormatError, match=r"result row 2: not a result row .*colour"):
        read_result_rows(path)
