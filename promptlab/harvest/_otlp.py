"""OpenTelemetry GenAI spans (OTLP JSON) mapped to log records.

Input: an OTLP/JSON `ExportTraceServiceRequest` (`{"resourceSpans": [{"resource": ..., "scopeSpans": [{"spans":
[...]}]}]}`) as a `.json` file, or one request per line as the OpenTelemetry Collector's file exporter writes.

Each trace holding at least one inference span (`gen_ai.operation.name` = chat, text_completion or
generate_content) becomes one response record:

- `request_id`: attribute `promptlab.request_id`, else the trace id.
- `prompt` / `version`: attributes `promptlab.prompt.name` / `promptlab.prompt.version` (required; on any span
  of the trace or on the resource). `segment`: every `promptlab.segment.<dimension>` attribute.
  `vars`: `promptlab.vars` (a JSON object, as text or as a key-value list).
- `timestamp` / `latency_ms`: the earliest GenAI span start, and the span of time the GenAI spans cover.
- `model`: `gen_ai.response.model`, else `gen_ai.request.model` of the last inference span.
- `usage`: `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens` summed over the inference spans.
- `messages` (input) and `output`: `gen_ai.input.messages` / `gen_ai.output.messages` (semantic conventions
  1.37+, JSON text or structured, on the span or on a `gen_ai.client.inference.operation.details` event);
  older conventions are read too: `gen_ai.system.message` / `gen_ai.user.message` / `gen_ai.assistant.message`
  / `gen_ai.tool.message` and `gen_ai.choice` events, `gen_ai.content.prompt` / `gen_ai.content.completion`
  events (`gen_ai.prompt` / `gen_ai.completion`), and flattened `gen_ai.prompt.<i>.role/content`,
  `gen_ai.completion.<i>.content` attributes.
- `tool_calls`: `execute_tool` spans in start order (`gen_ai.tool.name`, `gen_ai.tool.call.id`,
  `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`; an ERROR status or `error.type` is the error); without
  such spans, the `tool_call` parts of the output messages, answered by `tool_call_response` parts.
- `outcome`: attributes `promptlab.outcome.escalation`, `.fallback`, `.manual_correction`, `.user_feedback`.

A trace that cannot be mapped (for instance without `promptlab.prompt.version`) is reported like a malformed line,
with its trace id; the rest of the file is still read.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["OtlpRecords", "is_otlp_line", "read_otlp"]

INFERENCE = {"chat", "text_completion", "generate_content"}
ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


@dataclass(kw_only=True)
class OtlpRecords:
    """Records mapped from one OTLP file, with a label per record and the problems met."""

    records: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    """Where each record came from (`trace <id>`)."""
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    """(line or None, one-line message) for what could not be read or mapped."""
    spans: int = 0


def is_otlp_line(line: bytes) -> bool:
    """Whether a JSONL line looks like an OTLP export request (checked on a file's first line)."""
    return line.lstrip().startswith(b'{"resourceSpans"') or b'"resourceSpans"' in line[:200]


@dataclass(kw_only=True)
class _Span:
    trace_id: str
    span_id: str
    name: str
    start: int
    end: int
    attrs: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status_code: int
    status_message: str
    resource: dict[str, Any]

    @property
    def operation(self) -> str | None:
        op = self.attrs.get("gen_ai.operation.name")
        if isinstance(op, str):
            return op
        if self.name.startswith("execute_tool"):
            return "execute_tool"
        return None


def read_otlp(path: Path, *, jsonl: bool) -> OtlpRecords:
    """Map every GenAI trace in an OTLP JSON file (or JSON-lines file) to a response record."""
    out = OtlpRecords()
    spans: list[_Span] = []
    for line, doc in _documents(path, jsonl, out):
        try:
            spans += list(_spans(doc, line, out))
        except _Bad as exc:
            out.problems.append((line, f"not an OTLP trace export: {exc}"))
        except _SHAPE_ERRORS as exc:  # a value of the wrong shape somewhere in a hostile or broken export
            out.problems.append((line, f"not an OTLP trace export: {_shape(exc)}"))
    out.spans = len(spans)
    traces: dict[str, list[_Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    for trace_id, members in traces.items():
        try:
            record = _record(trace_id, members)
            if record is not None:
                orjson.dumps(record)  # numbers beyond 64 bits cannot travel as a log record
        except _Bad as exc:
            out.problems.append((None, f"trace {trace_id}: {exc}"))
            continue
        except _SHAPE_ERRORS as exc:
            out.problems.append((None, f"trace {trace_id}: unexpected attribute values ({_shape(exc)})"))
            continue
        if record is not None:
            out.records.append(record)
            out.labels.append(f"trace {trace_id}")
    return out


class _Bad(ValueError):
    pass


# What mapping an export of the wrong shape raises (an object where a list belongs, text where a number does, a
# year outside the calendar ...): one bad trace is reported, the others are still read.
_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)


def _shape(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _documents(path: Path, jsonl: bool, out: OtlpRecords) -> Iterator[tuple[int | None, Any]]:
    data = path.read_bytes()
    if not jsonl:
        try:
            yield None, orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            out.problems.append((_line_of(data, exc.pos), f"malformed JSON: {exc.msg}"))
        return
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            out.problems.append((number, f"malformed JSON: {exc}"))


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _spans(doc: Any, line: int | None, out: OtlpRecords) -> Iterator[_Span]:
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        raise _Bad("expected an object with a `resourceSpans` list")
    for i, rs in enumerate(doc["resourceSpans"]):
        if not isinstance(rs, dict):
            raise _Bad(f"resourceSpans[{i}] is not an object")
        resource_value = rs.get("resource") or {}
        resource = _attributes(resource_value.get("attributes") if isinstance(resource_value, dict) else None)
        for j, ss in enumerate(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []):
            for k, span in enumerate((ss or {}).get("spans") or []):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                if not isinstance(span, dict) or not span.get("traceId"):
                    raise _Bad(f"{where} has no traceId")
                try:
                    yield _span(span, where, resource)
                except _SHAPE_ERRORS as exc:  # this span is reported; the others of the export are still read
                    out.problems.append((line, f"not an OTLP span: {where}: {_shape(exc)}"))


def _span(span: dict[str, Any], where: str, resource: dict[str, Any]) -> _Span:
    """One span, decoded (a value of the wrong shape raises one of `_SHAPE_ERRORS`)."""
    status = span.get("status") or {}
    code = status.get("code", 0)
    return _Span(
        trace_id=str(span["traceId"]),
        span_id=str(span.get("spanId", "")),
        name=str(span.get("name", "")),
        start=_int(span.get("startTimeUnixNano"), where + ".startTimeUnixNano"),
        end=_int(span.get("endTimeUnixNano", span.get("startTimeUnixNano")), where + ".endTimeUnixNano"),
        attrs=_attributes(span.get("attributes")),
        events=[(str(e.get("name", "")), _attributes(e.get("attributes"))) for e in span.get("events") or []],
        status_code=2 if code in (2, "STATUS_CODE_ERROR") else (1 if code in (1, "STATUS_CODE_OK") else 0),
        status_message=str(status.get("message", "")),
        resource=resource,
    )


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Bad(f"{where}: expected nanoseconds since the epoch, got {value!r}") from None


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = _value(item.get("value"))
    return out


def _value(v: Any) -> Any:
    """Decode an OTLP AnyValue."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])  # int64 travels as a JSON string
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [_value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in v:
        return {str(kv["key"]): _value(kv.get("value")) for kv in (v["kvlistValue"] or {}).get("values") or []}
    if "bytesValue" in v:
        return base64.b64decode(v["bytesValue"]).decode("utf-8", "replace")
    return None


def _json(value: Any) -> Any:
    """Structured attribute values arrive either structured or as JSON text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "["):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                return value
    return value


def _rfc3339(nanos: int) -> str:
    ts = datetime.fromtimestamp(nanos // 1_000_000_000, tz=UTC).replace(microsecond=(nanos // 1000) % 1_000_000)
    return ts.isoformat().replace("+00:00", "Z")


def _record(trace_id: str, spans: list[_Span]) -> dict[str, Any] | None:
    spans.sort(key=lambda s: s.start)
    inference = [s for s in spans if s.operation in INFERENCE]
    if not inference:
        return None
    genai = [s for s in spans if s.operation is not None]
    tools = [s for s in spans if s.operation == "execute_tool"]

    def find(key: str) -> Any:
        for s in [*inference, *spans]:
            if key in s.attrs:
                return s.attrs[key]
        for s in spans:
            if key in s.resource:
                return s.resource[key]
        return None

    prompt, version = find("promptlab.prompt.name"), find("promptlab.prompt.version")
    if not isinstance(prompt, str) or not prompt:
        raise _Bad("missing attribute promptlab.prompt.name (expected on a span or the resource)")
    if not isinstance(version, str) or not version:
        raise _Bad("missing attribute promptlab.prompt.version (expected on a span or the resource)")
    segment: dict[str, str] = {}
    for s in [*spans[::-1]]:
        for source in (s.resource, s.attrs):
            for key, value in source.items():
                if key.startswith("promptlab.segment.") and value is not None:
                    segment[key.removeprefix("promptlab.segment.")] = str(value)
    record: dict[str, Any] = {
        "request_id": str(find("promptlab.request_id") or trace_id),
        "timestamp": _rfc3339(min(s.start for s in genai)),
        "prompt": prompt,
        "version": version,
        "segment": segment,
        "latency_ms": round((max(s.end for s in genai) - min(s.start for s in genai)) / 1e6, 3),
        "metadata": {"trace_id": trace_id, "format": "otlp"},
    }
    variables = _json(find("promptlab.vars"))
    if variables is not None:
        record["vars"] = variables
    messages = _input_messages(inference[0])
    if messages:
        record["messages"] = messages
    if variables is None and not messages:
        raise _Bad(
            "no input: neither a promptlab.vars attribute nor captured input messages (gen_ai.input.messages or "
            "message events; content capture may be off)"
        )
    output = _output(inference[-1])
    if output is not None:
        record["output"] = output
    last = inference[-1].attrs
    model = last.get("gen_ai.response.model") or last.get("gen_ai.request.model")
    if model is not None:
        record["model"] = str(model)
    tokens_in = [s.attrs.get("gen_ai.usage.input_tokens") for s in inference]
    tokens_out = [s.attrs.get("gen_ai.usage.output_tokens") for s in inference]
    if any(isinstance(t, int) for t in tokens_in + tokens_out):
        record["usage"] = {
            "input_tokens": sum(t for t in tokens_in if isinstance(t, int)),
            "output_tokens": sum(t for t in tokens_out if isinstance(t, int)),
        }
    record["tool_calls"] = [_tool_span(s) for s in tools] if tools else _part_calls(inference)
    outcome = {
        key: find(f"promptlab.outcome.{key}")
        for key in ("fallback", "escalation", "manual_correction", "user_feedback", "feedback_comment")
    }
    outcome = {k: v for k, v in outcome.items() if v is not None}
    if outcome:
        record["outcome"] = outcome
    return record


def _text_of_parts(parts: Any) -> str | None:
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return None
    texts: list[str] = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
    return "".join(texts) if texts else None


def _messages_from_semconv(value: Any) -> list[dict[str, Any]]:
    out = []
    for m in _json(value) or []:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        content = _text_of_parts(m.get("parts")) if "parts" in m else m.get("content")
        if isinstance(content, list):
            content = _text_of_parts(content)
        if role in ("system", "user", "assistant", "tool"):
            out.append({"role": role, "content": content if isinstance(content, str) else None})
    return out


def _input_messages(span: _Span) -> list[dict[str, Any]]:
    attrs = span.attrs
    details = [a for n, a in span.events if n == "gen_ai.client.inference.operation.details"]
    for source in [attrs, *details]:
        if "gen_ai.input.messages" in source:
            messages = _messages_from_semconv(source["gen_ai.input.messages"])
            system = _text_of_parts(_json(source.get("gen_ai.system_instructions")))
            if system:
                messages.insert(0, {"role": "system", "content": system})
            return messages
    legacy = []
    for name, a in span.events:
        if name in ROLE_EVENTS:
            content = _json(a.get("content"))
            if isinstance(content, (dict, list)):
                content = _text_of_parts(content) if isinstance(content, list) else content.get("content")
            legacy.append({"role": ROLE_EVENTS[name], "content": content if isinstance(content, str) else None})
        elif name == "gen_ai.content.prompt" and "gen_ai.prompt" in a:
            legacy += _messages_from_semconv(a["gen_ai.prompt"])
    if legacy:
        return legacy
    flat = []
    i = 0
    while f"gen_ai.prompt.{i}.role" in attrs or f"gen_ai.prompt.{i}.content" in attrs:
        role = attrs.get(f"gen_ai.prompt.{i}.role", "user")
        content = attrs.get(f"gen_ai.prompt.{i}.content")
        if role in ("system", "user", "assistant", "tool"):
            flat.append({"role": role, "content": content if isinstance(content, str) else None})
        i += 1
    return flat


def _output(span: _Span) -> str | None:
    attrs = span.attrs
    details = [a for n, a in span.events if n == "gen_ai.client.inference.operation.details"]
    for source in [attrs, *details]:
        if "gen_ai.output.messages" in source:
            messages = [m for m in _json(source["gen_ai.output.messages"]) or [] if isinstance(m, dict)]
            texts = [_text_of_parts(m.get("parts")) for m in messages[:1]]
            return texts[0] if texts else None
    for name, a in span.events:
        if name == "gen_ai.choice":
            message = _json(a.get("message"))
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                return str(message["content"])
            if isinstance(a.get("content"), str):
                return str(a["content"])
        if name == "gen_ai.content.completion" and "gen_ai.completion" in a:
            completion = _json(a["gen_ai.completion"])
            if isinstance(completion, list):
                msgs = _messages_from_semconv(completion)
                return msgs[0]["content"] if msgs else None
            return str(completion) if completion is not None else None
    content = attrs.get("gen_ai.completion.0.content")
    return content if isinstance(content, str) else None


def _tool_span(span: _Span) -> dict[str, Any]:
    a = span.attrs
    error = None
    if span.status_code == 2 or a.get("error.type"):
        error = span.status_message or str(a.get("error.type") or "error")
    name = a.get("gen_ai.tool.name") or span.name.removeprefix("execute_tool").strip() or "unknown"
    call: dict[str, Any] = {"id": a.get("gen_ai.tool.call.id"), "name": str(name)}
    if "gen_ai.tool.call.arguments" in a:
        call["arguments"] = _json(a["gen_ai.tool.call.arguments"])
    if "gen_ai.tool.call.result" in a:
        call["result"] = _json(a["gen_ai.tool.call.result"])
    call["error"] = error
    return call


def _part_calls(inference: list[_Span]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for span in inference:
        for source in [span.attrs, *(a for n, a in span.events if n == "gen_ai.client.inference.operation.details")]:
            for m in _json(source.get("gen_ai.input.messages")) or []:
                for p in (m.get("parts") or []) if isinstance(m, dict) else []:
                    if isinstance(p, dict) and p.get("type") == "tool_call_response":
                        target = by_id.get(str(p.get("id", "")).strip())
                        if target is not None:
                            target["result"] = _json(p.get("response", p.get("result")))
            for m in _json(source.get("gen_ai.output.messages")) or []:
                for p in (m.get("parts") or []) if isinstance(m, dict) else []:
                    if isinstance(p, dict) and p.get("type") == "tool_call" and p.get("name"):
                        call = {"id": p.get("id"), "name": str(p["name"]), "arguments": _json(p.get("arguments"))}
                        calls.append(call)
                        if p.get("id"):
                            by_id[str(p["id"]).strip()] = call
    return calls
