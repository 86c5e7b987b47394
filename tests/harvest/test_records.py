"""The log record format: the pydantic models, the shipped JSON Schema, and the DuckDB scan agreeing with both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.harvest import LogRecord, OutcomeRecord, RecordError, harvest, log_record_schema, parse_line
from promptlab.harvest._records import Outcome

BASE: dict[str, Any] = {
    "request_id": "r1",
    "timestamp": "2024-06-12T09:30:00.250+02:00",
    "prompt": "triage",
    "version": "v1",
    "segment": {"intent": "refund", "geo": "DE"},
    "vars": {"message": "hi", "n": [1, {"x": None}]},
    "output": '{"category": "refund", "priority": "normal", "reply": "ok"}',
    "tool_calls": [
        {"id": "c1", "name": "lookup_order", "arguments": {"order_id": "A-1"}, "result": {"s": 1}, "error": None}
    ],
    "latency_ms": 12,
    "usage": {"input_tokens": 10, "output_tokens": 0},
    "model": "m",
    "outcome": {"escalation": False, "user_feedback": "neutral", "manual_correction": None},
    "metadata": {"anything": [1, 2]},
}
OUTCOME: dict[str, Any] = {
    "type": "outcome",
    "request_id": "r1",
    "timestamp": "2024-06-12T10:00:00Z",
    "escalation": True,
}


def with_(**changes: Any) -> dict[str, Any]:
    data = dict(BASE)
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


DROP = object()

VALID: list[Any] = [
    BASE,
    with_(type="response"),
    with_(vars=DROP, messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]),
    with_(segment=DROP, tool_calls=DROP, metadata=DROP, outcome=None, usage=None, model=None, latency_ms=None),
    with_(output=None),
    with_(latency_ms=0.5, timestamp="2024-02-29T23:59:59Z"),
    with_(tool_calls=[{"name": "t"}, {"name": "u", "arguments": "raw text", "error": "boom", "id": None}]),
    with_(usage={"output_tokens": 5, "input_tokens": 10**12}),
    with_(segment={}),
    with_(vars={"note": 'NaN, -Infinity and \\"quotes\\" are text here'}),
    with_(outcome={"fallback": True, "feedback_comment": "meh", "user_feedback": None}),
    OUTCOME,
    {"type": "outcome", "request_id": "r2"},
    {**OUTCOME, "timestamp": None, "manual_correction": "fixed", "user_feedback": "negative", "metadata": {}},
]

INVALID: list[Any] = [
    with_(request_id=DROP),
    with_(request_id=""),
    with_(request_id=7),
    with_(timestamp=DROP),
    with_(timestamp="2024-06-12T09:30:00"),
    with_(timestamp="2024-06-12 09:30:00Z"),
    with_(timestamp="2024-02-30T09:30:00Z"),
    with_(timestamp="2024-06-12T24:00:00Z"),
    with_(timestamp="2024-06-12T09:30:00.1234567Z"),
    with_(timestamp="0000-01-01T00:00:00Z"),
    with_(timestamp="2024-06-12T09:30:00+24:00"),
    with_(timestamp=1718184600),
    with_(prompt=DROP),
    with_(version=2),
    with_(type="request"),
    with_(type=None),
    with_(segment=None),
    with_(segment={"intent": 3}),
    with_(segment={"intent": None}),
    with_(segment=["refund"]),
    with_(vars=None),
    with_(vars=DROP),
    with_(vars="hi"),
    with_(vars=DROP, messages=[{"role": "robot", "content": "hi"}]),
    with_(vars=DROP, messages=[{"role": "user", "content": 3}]),
    with_(vars=DROP, messages=[{"role": "user", "text": "hi"}]),
    with_(vars=DROP, messages=[None]),
    with_(messages={"role": "user"}),
    with_(output=42),
    with_(output={"category": "refund"}),
    with_(tool_calls=None),
    with_(tool_calls={"name": "t"}),
    with_(tool_calls=[{"arguments": {}}]),
    with_(tool_calls=[{"name": ""}]),
    with_(tool_calls=[{"name": None}]),
    with_(tool_calls=[{"name": 3}]),
    with_(tool_calls=[{"name": "t", "id": 3}]),
    with_(tool_calls=[{"name": "t", "error": {"code": 1}}]),
    with_(tool_calls=[{"name": "t", "extra": 1}]),
    with_(tool_calls=["t"]),
    with_(tool_calls=[None]),
    with_(latency_ms="12"),
    with_(latency_ms=-1),
    with_(latency_ms=True),
    with_(usage={"input_tokens": 1}),
    with_(usage={"input_tokens": 1.0, "output_tokens": 2}),
    with_(usage={"input_tokens": -1, "output_tokens": 2}),
    with_(usage={"input_tokens": 10**12 + 1, "output_tokens": 2}),
    with_(usage={"input_tokens": True, "output_tokens": 2}),
    with_(usage={"input_tokens": 1, "output_tokens": 2, "total": 3}),
    with_(usage=[1, 2]),
    with_(model=3),
    with_(outcome={"escalation": None}),
    with_(outcome={"escalation": "yes"}),
    with_(outcome={"user_feedback": "great"}),
    with_(outcome={"manual_correction": 3}),
    with_(outcome={"handled": True}),
    with_(outcome=True),
    with_(metadata=None),
    with_(metadata="x"),
    with_(unknown="x"),
    {**OUTCOME, "request_id": DROP},
    {k: v for k, v in OUTCOME.items() if k != "request_id"},
    {**OUTCOME, "escalation": None},
    {**OUTCOME, "output": "x"},
    {**OUTCOME, "timestamp": "noon"},
    {**OUTCOME, "user_feedback": "meh"},
    {"type": "outcome"},
    {},
    [],
    "text",
    3,
    None,
]

RAW_INVALID = [
    b"{not json",
    b'{"request_id": "r1", "request_id": "r2", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", '
    b'"vars": {}}',
    b'{"request_id": "r1", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", "vars": {}, '
    b'"latency_ms": NaN}',
    b'{"request_id": "r\xff", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", "vars": {}}',
    b'{"request_id": "r1", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", "vars": {}} trailing',
    b'{"request_id": "r1", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", "vars": {"x": NaN}}',
    b'{"request_id": "r1", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", "vars": {}, '
    b'"metadata": {"y": [1, -Infinity]}}',
]


def lines() -> list[bytes]:
    out = [
        orjson.dumps({k: v for k, v in r.items() if v is not DROP}) if isinstance(r, dict) else orjson.dumps(r)
        for r in VALID
    ]
    out += [
        orjson.dumps({k: v for k, v in r.items() if v is not DROP}) if isinstance(r, dict) else orjson.dumps(r)
        for r in INVALID
    ]
    return out + RAW_INVALID


@pytest.mark.parametrize("line", lines()[: len(VALID)])
def test_valid_records_parse(line: bytes) -> None:
    assert isinstance(parse_line(line), (LogRecord, OutcomeRecord))


@pytest.mark.parametrize("line", lines()[len(VALID) :])
def test_invalid_records_raise_one_line_errors(line: bytes) -> None:
    with pytest.raises(RecordError) as exc:
        parse_line(line)
    assert "\n" not in str(exc.value) and str(exc.value)


def test_the_duckdb_scan_and_the_models_reject_exactly_the_same_lines(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    all_lines = lines()
    log.write_bytes(b"\n".join(all_lines) + b"\n")
    policy = {"detectors": ["outcome"]}
    duck = harvest([log], policy=_policy(tmp_path, policy), out=tmp_path / "rc", dry_run=True)
    ref = harvest([log], policy=_policy(tmp_path, policy), out=tmp_path / "rc", dry_run=True, engine="python")
    expected = list(range(len(VALID) + 1, len(all_lines) + 1))
    assert [m.line for m in ref.malformed] == expected
    assert [m.line for m in duck.malformed] == expected
    assert [m.message for m in duck.malformed] == [m.message for m in ref.malformed]
    assert duck.records == ref.records == len(VALID) - 3
    assert duck.outcome_records == ref.outcome_records == 3


def _policy(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    return path


def test_error_messages_name_the_field_and_the_expectation() -> None:
    with pytest.raises(RecordError, match=r"^tool_calls\[0\]\.name: input should be a valid string, got 3$"):
        parse_line(orjson.dumps(with_(tool_calls=[{"name": 3}])))
    with pytest.raises(RecordError, match=r"^timestamp: expected an RFC 3339 timestamp with an offset"):
        parse_line(orjson.dumps(with_(timestamp="2024-06-12")))
    with pytest.raises(RecordError, match=r"^duplicate key 'a'$"):
        parse_line(b'{"a": 1, "a": 2}')
    with pytest.raises(RecordError, match=r"^expected a JSON object \(one record per line\), got list$"):
        parse_line(b"[]")
    with pytest.raises(RecordError, match=r"expected `vars` or `messages`"):
        parse_line(orjson.dumps(with_(vars=DROP)))


def test_duplicate_keys_inside_values_keep_the_last_one() -> None:
    record = parse_line(
        b'{"request_id": "r", "timestamp": "2024-06-12T09:30:00Z", "prompt": "p", "version": "v", '
        b'"vars": {"x": 1, "x": 2}}'
    )
    assert isinstance(record, LogRecord)
    assert record.vars == {"x": 2}


def test_outcomes_merge_flags_and_keep_the_latest_texts() -> None:
    first = Outcome(escalation=True, manual_correction="a", user_feedback="negative")
    merged = first.merge(Outcome(fallback=True, manual_correction="b"))
    assert merged == Outcome(fallback=True, escalation=True, manual_correction="b", user_feedback="negative")


def test_the_shipped_json_schema_is_current() -> None:
    from promptlab.harvest import _records as records

    shipped = Path(records.__file__).with_name("log_record.schema.json")
    assert json.loads(shipped.read_text()) == log_record_schema()


def test_the_json_schema_accepts_the_valid_examples_and_rejects_unknown_keys() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(log_record_schema())
    for record in VALID:
        assert validator.is_valid({k: v for k, v in record.items() if v is not DROP}), record
    assert not validator.is_valid(with_(unknown="x"))
    assert not validator.is_valid(with_(request_id=DROP))
