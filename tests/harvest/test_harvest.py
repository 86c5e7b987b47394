"""End to end: planted logs in, regression cases out; counts, idempotency, late outcomes, PII, dedup, preservation."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from promptlab.datasets import Case, load_dataset, load_suite
from promptlab.harvest import LEDGER_NAME, harvest
from tests.harvest.conftest import EXPECTED, EXPECTED_CASES, MALFORMED_LINES, PlantedLogs

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_planted_failures_are_found_exactly_and_nothing_clean_is_flagged(
    engine: str, planted: PlantedLogs, logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    report = harvest(logs, policy=policy_file, out=tmp_path / "rc", engine=engine, now=NOW)  # type: ignore[arg-type]
    assert report.by_detector == EXPECTED
    flagged = {(f.detector, f.request_id) for f in report.failures}
    planted_pairs = {(kind, rid) for kind, ids in planted.failing_ids.items() for rid in ids}
    assert flagged == planted_pairs
    assert not {rid for _, rid in flagged} & set(planted.clean_ids)
    assert Counter(c.metadata["harvest"]["detector"] for c in report.plan.new_cases) == EXPECTED_CASES


def test_engines_agree_on_every_finding_and_case(logs: list[Path], policy_file: Path, tmp_path: Path) -> None:
    duck = harvest(logs, policy=policy_file, out=tmp_path / "a", engine="duckdb", now=NOW, dry_run=True)
    ref = harvest(logs, policy=policy_file, out=tmp_path / "b", engine="python", now=NOW, dry_run=True)
    assert [(f.detector, f.request_id, f.reason) for f in duck.failures] == [
        (f.detector, f.request_id, f.reason) for f in ref.failures
    ]
    assert [c.model_dump() for c in duck.cases] == [c.model_dump() for c in ref.cases]
    assert [str(m) for m in duck.malformed] == [str(m) for m in ref.malformed]


def test_malformed_lines_are_counted_and_reported_with_file_and_line(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    report = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True)
    assert report.malformed_count == MALFORMED_LINES
    responses = str(logs[0])
    assert [(m.source, m.line) for m in report.malformed] == [
        (responses, 6),
        (responses, 13),
        (responses, 16),
        (responses, 21),
    ]
    messages = [m.message for m in report.malformed]
    assert messages[0].startswith("malformed JSON")
    assert messages[1] == "surprise: unknown key (not part of the format)"
    assert messages[2].startswith("latency_ms: input should be a valid number")
    assert messages[3] == "request_id: required field is missing"
    assert report.per_source[responses]["malformed"] == MALFORMED_LINES


def test_late_outcome_records_are_joined_by_request_id(
    planted: PlantedLogs, logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    report = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True)
    late_id = planted.outcomes[0]["request_id"]
    assert ("outcome", late_id) in {(f.detector, f.request_id) for f in report.failures}
    assert report.outcomes_joined == 2
    assert report.orphan_outcomes == 1
    # Without the outcomes file the escalation is unknown.
    alone = harvest(logs[:1], policy=policy_file, out=tmp_path / "rc", dry_run=True)
    assert ("outcome", late_id) not in {(f.detector, f.request_id) for f in alone.failures}


def test_rerun_over_the_same_logs_adds_nothing_and_rewrites_nothing(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    first = harvest(logs, policy=policy_file, out=out, now=NOW)
    assert len(first.plan.new_cases) == sum(EXPECTED_CASES.values())
    before = files(out)
    second = harvest(logs, policy=policy_file, out=out, now=datetime(2024, 8, 1, tzinfo=UTC))
    assert second.plan.empty
    assert second.plan.known_occurrences == sum(EXPECTED.values())
    assert second.written == []
    assert files(out) == before


def test_written_cases_load_as_a_dataset_with_checkable_expectations(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    dataset = load_dataset(out)
    by_detector: dict[str, list[Case]] = {}
    for case in dataset:
        assert "regression" in case.tags
        detector = case.metadata["harvest"]["detector"]
        assert f"harvest:{detector}" in case.tags
        assert case.metadata["harvest"]["harvested_at"] == "2024-07-01T00:00:00Z"
        assert case.metadata["harvest"]["version"] in ("v1", "v2")
        assert case.segment["intent"]
        by_detector.setdefault(detector, []).append(case)
    assert all(c.expected.should_refuse is False for c in by_detector["unexpected_refusal"])
    assert {tuple(c.expected.tool_sequence or ()) for c in by_detector["wrong_tool_sequence"]} == {("lookup_order",)}
    assert all(
        c.expected.allowed_fields == ["category", "priority", "reply"] for c in by_detector["hallucinated_fields"]
    )
    assert [c.expected.max_words for c in by_detector["excessive_verbosity"]] == [60]
    corrected = [c for c in by_detector["outcome"] if c.expected.fields]
    assert [c.expected.fields for c in corrected] == [{"category": "refund", "priority": "normal"}]
    # The failed lookup replays: the case carries the tool result seen in production.
    ignored = next(
        c for c in by_detector["wrong_tool_sequence"] if "ignored the error" in c.metadata["harvest"]["reason"]
    )
    assert [(t.tool, t.error) for t in ignored.tool_results] == [("lookup_order", "timeout")]


def test_a_suite_with_regression_cases_picks_harvested_cases_up_tagged_regression(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    (tmp_path / "cases.jsonl").write_text(orjson.dumps({"id": "base-1", "vars": {"message": "hi"}}).decode() + "\n")
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump({"name": "s", "datasets": ["cases.jsonl"], "regression_cases": "rc"}))
    dataset = load_suite(suite_file).dataset
    harvested = [c for c in dataset if c.id.startswith("harvest-")]
    assert len(harvested) == sum(EXPECTED_CASES.values())
    assert all("regression" in c.tags for c in harvested)
    assert "regression" not in dataset["base-1"].tags


def test_personal_data_named_in_the_policy_never_reaches_the_files(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    text = b"".join(files(out).values()).decode()
    for secret in ("ann@example.com", "bob@example.org", '"Ann"', '"Bob"'):
        assert secret not in text
    assert "[email]" in text
    assert "[customer_name]" in text


def test_near_duplicates_merge_into_one_case_with_a_count(
    planted: PlantedLogs, logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    refusals = [c for c in load_dataset(out) if c.metadata["harvest"]["detector"] == "unexpected_refusal"]
    merged = next(c for c in refusals if c.segment["intent"] == "billing")
    ids = planted.failing_ids["unexpected_refusal"][:2]
    assert merged.metadata["harvest"]["occurrences"] == 2
    assert merged.metadata["harvest"]["request_ids"] == ids
    # The case shows the earliest occurrence, with its personal data redacted.
    assert merged.vars["message"] == "I was charged twice for order 123, mail me at [email]"


def test_new_occurrences_update_counts_and_keep_edits_and_foreign_cases(
    planted: PlantedLogs, policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    out.mkdir()
    mine = out / "curated.yaml"
    mine.write_text(yaml.safe_dump([{"id": "curated-1", "vars": {"message": "hi"}}]))
    curated = mine.read_bytes()
    responses, outcomes = planted.write()
    harvest([responses, outcomes], policy=policy_file, out=out, now=NOW)
    refusal_file = out / "harvest-unexpected_refusal.jsonl"
    lines = refusal_file.read_bytes().splitlines()
    # A reviewer edits the merged billing case by hand (a note in its expectations stays).
    edited = []
    for raw in lines:
        data = orjson.loads(raw)
        if data["segment"]["intent"] == "billing":
            data["expected"]["output"] = "reviewed"
        edited.append(orjson.dumps(data))
    refusal_file.write_bytes(b"\n".join(edited) + b"\n")
    untouched = [raw for raw in edited if b'"billing"' not in raw]
    # New traffic: the same refusal again, from another customer.
    more = PlantedLogs(root=tmp_path / "more")
    more.n = 500
    more.add(
        intent="billing",
        kind="unexpected_refusal",
        text="I'm sorry, but I can't help with that.",
        variables={"message": "I was charged twice for order 55, mail me at cy@example.net", "customer_name": "Cy"},
    )
    (tmp_path / "new.jsonl").write_bytes(b"\n".join(more.lines) + b"\n")
    report = harvest([tmp_path / "new.jsonl"], policy=policy_file, out=out, now=datetime(2024, 8, 1, tzinfo=UTC))
    assert report.plan.new_cases == []
    assert list(report.plan.updated.values()) == [(2, 3)]
    assert mine.read_bytes() == curated
    lines_after = refusal_file.read_bytes().splitlines()
    assert len(lines_after) == len(lines)
    assert [raw for raw in lines_after if b'"billing"' not in raw] == untouched
    billing = next(orjson.loads(raw) for raw in lines_after if b'"billing"' in raw)
    assert billing["expected"]["output"] == "reviewed"
    assert billing["metadata"]["harvest"]["occurrences"] == 3
    assert billing["metadata"]["harvest"]["updated_at"] == "2024-08-01T00:00:00Z"
    assert load_dataset(out).content_hash  # still one valid dataset, ids unique


def test_a_case_moved_into_another_file_is_not_written_again(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    verbose = out / "harvest-excessive_verbosity.jsonl"
    moved = orjson.loads(verbose.read_bytes().splitlines()[0])
    (out / "reviewed.json").write_bytes(orjson.dumps([moved]))
    verbose.unlink()
    report = harvest(logs, policy=policy_file, out=out, now=NOW)
    assert report.plan.empty
    assert not verbose.exists()
    assert len(load_dataset(out)) == sum(EXPECTED_CASES.values())


def test_cases_lost_after_the_ledger_was_written_are_written_again(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    (out / "harvest-outcome.jsonl").unlink()  # as if a run died between the ledger and the case files
    report = harvest(logs, policy=policy_file, out=out, now=NOW)
    assert [c.metadata["harvest"]["detector"] for c in report.plan.new_cases] == ["outcome", "outcome"]
    assert report.plan.new_occurrences == []
    restored = load_dataset(out / "harvest-outcome.jsonl")
    assert sorted(c.metadata["harvest"]["occurrences"] for c in restored) == [1, 1]


def test_dry_run_writes_nothing_and_shows_what_would_be_written(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rc"
    report = harvest(logs, policy=policy_file, out=out, dry_run=True, now=NOW)
    assert not out.exists()
    assert report.written == []
    assert len(report.cases) == sum(EXPECTED_CASES.values())
    text = report.to_text()
    assert "would write" in text and str(out / "harvest-outcome.jsonl") in text
    assert f"malformed: {MALFORMED_LINES} lines" in text


def test_since_skips_older_responses(planted: PlantedLogs, logs: list[Path], policy_file: Path, tmp_path: Path) -> None:
    report = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True, since="2024-06-15")
    assert report.before_since > 0
    assert all(f.timestamp >= "2024-06-15" for f in report.failures)
    assert report.in_scope + report.before_since == report.records - report.duplicates


def test_parquet_logs_give_the_same_failures_as_jsonl(
    planted: PlantedLogs, logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    rows = [
        {k: (orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v) for k, v in r.items()}
        for r in planted.records.values()
    ]
    columns = sorted({k for r in rows for k in r})
    table = pa.table({c: [r.get(c) for r in rows] for c in columns})
    pq.write_table(table, tmp_path / "responses.parquet")
    from_parquet = harvest(
        [tmp_path / "responses.parquet", logs[1]], policy=policy_file, out=tmp_path / "a", dry_run=True
    )
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(planted.lines) + b"\n")
    from_jsonl = harvest([clean, logs[1]], policy=policy_file, out=tmp_path / "b", dry_run=True)
    assert from_parquet.malformed_count == 0
    assert [(f.detector, f.request_id) for f in from_parquet.failures] == [
        (f.detector, f.request_id) for f in from_jsonl.failures
    ]


def test_a_directory_of_logs_is_read_file_by_file(logs: list[Path], policy_file: Path, tmp_path: Path) -> None:
    report = harvest([logs[0].parent], policy=policy_file, out=tmp_path / "rc", dry_run=True)
    assert report.by_detector == EXPECTED
    assert sorted(report.sources) == sorted(str(p) for p in logs)


def test_parallel_detection_finds_the_same_as_one_process(
    logs: list[Path], policy_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptlab.harvest import _harvest as module

    one = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True, now=NOW)
    monkeypatch.setattr(module, "PARALLEL_MIN", 1)
    two = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True, now=NOW)
    assert [(f.detector, f.request_id) for f in two.failures] == [(f.detector, f.request_id) for f in one.failures]
    assert [c.model_dump() for c in two.cases] == [c.model_dump() for c in one.cases]


def test_an_invalid_existing_case_file_stops_the_run_before_anything_is_written(
    logs: list[Path], policy_file: Path, tmp_path: Path
) -> None:
    from promptlab.errors import FileFormatError

    out = tmp_path / "rc"
    out.mkdir()
    (out / "harvest-outcome.jsonl").write_text('{"id": "x", "vars": 3}\n')
    with pytest.raises(FileFormatError, match=r"harvest-outcome\.jsonl: .*vars"):
        harvest(logs, policy=policy_file, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["harvest-outcome.jsonl"]


def test_the_ledger_counts_every_occurrence_once(logs: list[Path], policy_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    harvest(logs, policy=policy_file, out=out, now=NOW)
    rows = (out / LEDGER_NAME).read_text().splitlines()
    assert rows[0].split("\t") == [
        "case_id",
        "request_id",
        "detector",
        "version",
        "timestamp",
        "source",
        "harvested_at",
    ]
    assert len(rows) - 1 == sum(EXPECTED.values())


def test_copying_a_harvested_directory_keeps_it_valid(logs: list[Path], policy_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "rc"
    harvest(logs, policy=policy_file, out=out, now=NOW)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert harvest(logs, policy=policy_file, out=copy, now=NOW).plan.empty
