"""Property-based fuzzing of every input harvest reads: JSONL records, Parquet tables, OTLP JSON and the policy.

Each input ends valid or as one `PromptlabError` line, never a traceback or a hang; where both engines can read
the input, they must agree (a silent difference would be garbage in the harvested cases).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlab.errors import PromptlabError
from promptlab.harvest import HarvestReport, harvest, load_harvest_policy
from promptlab.harvest._records import OUTCOME_KEYS, RESPONSE_KEYS
from tests.harvest.conftest import POLICY, write_policy

FUZZ = settings(
    max_examples=int(os.environ.get("PROMPTLAB_FUZZ_EXAMPLES", "25")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENGINES = settings(FUZZ, max_examples=int(os.environ.get("PROMPTLAB_FUZZ_EXAMPLES", "12")))
"""For properties that harvest with both engines (each example costs two DuckDB sessions on a loaded CI core);
set PROMPTLAB_FUZZ_EXAMPLES to fuzz longer locally."""

KEYS = sorted({*RESPONSE_KEYS, *OUTCOME_KEYS, "surprise"})
GOOD = {
    "request_id": "r1",
    "timestamp": "2024-06-01T10:00:00Z",
    "prompt": "triage",
    "version": "v1",
    "segment": {"intent": "billing"},
    "vars": {"message": "I was charged twice"},
    "output": '{"category": "billing", "reply": "I\'m sorry, but I can\'t help with that."}',
    "tool_calls": [{"id": "c1", "name": "lookup_order", "arguments": {"order_id": "A-1"}, "result": {"ok": True}}],
    "latency_ms": 10.5,
    "usage": {"input_tokens": 3, "output_tokens": 4},
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["2024-06-01T10:00:00Z", "outcome", "response", "negative", "", "9999-12-31T23:59:59+23:59"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record near the format: a valid one with keys changed, dropped or added."""
    rec: dict[str, Any] = dict(GOOD)
    rec["request_id"] = draw(st.sampled_from(["r1", "r2", "r3", ""]))
    if draw(st.booleans()):
        rec["type"] = draw(st.sampled_from(["outcome", "response", "other"]))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=3)):
        if draw(st.booleans()):
            rec.pop(key, None)
        else:
            rec[key] = draw(values)
    return rec


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # the standard library writes integers of any size, as a hostile log might


lines = st.one_of(
    records().map(_dumps),
    st.binary(max_size=40),
    values.map(_dumps),
    records().map(lambda r: _dumps(r)[: len(_dumps(r)) // 2]),
).map(lambda b: b.replace(b"\n", b" "))


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_policy(tmp_path_factory.mktemp("policy"), POLICY)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _both_engines(paths: list[Path], policy: Path, out: Path) -> dict[str, HarvestReport | str]:
    """Harvest with each engine: the report, or the one-line error."""
    found: dict[str, HarvestReport | str] = {}
    for engine in ("duckdb", "python"):
        try:
            found[engine] = harvest(paths, policy=policy, out=out, dry_run=True, engine=engine)  # type: ignore[arg-type]
        except PromptlabError as exc:
            assert "\n" not in str(exc), str(exc)
            found[engine] = str(exc)
    return found


def _agree(found: dict[str, HarvestReport | str]) -> None:
    duck, py = found["duckdb"], found["python"]
    if isinstance(duck, str) or isinstance(py, str):
        assert duck == py
        return
    summary: Callable[[HarvestReport], Any] = lambda r: (  # noqa: E731
        r.records,
        r.outcome_records,
        r.malformed_count,
        r.duplicates,
        [str(m) for m in r.unreadable],
        sorted((f.detector, f.request_id) for f in r.failures),
    )
    assert summary(duck) == summary(py)


@ENGINES
@given(st.lists(lines, max_size=6))
def test_any_jsonl_log_harvests_or_fails_in_one_line_and_the_engines_agree(
    policy_path: Path, work: Path, body: list[bytes]
) -> None:
    log = work / "log.jsonl"
    log.write_bytes(b"\n".join(body) + (b"\n" if body else b""))
    _agree(_both_engines([log], policy_path, work / "rc"))


@st.composite
def parquet_tables(draw: st.DrawFn) -> Any:
    import datetime as dt

    import pyarrow as pa

    n = draw(st.integers(min_value=0, max_value=3))
    columns: dict[str, Any] = {}
    names = draw(st.lists(st.sampled_from([*KEYS, "colour"]), min_size=1, max_size=6, unique=True))
    for name in names:
        kind = draw(st.sampled_from(["good", "str", "int", "float", "bool", "list", "struct", "ts", "bin", "null"]))
        if kind == "good" and name in GOOD:
            value = GOOD[name]
            if isinstance(value, (dict, list)):
                value = orjson.dumps(value).decode()
            columns[name] = pa.array([value] * n)
        elif kind == "str":
            columns[name] = pa.array(
                draw(st.lists(st.text(max_size=8) | st.none(), min_size=n, max_size=n)), pa.string()
            )
        elif kind == "int":
            ints = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.none()
            columns[name] = pa.array(draw(st.lists(ints, min_size=n, max_size=n)), pa.int64())
        elif kind == "float":
            floats = st.floats(allow_nan=True, allow_infinity=True) | st.none()
            columns[name] = pa.array(draw(st.lists(floats, min_size=n, max_size=n)), pa.float64())
        elif kind == "bool":
            columns[name] = pa.array(draw(st.lists(st.booleans() | st.none(), min_size=n, max_size=n)), pa.bool_())
        elif kind == "list":
            items = st.lists(st.text(max_size=4), max_size=2) | st.none()
            columns[name] = pa.array(draw(st.lists(items, min_size=n, max_size=n)), pa.list_(pa.string()))
        elif kind == "struct":
            struct = st.fixed_dictionaries({"intent": st.text(max_size=4) | st.none(), "n": st.integers(0, 9)})
            columns[name] = pa.array(draw(st.lists(struct | st.none(), min_size=n, max_size=n)))
        elif kind == "ts":
            stamp = st.datetimes(
                min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
            )
            columns[name] = pa.array(
                draw(st.lists(stamp | st.none(), min_size=n, max_size=n)), pa.timestamp("us", "UTC")
            )
        elif kind == "bin":
            columns[name] = pa.array(draw(st.lists(st.binary(max_size=6), min_size=n, max_size=n)), pa.binary())
        else:
            columns[name] = pa.nulls(n)
    return pa.table(columns)


@ENGINES
@given(parquet_tables(), st.sampled_from(["whole", "truncated", "flipped"]))
def test_any_parquet_log_harvests_is_left_out_as_unreadable_or_fails_in_one_line(
    policy_path: Path, work: Path, table: Any, damage: str
) -> None:
    import pyarrow.parquet as pq

    folder = work / "pq"
    folder.mkdir(exist_ok=True)
    path = folder / "log.parquet"
    pq.write_table(table, path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        path.write_bytes(data[:8] + bytes(b ^ 0x55 for b in data[8:-12]) + data[-12:])
    found = _both_engines([path], policy_path, work / "rc")
    _agree(found)
    report = found["duckdb"]
    if damage != "whole" and isinstance(report, HarvestReport):
        # A damaged file is either unreadable as a whole or its rows are all still what was written.
        assert report.unreadable or report.records + report.outcome_records + report.malformed_count <= table.num_rows


otlp_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue", "values",
             "key", "value"]
        ),
        inner,
        max_size=2,
    ),
    max_leaves=6,
)  # fmt: skip
ATTRIBUTE_KEYS = [
    "promptlab.prompt.name", "promptlab.prompt.version", "promptlab.vars", "gen_ai.operation.name",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.usage.input_tokens", "gen_ai.tool.name",
    "gen_ai.tool.call.arguments", "promptlab.segment.intent", "promptlab.outcome.escalation",
]  # fmt: skip


@st.composite
def spans(draw: st.DrawFn) -> Any:
    attributes = draw(
        st.lists(
            st.fixed_dictionaries({"key": st.sampled_from(ATTRIBUTE_KEYS), "value": otlp_values})
            | otlp_values.map(lambda v: {"key": "x", "value": v}),
            max_size=5,
        )
    )
    span: dict[str, Any] = {
        "traceId": draw(st.sampled_from(["t1", "t2", ""]) | values),
        "spanId": draw(st.text(max_size=3)),
        "name": draw(st.sampled_from(["chat gpt", "execute_tool lookup", "x"])),
        "startTimeUnixNano": draw(st.sampled_from(["1717236000000000000", "-1", "abc", 10**30]) | values),
        "attributes": attributes,
    }
    for key in draw(st.lists(st.sampled_from(["endTimeUnixNano", "status", "events", "attributes"]), max_size=2)):
        span[key] = draw(values | st.just([{"name": "gen_ai.choice", "attributes": attributes}]))
    return span


@st.composite
def otlp_documents(draw: st.DrawFn) -> Any:
    good_attrs = [
        {"key": "promptlab.prompt.name", "value": {"stringValue": "triage"}},
        {"key": "promptlab.prompt.version", "value": {"stringValue": "v1"}},
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "promptlab.vars", "value": {"stringValue": '{"message": "hi"}'}},
    ]
    good = {"traceId": "t0", "spanId": "s0", "name": "chat", "startTimeUnixNano": "1717236000000000000",
            "endTimeUnixNano": "1717236001000000000", "attributes": good_attrs}  # fmt: skip
    scope = {"spans": [good, *draw(st.lists(spans(), max_size=3))]}
    resource = draw(st.none() | values | st.just({"attributes": good_attrs}))
    doc: Any = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope, *draw(st.lists(values, max_size=1))]}]}
    return draw(st.just(doc) | values)


@ENGINES
@given(otlp_documents(), st.booleans())
def test_any_otlp_export_harvests_or_reports_its_bad_traces_and_the_engines_agree(
    policy_path: Path, work: Path, doc: Any, as_lines: bool
) -> None:
    path = work / ("spans.jsonl" if as_lines else "spans.json")
    path.write_bytes(json.dumps(doc).encode() + (b"\n" if as_lines else b""))
    _agree(_both_engines([path], policy_path, work / "rc"))


policy_keys = ["prompt", "intent_dimension", "versions", "detectors", "redact", "dedup", "message_var",
               "max_request_ids", "surprise"]  # fmt: skip
detector_specs = st.one_of(
    st.sampled_from(["outcome", "unexpected_refusal", "excessive_verbosity", "hallucinated_fields", "nope"]),
    st.dictionaries(
        st.sampled_from(["excessive_verbosity", "unexpected_refusal", "wrong_tool_sequence", "hallucinated_fields"]),
        st.dictionaries(
            st.sampled_from(["factor", "by", "field", "min_group", "should_refuse", "rules", "grounded_patterns"]),
            values | st.sampled_from(["(", "[a-z]+", "(?<=x)y", "\\"]).map(lambda p: [p]),
            max_size=2,
        ),
        min_size=1,
        max_size=1,
    ),
    values,
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(policy_keys),
        values | st.lists(detector_specs, max_size=3) | st.just({"v1": {"artifact": "v1.yaml"}}),
        max_size=5,
    ),
    st.sampled_from(["yaml", "json", "bytes"]),
    st.binary(max_size=30),
)
def test_any_harvest_policy_loads_or_fails_in_one_line(work: Path, raw: dict[str, Any], form: str, junk: bytes) -> None:
    folder = work / "policy"
    write_policy(folder, {"detectors": ["outcome"]})
    path = folder / "policy.yaml"
    if form == "yaml":
        path.write_text(yaml.safe_dump(raw))
    elif form == "json":
        path.write_bytes(_dumps(raw))
    else:
        path.write_bytes(junk)
    try:
        policy = load_harvest_policy(path)
    except PromptlabError as exc:
        # One line per problem (several problems in one file list one each), every line naming the file.
        assert all(line.startswith(f"{path}: ") for line in str(exc).split("\n")), str(exc)
        assert exc.exit_code == 2
        return
    assert policy.detectors
