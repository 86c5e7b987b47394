"""The runner end to end against a real loopback server: outcomes, faults, retries, tools, cache and options."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.artifacts import PromptArtifact
from promptlab.errors import CacheMissError, InputError, SpecError, TemplateError
from promptlab.providers import ResponseCache
from promptlab.runner import RunDir, RunSummary, build_request, load_run, run
from tests._support.fake_openai import FakeOpenAI, Fault, RecordedRequest, Reply
from tests.runner._project import Project, simple_cases

FAST = {"progress": False, "backoff_s": 0.01}


def rows_by_case(out: Path) -> dict[str, dict[str, Any]]:
    return {r["case_id"]: r for r in RunDir.open(out).rows()}


def test_run_writes_a_complete_run_directory(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    assert isinstance(summary, RunSummary)
    assert (summary.rows, summary.expected_rows, summary.outcomes) == (6, 6, {"pass": 3, "fail": 3})
    assert sorted(f.name for f in p.out().iterdir()) == ["artifact.json", "cases.jsonl", "results.jsonl", "run.json"]
    opened = RunDir.open(p.out())
    manifest = opened.manifest
    assert (manifest.status, manifest.case_count, manifest.repeats) == ("complete", 6, 1)
    assert manifest.finished_at is not None and manifest.provider == provider_for
    assert manifest.evaluators == [{"contains": {"value": "apple"}}]
    assert manifest.artifact.hash == opened.artifact.content_hash
    assert manifest.dataset_hash == opened.dataset.content_hash
    frame = load_run(p.out())
    assert list(frame["case_id"]) == [f"c{i:02d}" for i in range(6)]
    assert list(frame["eval.contains.passed"]) == [True, False] * 3
    assert set(frame["segment.half"]) == {"a", "b"} and "varies" not in frame
    row = rows_by_case(p.out())["c00"]
    assert row["output"] == "echo: case c00 wants apple" and row["turns"] == 1
    assert row["cost_usd"] == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)
    assert fake_openai.count() == 6


def test_each_outcome_pass_fail_error_and_evaluator_error(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    cases = [
        {"id": "good", "vars": {"text": "apple"}},
        {"id": "bad", "vars": {"text": "pear"}},
        {"id": "broken", "vars": {"text": "apple broken"}},
        {"id": "buggy", "vars": {"text": "apple"}, "evaluators": ["test_raises"]},
    ]
    fake_openai.always("broken", Fault.http(400, message="bad request"))
    p = project(cases)
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    rows = rows_by_case(p.out())
    assert {k: r["outcome"] for k, r in rows.items()} == {
        "good": "pass",
        "bad": "fail",
        "broken": "error",
        "buggy": "evaluator_error",
    }
    assert rows["broken"]["error"]["kind"] == "http_error" and "bad request" in rows["broken"]["error"]["message"]
    assert rows["broken"]["evaluations"] == {} and rows["broken"]["output"] is None
    assert rows["buggy"]["evaluations"]["test_raises"]["error"] == "RuntimeError: evaluator bug"
    assert rows["buggy"]["evaluations"]["contains"]["passed"] is True
    assert fake_openai.count("broken") == 1  # a 400 is not retried
    assert RunDir.open(p.out()).manifest.evaluators == [{"contains": {"value": "apple"}}, "test_raises"]


def test_a_429_retry_waits_at_least_retry_after_as_seen_by_the_server(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("c00", Fault.http(429, retry_after=1), Reply(content="apple"))
    p = project()
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    first, second = fake_openai.matching("c00")
    assert first.action == "status 429" and first.answered_at is not None
    assert second.received_at - first.answered_at >= 1.0
    assert rows_by_case(p.out())["c00"]["outcome"] == "pass" and summary.retries == 1


def test_each_fault_ends_in_a_result_or_a_recorded_error(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("c00", Fault.http(500), Fault.http(503), Reply(content="apple"))  # recovers
    fake_openai.always("c01", Fault.http(500))  # never recovers
    fake_openai.always("c02", Reply(content="too late", delay_s=1.0))  # past the timeout
    fake_openai.script("c03", Fault.drop(), Fault.truncate(), Reply(content="apple"))  # broken connections
    fake_openai.always("c04", Fault.malformed())
    fake_openai.always("c05", Fault.http(404))
    p = project(simple_cases(8))
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, timeout_s=0.2, max_retries=2, **FAST)
    rows = rows_by_case(p.out())
    assert len(rows) == summary.rows == 8
    assert all((r["output"] is None) != (r["error"] is None) for r in rows.values())
    errors = {k: r["error"]["kind"] for k, r in rows.items() if r["error"]}
    assert errors == {"c01": "server_error", "c02": "timeout", "c04": "malformed_response", "c05": "http_error"}
    assert rows["c00"]["outcome"] == rows["c03"]["outcome"] == "pass"
    counts = {c: fake_openai.count(c) for c in ("c00", "c01", "c02", "c03", "c04", "c05", "c06")}
    assert counts == {"c00": 3, "c01": 3, "c02": 3, "c03": 3, "c04": 3, "c05": 1, "c06": 1}
    assert summary.error_kinds == {"server_error": 1, "timeout": 1, "malformed_response": 1, "http_error": 1}


TOOL_CASE = {
    "id": "order",
    "vars": {"text": "where is order 42"},
    "tool_results": [
        {"tool": "lookup_order", "output": {"status": "unknown order"}},
        {"tool": "lookup_order", "arguments": {"order_id": "42"}, "output": {"status": "shipped"}},
        {"tool": "refund", "error": "refund service unavailable"},
    ],
    "evaluators": [{"tool_sequence": {"expected": ["lookup_order", "lookup_order", "refund", "escalate"]}}],
}


def tool_model(request: RecordedRequest) -> Reply:
    """Call four tools on the first turn, then answer from what the tools said."""
    if request.last_role == "user":
        return Reply(
            tool_calls=(
                ("lookup_order", {"order_id": "42"}),
                ("lookup_order", {"order_id": "7"}),
                ("refund", {}),
                ("escalate", {"why": "x"}),
            )
        )
    said = [m["content"] for m in request.messages if m["role"] == "tool"]
    return Reply(content="apple; tools said: " + " | ".join(said))


def test_tool_calls_are_answered_from_canned_results_over_several_turns(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = tool_model
    p = project([TOOL_CASE], tools=True)
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    row = rows_by_case(p.out())["order"]
    assert row["turns"] == 2 and row["outcome"] == "pass"
    assert row["input_tokens"] == 20 and row["output_tokens"] == 10
    calls = [(c["name"], c["result"], c["error"]) for c in row["tool_calls"]]
    assert calls[:3] == [
        ("lookup_order", {"status": "shipped"}, None),
        ("lookup_order", {"status": "unknown order"}, None),
        ("refund", None, "refund service unavailable"),
    ]
    assert calls[3][0] == "escalate" and "no result for tool 'escalate'" in calls[3][2]
    first, second = fake_openai.requests
    assert first.body is not None and [t["function"]["name"] for t in first.body["tools"]] == ["lookup_order", "refund"]
    assistant, *tool_messages = second.messages[2:]
    assert assistant["role"] == "assistant" and len(assistant["tool_calls"]) == 4
    assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in assistant["tool_calls"]]
    assert [m["content"] for m in tool_messages][:3] == [
        '{"status":"shipped"}',
        '{"status":"unknown order"}',
        "refund service unavailable",
    ]
    assert row["output"].startswith('apple; tools said: {"status":"shipped"}')


def test_a_model_that_never_stops_calling_tools_ends_with_a_max_turns_error(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = lambda request: Reply(tool_calls=(("lookup_order", {"order_id": "42"}),))
    p = project([TOOL_CASE], tools=True)
    run(p.artifact, p.suite, p.out(), provider=provider_for, max_turns=3, **FAST)
    row = rows_by_case(p.out())["order"]
    assert (row["outcome"], row["error"]["kind"], row["turns"]) == ("error", "max_turns", 3)
    assert fake_openai.count() == 3 and len(row["tool_calls"]) == 3


def test_cache_hits_are_marked_and_a_rerun_calls_nothing(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    p = project()
    first = run(p.artifact, p.suite, p.out("one"), provider=provider_for, cache_dir=tmp_path / "cache", **FAST)
    second = run(p.artifact, p.suite, p.out("two"), provider=provider_for, cache_dir=tmp_path / "cache", **FAST)
    assert fake_openai.count() == 6
    assert (first.cache_hits, first.calls, second.cache_hits, second.calls) == (0, 6, 6, 0)
    one, two = load_run(p.out("one")), load_run(p.out("two"))
    assert not one["cached"].any() and two["cached"].all()
    assert list(two["latency_s"]) == list(one["latency_s"])  # replayed as recorded
    assert list(two["output"]) == list(one["output"])
    assert RunDir.open(p.out("two")).manifest.cache_mode == "read-write"


def test_read_only_cache_miss_names_the_case_before_creating_the_run(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project(cache="cache")  # the suite's cache is the default
    run(p.artifact, p.suite, p.out("record"), provider=provider_for, **FAST)
    assert (p.root / "cache" / "responses.jsonl").exists()
    with pytest.raises(CacheMissError, match=r"no cached response for case 'c00' \(sample 1.*\(and 5 more\)"):
        run(p.artifact, p.suite, p.out("replay"), provider=provider_for, repeats=2, cache_mode="read-only", **FAST)
    assert not p.out("replay").exists() and fake_openai.count() == 6


def test_a_replay_from_cache_needs_no_api_key(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project(cache="cache")
    run(p.artifact, p.suite, p.out("record"), provider=provider_for, **FAST)
    remote = {"openai": {"base_url": "https://api.example.invalid/v1"}}
    for name, mode in (("read-only", "read-only"), ("read-write", "read-write")):
        summary = run(p.artifact, p.suite, p.out(name), provider=remote, cache_mode=mode, **FAST)
        assert summary.cache_hits == 6 and summary.outcomes == {"pass": 3, "fail": 3}
    assert fake_openai.count() == 6


def test_missing_key_for_a_remote_endpoint_fails_before_the_run_directory_exists(
    project: Callable[..., Project],
) -> None:
    p = project()
    with pytest.raises(SpecError, match=re.escape("no API key for https://api.example.invalid/v1: set OPENAI_API_KEY")):
        run(p.artifact, p.suite, p.out(), provider={"openai": {"base_url": "https://api.example.invalid/v1"}}, **FAST)
    assert not p.out().exists()


def test_the_api_key_is_sent_but_never_written(
    project: Callable[..., Project],
    provider_for: dict[str, Any],
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-456")
    fake_openai.always("c01", Fault.http(401, message="key sk-test-SECRET-456 rejected"))
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, cache_dir=tmp_path / "cache", **FAST)
    assert fake_openai.requests[0].headers["Authorization"] == "Bearer sk-test-SECRET-456"
    for path in [*p.out().iterdir(), *(tmp_path / "cache").iterdir()]:
        assert b"SECRET" not in path.read_bytes(), path
    assert rows_by_case(p.out())["c01"]["error"]["kind"] == "auth_error"


def test_repeats_mark_cases_whose_outcome_varies(project: Callable[..., Project]) -> None:
    cases = [{"id": "stable", "vars": {"text": "stable apple"}}, {"id": "flaky", "vars": {"text": "flaky apple"}}]
    p = project(cases, model={"provider": "python:flaky_model.py:respond"})
    (p.root / "flaky_model.py").write_text(
        "def respond(request):\n"
        "    text = request.messages[-1]['content']\n"
        "    return text if 'stable' in text or request.sample % 2 else 'pear'\n"
    )
    summary = run(p.artifact, p.suite, p.out(), repeats=3, **FAST)
    frame = load_run(p.out())
    assert summary.rows == len(frame) == 6
    assert dict(frame.groupby("case_id")["varies"].first()) == {"flaky": True, "stable": False}
    assert list(frame[frame.case_id == "flaky"]["outcome"]) == ["fail", "pass", "fail"]
    assert RunDir.open(p.out()).manifest.provider == "python:flaky_model.py:respond"


def test_baseline_outputs_reach_the_evaluators(
    project: Callable[..., Project], provider_for: dict[str, Any], tmp_path: Path
) -> None:
    base = project()
    run(base.artifact, base.suite, tmp_path / "baseline", provider=provider_for, **FAST)
    (base.root / "suite.yaml").write_text("name: t\ndatasets: [cases.jsonl]\nevaluators: [test_baseline_seen]\n")
    run(
        base.artifact,
        base.suite,
        tmp_path / "candidate",
        provider=provider_for,
        baseline_run=tmp_path / "baseline",
        **FAST,
    )
    rows = rows_by_case(tmp_path / "candidate")
    assert rows["c03"]["evaluations"]["test_baseline_seen"] == {
        "passed": True,
        "score": None,
        "reason": "echo: case c03 wants pear",
        "error": None,
    }
    assert RunDir.open(tmp_path / "candidate").manifest.baseline_run == str((tmp_path / "baseline").resolve())


def test_adaptive_concurrency_meets_fewer_rate_limits(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    def overloaded(request: RecordedRequest) -> Reply | Fault:
        if fake_openai.in_flight > 2:
            return Fault.http(429, retry_after=0.02)
        return Reply(content="apple", delay_s=0.03)

    fake_openai.default = overloaded
    p = project(simple_cases(40))
    limited = {}
    for adaptive in (False, True):
        fake_openai.reset()
        summary = run(
            p.artifact,
            p.suite,
            p.out(f"adaptive-{adaptive}"),
            provider=provider_for,
            concurrency=10,
            adaptive=adaptive,
            max_retries=30,
            **FAST,
        )
        assert summary.outcomes.get("error", 0) == 0
        limited[adaptive] = fake_openai.count(lambda r: r.action == "status 429")
    assert limited[True] * 2 < limited[False]


def test_the_sync_api_works_inside_a_running_event_loop(
    project: Callable[..., Project], provider_for: dict[str, Any]
) -> None:
    p = project()

    async def notebook_cell() -> RunSummary:
        return run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)

    assert asyncio.run(notebook_cell()).rows == 6


def test_a_missing_template_variable_fails_before_any_call(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project([{"id": "ok", "vars": {"text": "x"}}, {"id": "nope", "vars": {"other": "x"}}])
    with pytest.raises(TemplateError, match="'text' is undefined for case 'nope'"):
        run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    assert fake_openai.count() == 0 and not p.out().exists()


def test_a_bad_per_case_evaluator_fails_before_any_call(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project([{"id": "c1", "vars": {"text": "x"}, "evaluators": ["no_such_evaluator"]}])
    with pytest.raises(SpecError, match=r"case 'c1': evaluators\[0\]: unknown evaluator 'no_such_evaluator'"):
        run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    assert fake_openai.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency: expected at least 1"),
        ({"repeats": 0}, "repeats: expected at least 1"),
        ({"max_retries": -1}, "retries: expected 0 or more"),
        ({"timeout_s": 0}, "timeout: expected a positive number"),
        ({"cache_mode": "read-only"}, "cache mode read-only needs a cache directory"),
        ({"cache_mode": "sometimes"}, "cache mode: expected one of"),
    ],
)
def test_bad_options_are_input_errors(
    project: Callable[..., Project], provider_for: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    p = project()
    with pytest.raises(InputError, match=message):
        run(p.artifact, p.suite, p.out(), provider=provider_for, **{**FAST, **options})


def test_a_run_directory_is_never_overwritten(
    project: Callable[..., Project], provider_for: dict[str, Any], tmp_path: Path
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not an empty directory"):
        run(p.artifact, p.suite, tmp_path / "full", provider=provider_for, **FAST)


def test_rows_are_valid_json_lines_in_arrival_order(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.always("c00", Reply(content="apple", delay_s=0.3))
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, concurrency=6, **FAST)
    lines = (p.out() / "results.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["case_id"] for line in lines][-1] == "c00"  # the slow case finished last


def test_a_retry_after_too_long_to_wait_is_recorded_not_slept(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.always("c00", Fault.http(429, retry_after=3600))
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    row = rows_by_case(p.out())["c00"]
    assert row["error"]["kind"] == "rate_limited" and fake_openai.count("c00") == 1


def test_progress_bar_reports_on_stderr_when_asked(
    project: Callable[..., Project], provider_for: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, progress=True, backoff_s=0.01)
    captured = capsys.readouterr()
    assert "test-prompt@v1" in captured.err and "6/6" in captured.err and captured.out == ""


def test_build_request_gives_the_cache_keys_a_run_records(
    project: Callable[..., Project], provider_for: dict[str, Any], tmp_path: Path
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, cache_dir=tmp_path / "cache", repeats=2, **FAST)
    artifact = PromptArtifact.from_file(p.artifact)
    cache = ResponseCache(tmp_path / "cache")
    assert len(cache) == 12
    for case in p.cases:
        for sample in (0, 1):
            request = build_request(artifact, artifact.render(case["vars"]), sample=sample, case_id=case["id"])
            assert request.cache_key() in cache


# -- hostile provider answers --------------------------------------------------------------------------------------


def completion_body(message: Any, *, usage: Any = None) -> bytes:
    body: dict[str, Any] = {"model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2} if usage is None else usage
    return orjson.dumps(body)


def tool_call(function: Any) -> dict[str, Any]:
    call = {"id": "t1", "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


# One malformed answer per case: each must end as that case's own malformed_response row.
HOSTILE_BODIES: dict[str, bytes] = {
    "args-object": completion_body(tool_call({"name": "lookup_order", "arguments": {"order_id": "42"}})),
    "args-number": completion_body(tool_call({"name": "lookup_order", "arguments": 42})),
    "no-tool-name": completion_body(tool_call({"arguments": "{}"})),
    "tool-calls-dict": completion_body({"role": "assistant", "content": None, "tool_calls": {"a": 1}}),
    "content-number": completion_body({"role": "assistant", "content": 42}),
    "content-dict": completion_body({"role": "assistant", "content": {"text": "apple"}}),
    "message-string": completion_body("apple"),
    "no-choices": orjson.dumps({"model": "m"}),
    "empty-choices": orjson.dumps({"choices": []}),
    "negative-usage": completion_body({"role": "assistant", "content": "apple"}, usage={"prompt_tokens": -(9**9)}),
    "bool-usage": completion_body({"role": "assistant", "content": "apple"}, usage={"completion_tokens": True}),
    "string-usage": completion_body({"role": "assistant", "content": "apple"}, usage={"prompt_tokens": "7"}),
    "not-json": b"<html>502 Bad Gateway</html>",
    "json-list": b"[]",
}


def test_the_runner_survives_anything_a_provider_returns(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    good = [{"id": f"good-{i}", "vars": {"text": f"good {i} apple" if i % 2 else f"good {i} pear"}} for i in range(4)]
    hostile = [{"id": name, "vars": {"text": f"hostile {name}"}} for name in HOSTILE_BODIES]
    for name, body in HOSTILE_BODIES.items():
        fake_openai.always(lambda r, name=name: r.user_text == f"hostile {name}", Fault.malformed(body))
    p = project(good + hostile, tools=True)
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, concurrency=4, max_retries=1, **FAST)
    rows = rows_by_case(p.out())
    assert summary.rows == len(rows) == len(good) + len(hostile)
    for name in HOSTILE_BODIES:
        row = rows[name]
        assert (row["outcome"], row["error"]["kind"]) == ("error", "malformed_response"), (name, row["error"])
        assert row["evaluations"] == {} and row["cost_usd"] == 0 and row["input_tokens"] >= 0
    assert {rows[c["id"]]["outcome"] for c in good} == {"pass", "fail"}
    assert [rows[f"good-{i}"]["outcome"] for i in range(4)] == ["fail", "pass", "fail", "pass"]
    assert summary.error_kinds == {"malformed_response": len(HOSTILE_BODIES)}


def test_a_python_provider_answer_of_the_wrong_types_is_malformed_not_a_crash(
    project: Callable[..., Project], tmp_path: Path
) -> None:
    (tmp_path / "hostile_model.py").write_text(
        "from promptlab.providers import ChatResponse, ToolCall, Usage\n"
        "def respond(request):\n"
        "    text = request.messages[-1]['content']\n"
        "    if 'dict' in text:\n"
        "        return ChatResponse(text={'a': 1})\n"
        "    if 'args' in text:\n"
        "        return ChatResponse(text=None, tool_calls=[ToolCall(id='1', name='lookup_order', arguments={})])\n"
        "    if 'negative' in text:\n"
        "        return ChatResponse(text='apple', usage=Usage(input_tokens=-10**9, output_tokens=1))\n"
        "    return ChatResponse(text='apple')\n"
    )
    cases = [{"id": name, "vars": {"text": name}} for name in ("dict", "args", "negative", "fine")]
    p = project(cases, tools=True)
    provider = f"python:{tmp_path / 'hostile_model.py'}:respond"
    run(p.artifact, p.suite, p.out(), provider=provider, cache_dir=tmp_path / "cache", **FAST)
    rows = rows_by_case(p.out())
    for name in ("dict", "args", "negative"):
        assert rows[name]["error"]["kind"] == "malformed_response", rows[name]
        assert rows[name]["cost_usd"] == 0
    assert rows["fine"]["outcome"] == "pass"
    # Nothing malformed was recorded in the cache, so a replay cannot serve it as a good answer.
    assert len(ResponseCache(tmp_path / "cache")) == 1


def test_a_negative_token_count_never_gives_a_negative_cost(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    fake_openai.always(None, Reply(content="apple", prompt_tokens=-1_000_000, completion_tokens=-5))
    p = project(simple_cases(3))
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, max_retries=0, **FAST)
    assert summary.error_kinds == {"malformed_response": 3}
    assert all(r["cost_usd"] == 0 and r["input_tokens"] == 0 for r in RunDir.open(p.out()).rows())


SECRET_KEY = "sk-proj-Q7rT2vX9kLmN4pZs8WcY1bHd6FjG3aEu"


def run_dir_bytes(out: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in sorted(out.rglob("*")) if path.is_file()]


def test_an_html_401_echoing_the_key_leaves_no_part_of_it_in_the_run_directory(
    project: Callable[..., Project],
    provider_for: dict[str, Any],
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)

    def echo_header(request: RecordedRequest) -> Fault:
        echoed = request.headers["Authorization"]
        page = f"<html><head><title>401</title></head><body>{'.' * 120}Authorization: {echoed}</body></html>"
        return Fault.raw(page.encode(), status=401, content_type="text/html")

    fake_openai.always(None, echo_header)
    p = project(simple_cases(2))
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    assert {r["error"]["kind"] for r in RunDir.open(p.out()).rows()} == {"auth_error"}
    fragments = {SECRET_KEY[i : i + 8].encode() for i in range(len(SECRET_KEY) - 7)}
    for path, data in run_dir_bytes(p.out()):
        assert not [f for f in fragments if f in data], path


def test_a_password_in_base_url_is_absent_from_every_file_of_the_run(
    project: Callable[..., Project], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    base = fake_openai.base_url.replace("http://", "http://alice:pw-hunter2-xyz@") + "?api-key=qs-token-abc"
    fake_openai.always("c01", Fault.http(503, message="auth alice:pw-hunter2-xyz qs-token-abc"))
    p = project(simple_cases(2))
    run(p.artifact, p.suite, p.out(), provider={"openai": {"base_url": base}}, max_retries=0, **FAST)
    rows = rows_by_case(p.out())
    assert rows["c00"]["outcome"] == "pass" and rows["c01"]["error"]["kind"] == "server_error"
    assert RunDir.open(p.out()).manifest.provider == {"openai": {"base_url": fake_openai.base_url + "?api-key=***"}}
    for path, data in run_dir_bytes(p.out()):
        assert b"hunter2" not in data and b"qs-token" not in data and b"alice" not in data, path
