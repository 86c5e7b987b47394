"""OpenTelemetry GenAI spans (OTLP JSON) read as log records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from promptlab.harvest import harvest, parse_record
from promptlab.harvest._otlp import read_otlp
from tests.harvest.conftest import POLICY, write_policy

START = 1_718_184_600_000_000_000  # 2024-06-12T09:30:00Z


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    if isinstance(value, dict):
        kv = [{"key": k, "value": {"stringValue": v}} for k, v in value.items()]
        return {"key": key, "value": {"kvlistValue": {"values": kv}}}
    return {"key": key, "value": {"stringValue": value}}


def span(trace: str, span_id: str, name: str, attrs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(extra.pop("start", START)),
        "endTimeUnixNano": str(extra.pop("end", START + 800_000_000)),
        "attributes": attrs,
        **extra,
    }


def export(spans: list[dict[str, Any]], resource: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": resource or []}, "scopeSpans": [{"spans": spans}]}]}


PROMPT = [attr("promptlab.prompt.name", "triage"), attr("promptlab.prompt.version", "v2")]


def chat_span(trace: str, *, output: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "where is A-1?"}]}]
    outputs = [{"role": "assistant", "parts": [{"type": "text", "content": output}], "finish_reason": "stop"}]
    return span(
        trace,
        "s1",
        "chat gpt-4o-mini",
        [
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.request.model", "gpt-4o-mini"),
            attr("gen_ai.usage.input_tokens", 120),
            attr("gen_ai.usage.output_tokens", 30),
            attr("gen_ai.input.messages", orjson.dumps(messages).decode()),
            attr("gen_ai.output.messages", orjson.dumps(outputs).decode()),
            *(extra or []),
        ],
    )


def tool_span(trace: str, *, error: bool = False) -> dict[str, Any]:
    attrs = [
        attr("gen_ai.operation.name", "execute_tool"),
        attr("gen_ai.tool.name", "lookup_order"),
        attr("gen_ai.tool.call.id", "call_1"),
        attr("gen_ai.tool.call.arguments", '{"order_id": "A-1"}'),
    ]
    status: dict[str, Any] = {"code": 2, "message": "timeout"} if error else {}
    if not error:
        attrs.append(attr("gen_ai.tool.call.result", '{"tracking": "TR12345678"}'))
    return span(trace, "s2", "execute_tool lookup_order", attrs, start=START + 100, end=START + 200, status=status)


def test_a_chat_trace_with_a_tool_span_becomes_one_response_record(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    segment = [attr("promptlab.segment.intent", "order_status"), attr("promptlab.request_id", "req-9")]
    path.write_bytes(orjson.dumps(export([chat_span("a1", output="ok", extra=segment), tool_span("a1")], PROMPT)))
    result = read_otlp(path, jsonl=False)
    assert result.problems == []
    record = parse_record(result.records[0])
    assert record.request_id == "req-9"
    assert record.prompt == "triage" and record.version == "v2"
    assert record.timestamp == "2024-06-12T09:30:00Z"
    assert record.latency_ms == 800.0
    assert record.segment == {"intent": "order_status"}
    assert record.messages is not None and record.messages[0].content == "where is A-1?"
    assert record.output == "ok"
    assert record.usage is not None and (record.usage.input_tokens, record.usage.output_tokens) == (120, 30)
    assert record.model == "gpt-4o-mini"
    [call] = record.tool_calls
    assert (call.name, call.id, call.arguments, call.result, call.error) == (
        "lookup_order",
        "call_1",
        {"order_id": "A-1"},
        {"tracking": "TR12345678"},
        None,
    )


def test_failed_tool_spans_carry_their_error_and_vars_come_from_an_attribute(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    chat = chat_span("b1", output="ok", extra=[attr("promptlab.vars", {"message": "where is A-1?"})])
    path.write_bytes(orjson.dumps(export([chat, tool_span("b1", error=True)], PROMPT)))
    record = parse_record(read_otlp(path, jsonl=False).records[0])
    assert record.tool_calls[0].error == "timeout"
    assert record.vars == {"message": "where is A-1?"}
    assert record.request_id == "b1"


def test_older_conventions_with_content_on_events_are_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    events = [
        {"name": "gen_ai.system.message", "attributes": [attr("content", "be brief")]},
        {"name": "gen_ai.user.message", "attributes": [attr("content", "hello")]},
        {"name": "gen_ai.choice", "attributes": [attr("message", '{"role": "assistant", "content": "hi there"}')]},
    ]
    legacy = span("c1", "s1", "chat m", [attr("gen_ai.operation.name", "chat"), *PROMPT], events=events)
    flat = span(
        "c2",
        "s1",
        "chat m",
        [
            attr("gen_ai.operation.name", "chat"),
            *PROMPT,
            attr("gen_ai.prompt.0.role", "user"),
            attr("gen_ai.prompt.0.content", "flat hello"),
            attr("gen_ai.completion.0.content", "flat answer"),
        ],
    )
    path.write_bytes(orjson.dumps(export([legacy])) + b"\n" + orjson.dumps(export([flat])) + b"\n")
    records = [parse_record(r) for r in read_otlp(path, jsonl=True).records]
    assert [m.content for m in records[0].messages or []] == ["be brief", "hello"]
    assert records[0].output == "hi there"
    assert [m.content for m in records[1].messages or []] == ["flat hello"]
    assert records[1].output == "flat answer"


def test_tool_calls_without_tool_spans_come_from_message_parts(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    call = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "x1", "name": "lookup_order", "arguments": {"order_id": "A"}}],
        }
    ]
    answer = [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "x1", "response": {"status": "shipped"}}]}
    ]
    question = [{"role": "user", "parts": [{"type": "text", "content": "status of A?"}]}]
    first = span(
        "d1",
        "s1",
        "chat m",
        [
            attr("gen_ai.operation.name", "chat"),
            *PROMPT,
            attr("gen_ai.input.messages", orjson.dumps(question).decode()),
            attr("gen_ai.output.messages", orjson.dumps(call).decode()),
        ],
    )
    second = span(
        "d1",
        "s2",
        "chat m",
        [
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.input.messages", orjson.dumps(answer).decode()),
            attr(
                "gen_ai.output.messages",
                orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "shipped"}]}]).decode(),
            ),
        ],
        start=START + 1000,
    )
    path.write_bytes(orjson.dumps(export([first, second])))
    record = parse_record(read_otlp(path, jsonl=False).records[0])
    assert [(c.name, c.arguments, c.result) for c in record.tool_calls] == [
        ("lookup_order", {"order_id": "A"}, {"status": "shipped"})
    ]
    assert record.output == "shipped"


def test_traces_that_cannot_be_mapped_are_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    no_version = span(
        "e1", "s1", "chat m", [attr("gen_ai.operation.name", "chat"), attr("promptlab.prompt.name", "triage")]
    )
    no_genai = span("e2", "s1", "GET /health", [])
    good = chat_span("e3", output="fine", extra=[*PROMPT])
    path.write_bytes(orjson.dumps(export([no_version, no_genai, good])))
    result = read_otlp(path, jsonl=False)
    assert [r["request_id"] for r in result.records] == ["e3"]
    assert result.problems == [
        (None, "trace e1: missing attribute promptlab.prompt.version (expected on a span or the resource)")
    ]
    assert result.spans == 3


def test_otlp_files_harvest_like_jsonl_and_their_problems_are_reported(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path / "p", {**POLICY, "detectors": [{"unexpected_refusal": {"should_refuse": ["legal"]}}]}
    )
    path = tmp_path / "traces.json"
    refusal = chat_span(
        "f1", output="I'm sorry, but I can't help with that.", extra=[attr("promptlab.segment.intent", "billing")]
    )
    path.write_bytes(
        orjson.dumps(export([refusal, span("f2", "s1", "chat m", [attr("gen_ai.operation.name", "chat")])], PROMPT))
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceSpans": [\n  {"scopeSpans": oops}\n]}')
    duck = harvest([path, broken], policy=policy, out=tmp_path / "rc", dry_run=True)
    ref = harvest([path, broken], policy=policy, out=tmp_path / "rc", dry_run=True, engine="python")
    for report in (duck, ref):
        assert [(f.detector, f.request_id) for f in report.failures] == [("unexpected_refusal", "f1")]
        assert report.malformed_count == 2
        assert [str(m) for m in report.malformed] == [
            f"{broken}:2: malformed JSON: unexpected character, expected a JSON value",
            f"{path}: trace f2: no input: neither a promptlab.vars attribute nor captured input messages "
            "(gen_ai.input.messages or message events; content capture may be off)",
        ]


def test_the_example_traces_are_read() -> None:
    result = read_otlp(Path("examples/support-triage/production/logs/traces.otlp.json"), jsonl=False)
    assert len(result.records) == 39
    assert len(result.problems) == 1 and "promptlab.prompt.version" in result.problems[0][1]
    for record in result.records:
        parse_record(record)


def test_otlp_values_of_the_wrong_shape_are_reported_per_trace_and_the_good_trace_is_kept(tmp_path: Path) -> None:
    import json

    good_attrs = [
        attr("promptlab.prompt.name", "triage"),
        attr("promptlab.prompt.version", "v1"),
        attr("gen_ai.operation.name", "chat"),
        attr("promptlab.vars", '{"message": "hi"}'),
    ]
    good = span("t0", "s0", "chat", good_attrs)
    listed_status = {**span("t1", "s1", "chat", good_attrs), "status": [{"name": "x"}]}
    huge_usage = span(
        "t2", "s2", "chat", [*good_attrs, {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(10**30)}}]
    )
    far_future = {**span("t3", "s3", "chat", good_attrs), "startTimeUnixNano": str(10**30)}
    doc = {"resourceSpans": [{"resource": None, "scopeSpans": [{"spans": [good, huge_usage, far_future]}]},
                             {"resource": [], "scopeSpans": [{"spans": [listed_status]}]}]}  # fmt: skip
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(doc))
    records = read_otlp(path, jsonl=False)
    assert [r["request_id"] for r in records.records] == ["t0"]
    assert len(records.problems) == 3 and all("\n" not in message for _, message in records.problems)
