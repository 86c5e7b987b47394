"""Answering tool calls from canned results."""

from __future__ import annotations

from promptlab.datasets import Case
from promptlab.providers import ToolCall
from promptlab.runner._tools import answer_tool_call

CASE = Case.model_validate(
    {
        "id": "c1",
        "tool_results": [
            {"tool": "lookup", "output": "generic"},
            {"tool": "lookup", "arguments": {"id": "1"}, "output": {"status": "one"}},
            {"tool": "lookup", "arguments": {"id": "1", "region": "eu"}, "output": {"status": "one-eu"}},
            {"tool": "charge", "error": "payment gateway timeout"},
        ],
    }
)


def call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id="x", name=name, arguments=arguments)


def test_the_most_specific_matching_result_wins() -> None:
    assert answer_tool_call(CASE, call("lookup", '{"id": "1", "region": "eu", "x": 2}')).output == {"status": "one-eu"}
    assert answer_tool_call(CASE, call("lookup", '{"id": "1"}')).content == '{"status":"one"}'
    assert answer_tool_call(CASE, call("lookup", '{"id": "2"}')).content == "generic"
    assert answer_tool_call(CASE, call("lookup", "")).output == "generic"


def test_a_canned_failure_returns_its_error_text() -> None:
    answer = answer_tool_call(CASE, call("charge", "{}"))
    assert answer.content == answer.error == "payment gateway timeout" and answer.output is None


def test_calls_without_a_canned_result_or_with_bad_arguments_fail_with_an_explanation() -> None:
    missing = answer_tool_call(CASE, call("refund", '{"b": 1, "a": 2}'))
    assert missing.error == """no result for tool 'refund' with arguments {"a":2,"b":1} in case 'c1'"""
    assert "invalid JSON arguments for tool 'lookup'" in (answer_tool_call(CASE, call("lookup", "{oops")).error or "")
    assert "must be a JSON object" in (answer_tool_call(CASE, call("lookup", "[1]")).error or "")
