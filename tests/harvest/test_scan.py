"""The DuckDB scan against the Python reference on awkward records; sources, line numbers and offsets."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.errors import FileFormatError, InputError
from promptlab.harvest import harvest, load_harvest_policy
from promptlab.harvest._records import RESPONSE_KEYS
from promptlab.harvest._scan import _jsonl_batches, open_sources, scan
from tests.harvest.conftest import EXPECTED, POLICY, write_policy

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


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_parquet_columns_outside_the_format_leave_the_file_out_as_unreadable(tmp_path: Path, engine: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"request_id": ["r"], "colour": ["red"]}), tmp_path / "x.parquet")
    policy = load_harvest_policy(write_policy(tmp_path / "p", {"detectors": ["outcome"]}))
    result = scan(policy, open_sources([tmp_path / "x.parquet"]), engine=engine)
    assert [str(m) for m in result.unreadable] == [
        f"{tmp_path / 'x.parquet'}: unknown column 'colour' (expected record fields: " + ", ".join(RESPONSE_KEYS) + ")"
    ]
    assert result.records == 0 and result.per_source[str(tmp_path / "x.parquet")]["unreadable"] == 1


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


def _verbose_log(path: Path, n: int) -> Path:
    """`n` responses whose JSON output carries a ~10 KB multi-line reply (what the verbosity detector exists for)."""
    words = [f"w{j % 97}" for j in range(2500)]
    reply = "\n".join(" ".join(words[k : k + 12]) for k in range(0, 2500, 12))[:10240]
    with path.open("wb") as fh:
        for i in range(n):
            rec = {
                "request_id": f"r{i}",
                "timestamp": "2024-06-01T10:00:00Z",
                "prompt": "triage",
                "version": "v1",
                "segment": {"intent": "billing"},
                "vars": {"message": f"hi {i}"},
                "output": orjson.dumps({"category": "a", "reply": reply}).decode(),
            }
            fh.write(orjson.dumps(rec) + b"\n")
    return path


VERBOSE_POLICY = {"detectors": [{"excessive_verbosity": {"factor": 3, "field": "reply", "min_group": 5}}]}


def test_two_thousand_ten_kb_replies_harvest_with_duckdb_without_running_out_of_memory(tmp_path: Path) -> None:
    # With the old fixed memory_limit='500MB' this log crashed with an OutOfMemoryException traceback.
    log = _verbose_log(tmp_path / "verbose.jsonl", 2000)
    policy = write_policy(tmp_path / "p", VERBOSE_POLICY)
    report = harvest([log], policy=policy, out=tmp_path / "rc", dry_run=True)
    assert (report.engine, report.fallback) == ("duckdb", None)
    assert report.records == 2000 and report.malformed_count == 0


def test_an_engine_out_of_memory_falls_back_to_the_python_scan_with_the_same_result(tmp_path: Path) -> None:
    log = _verbose_log(tmp_path / "verbose.jsonl", 300)
    with log.open("ab") as fh:  # one reply far above its group's usual length: a failure both engines find
        fh.write(
            orjson.dumps(
                {
                    "request_id": "long",
                    "timestamp": "2024-06-02T10:00:00Z",
                    "prompt": "triage",
                    "version": "v1",
                    "segment": {"intent": "billing"},
                    "vars": {"message": "long"},
                    "output": orjson.dumps({"reply": "word " * 9000}).decode(),
                }
            )
            + b"\n"
        )
    policy = write_policy(tmp_path / "p", VERBOSE_POLICY)
    starved = harvest([log], policy=policy, out=tmp_path / "rc", dry_run=True, memory_limit=8 * 1024 * 1024)
    reference = harvest([log], policy=policy, out=tmp_path / "rc", dry_run=True, engine="python")
    assert starved.engine == "python" and starved.fallback is not None
    assert "Out of Memory" in starved.fallback and "\n" not in starved.fallback
    assert f"note: {starved.fallback}; scanned with the Python engine instead" in starved.to_text()
    assert [f.request_id for f in starved.failures] == [f.request_id for f in reference.failures] == ["long"]
    assert starved.records == reference.records == 301


def _corrupt_parquet(path: Path) -> Path:
    """A Parquet file whose footer is intact (its schema reads fine) but whose pages are garbage."""
    import struct

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 50
    pq.write_table(
        pa.table(
            {
                "request_id": [f"pq{i}" for i in range(n)],
                "timestamp": ["2024-06-01T00:00:00Z"] * n,
                "prompt": ["triage"] * n,
                "version": ["v1"] * n,
                "vars": ['{"message": "hi"}'] * n,
                "output": ["I must decline"] * n,
            }
        ),
        path,
    )
    data = bytearray(path.read_bytes())
    footer = struct.unpack("<I", data[-8:-4])[0]
    for i in range(4, len(data) - 8 - footer):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_corrupt_or_foreign_parquet_files_are_reported_and_the_other_files_still_harvested(
    tmp_path: Path, logs: list[Path], policy_file: Path, engine: Any
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = logs[0].parent
    _corrupt_parquet(folder / "corrupt.parquet")
    (folder / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (folder / "part=2").mkdir()
    pq.write_table(pa.table({"id": [1], "text": ["hello"]}), folder / "part=2" / "other.parquet")
    clean = harvest(logs, policy=policy_file, out=tmp_path / "rc", dry_run=True, engine=engine)
    report = harvest([folder], policy=policy_file, out=tmp_path / "rc", dry_run=True, engine=engine)
    assert report.by_detector == clean.by_detector == EXPECTED
    assert report.records == clean.records and report.malformed_count == clean.malformed_count
    bad = {Path(m.source).name: m.message for m in report.unreadable}
    assert set(bad) == {"corrupt.parquet", "garbage.parquet", "other.parquet"}
    assert all("\n" not in m for m in bad.values())
    assert bad["other.parquet"].startswith("unknown column 'id'")
    problem = report.problem()
    assert problem is not None and problem[0] == 3 and "3 input files were unreadable" in problem[1]


def test_segment_dimensions_and_fields_with_quotes_newlines_or_nothing_are_read_not_interpolated(
    tmp_path: Path,
) -> None:
    odd = ["", 'a"b', "a\nb", "x'); DROP TABLE recs; --", "a/b~c"]
    log = tmp_path / "odd.jsonl"
    lines = []
    for i in range(30):
        reply = "short answer" if i else "word " * 400
        rec = {
            "request_id": f"r{i}",
            "timestamp": "2024-06-01T10:00:00Z",
            "prompt": "triage",
            "version": "v1",
            "segment": {d: f"v{k}" for k, d in enumerate(odd)},
            "vars": {"message": "hi"},
            "output": orjson.dumps({odd[1]: reply}).decode(),
        }
        lines.append(orjson.dumps(rec))
    log.write_bytes(b"\n".join(lines) + b"\n")
    policy = {
        "intent_dimension": odd[2],
        "detectors": [{"excessive_verbosity": {"factor": 3, "field": odd[1], "by": odd, "min_group": 5}}],
    }
    path = write_policy(tmp_path / "p", policy)
    found = {
        engine: harvest([log], policy=path, out=tmp_path / "rc", dry_run=True, engine=engine)  # type: ignore[arg-type]
        for engine in ("duckdb", "python")
    }
    assert [f.request_id for f in found["duckdb"].failures] == [f.request_id for f in found["python"].failures]
    assert [f.request_id for f in found["duckdb"].failures] == ["r0"]
