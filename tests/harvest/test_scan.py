"""The DuckDB scan against the Python reference on awkward records; sources, line numbers and offsets."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.errors import FileFormatError, InputError
from promptlab.harvest import harvest, load_policy
from promptlab.harvest._scan import _jsonl_batches, open_sources, scan
from tests.harvest.conftest import POLICY, write_policy

SPACES = [" ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u3000", " \u2028 ", "\r\n"]
WORDS = ["fine", "thanks", "order", "TR12345678", "TR00000001", "2024-06-01", "naïve", "straße", "I'm", "can't"]
REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t help with that.",
    "I am unable to assist",
    "I must decline",
    "As an AI I cannot",
]


def text(rng: random.Random, n: int) -> str:
    out = rng.choice(["", " ", "\n"])
    for _ in range(n):
        out += rng.choice(WORDS) + rng.choice(SPACES)
    return out


def output(rng: random.Random) -> str | None:
    kind = rng.random()
    reply = text(rng, rng.randint(0, 30))
    if rng.random() < 0.15:
        reply += rng.choice(REFUSALS)
    body = {"category": rng.choice(["a", "b"]), "reply": reply}
    if rng.random() < 0.1:
        body["extra"] = "x"
    if rng.random() < 0.1:
        body = {"reply": 3, "note": reply}
    if kind < 0.1:
        return None
    if kind < 0.3:
        return reply
    if kind < 0.4:
        return "```json\n" + orjson.dumps(body).decode() + "\n```" + rng.choice(["", "\u00a0"])
    if kind < 0.45:
        return "\u00a0" + orjson.dumps(body).decode()
    if kind < 0.5:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
    if kind < 0.55:
        return orjson.dumps(body).decode().replace("'", "\\u0027")
    return orjson.dumps(body).decode()


def record(rng: random.Random, i: int) -> dict[str, Any]:
    calls = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        call: dict[str, Any] = {"name": rng.choice(["lookup_order", "lookup_order", "issue_refund"])}
        call["arguments"] = {"order_id": rng.choice(["A", "B"])}
        if rng.random() < 0.3:
            call["error"] = "timeout"
        else:
            call["result"] = {"tracking": rng.choice(["TR12345678", "TR00000001"])}
        calls.append(call)
    rec: dict[str, Any] = {
        "request_id": f"q{i}",
        "timestamp": f"2024-06-{1 + i % 28:02d}T{i % 24:02d}:00:00+02:00",
        "prompt": "triage",
        "version": rng.choice(["v1", "v2", "v3"]),
        "segment": {"intent": rng.choice(["order_status", "billing", "legal", "other"])},
        "output": output(rng),
        "tool_calls": calls,
    }
    if rng.random() < 0.2:
        rec["messages"] = [{"role": "user", "content": text(rng, 3)}]
    else:
        rec["vars"] = {"message": text(rng, 4), "order_id": rng.choice(["", "A"])}
    if rng.random() < 0.1:
        rec["outcome"] = {"escalation": True}
    return rec


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_duckdb_scan_finds_what_the_python_reference_finds_on_awkward_records(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    log = tmp_path / "log.jsonl"
    records = [record(rng, i) for i in range(400)]
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    policy = {**POLICY, "detectors": [*POLICY["detectors"][:4], {"outcome": {"signals": ["escalation", "fallback"]}}]}
    policy["detectors"][0] = {"unexpected_refusal": {"should_refuse": ["legal"]}}
    policy["detectors"][3] = {"excessive_verbosity": {"factor": 1.5, "min_group": 3, "field": "reply"}}
    path = write_policy(tmp_path / "p", policy)
    duck = harvest([log], policy=path, out=tmp_path / "rc", dry_run=True)
    ref = harvest([log], policy=path, out=tmp_path / "rc", dry_run=True, engine="python")
    assert duck.malformed_count == ref.malformed_count == 0
    assert [(f.detector, f.request_id, f.reason) for f in duck.failures] == [
        (f.detector, f.request_id, f.reason) for f in ref.failures
    ]
    assert all(n > 0 for n in duck.by_detector.values()), duck.by_detector


def test_lines_are_numbered_like_an_editor_and_offsets_point_at_them(tmp_path: Path) -> None:
    import duckdb  # noqa: F401  (the scan needs it)

    from promptlab.harvest import _scan as module

    content = b'{"a": 1}\r\n\n  \n\xff\xfe\n{"b": 2}'
    log = tmp_path / "x.jsonl"
    log.write_bytes(content)
    old = module.CHUNK_BYTES
    try:
        module.CHUNK_BYTES = 7
        rows = [
            (n, off, raw)
            for batch in _jsonl_batches(log)
            for n, off, raw in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True)
        ]
    finally:
        module.CHUNK_BYTES = old
    assert [(n, off) for n, off, _ in rows] == [(1, 0), (2, 10), (3, 11), (4, 14), (5, 17)]
    assert all(content[off : off + len(raw)] == raw for _, off, raw in rows)


def test_blank_lines_are_skipped_and_undecodable_lines_are_malformed(tmp_path: Path) -> None:
    log = tmp_path / "x.jsonl"
    good = orjson.dumps(
        {"request_id": "r", "timestamp": "2024-06-01T00:00:00Z", "prompt": "triage", "version": "v1", "vars": {}}
    )
    log.write_bytes(b"\n   \n" + good + b'\n{"request_id": "\xff"}\n\t\n')
    path = write_policy(tmp_path / "p", {"detectors": ["outcome"]})
    for engine in ("duckdb", "python"):
        report = harvest([log], policy=path, out=tmp_path / "rc", dry_run=True, engine=engine)  # type: ignore[arg-type]
        assert report.records == 1
        assert [(m.line, m.message.split(":")[0]) for m in report.malformed] == [(4, "malformed JSON")]


def test_log_paths_are_checked_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no log files given"):
        open_sources([])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError, match=r"empty: no log files in this directory"):
        open_sources([empty])
    otlp = tmp_path / "spans.jsonl"
    otlp.write_text('{"resourceSpans": []}\n')
    assert [s.format for s in open_sources([otlp])] == ["otlp"]


def test_parquet_columns_outside_the_format_are_a_one_line_error(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"request_id": ["r"], "colour": ["red"]}), tmp_path / "x.parquet")
    policy = load_policy(write_policy(tmp_path / "p", {"detectors": ["outcome"]}))
    with pytest.raises(FileFormatError, match=r"x\.parquet: unknown column 'colour'"):
        scan(policy, open_sources([tmp_path / "x.parquet"]))


def test_parquet_with_native_nested_columns_and_timestamps_is_read(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "request_id": ["p1", "p2"],
            "timestamp": pa.array(
                [dt.datetime(2024, 6, 1, 8, 0, tzinfo=dt.UTC), dt.datetime(2024, 6, 2, 8, 0, tzinfo=dt.UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "prompt": ["triage", "triage"],
            "version": ["v1", "v1"],
            "segment": [{"intent": "billing"}, {"intent": "legal"}],
            "vars": ['{"message": "hi"}', '{"message": "yo"}'],
            "output": ["I must decline", "I must decline"],
            "usage": [{"input_tokens": 1, "output_tokens": 2}, None],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    path = write_policy(tmp_path / "p", {"detectors": [{"unexpected_refusal": {"should_refuse": ["legal"]}}]})
    for engine in ("duckdb", "python"):
        report = harvest([tmp_path / "x.parquet"], policy=path, out=tmp_path / "rc", dry_run=True, engine=engine)  # type: ignore[arg-type]
        assert report.malformed_count == 0, report.malformed
        assert [(f.request_id, f.timestamp) for f in report.failures] == [("p1", "2024-06-01T08:00:00.000000Z")]
