"""Answering the model's tool calls from a case's canned `tool_results`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from promptlab.datasets import Case, ToolResult
from promptlab.providers import ToolCall

__all__ = ["ToolAnswer", "answer_tool_call"]


@dataclass(frozen=True, kw_only=True)
class ToolAnswer:
    """What a tool call returns to the model."""

    content: str
    """The `tool` message content sent back."""
    output: Any = None
    """The canned output, when the tool succeeded."""
    error: str | None = None
    """The failure text, when the tool failed or had no canned result."""


def _subset(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(key in actual and actual[key] == value for key, value in expected.items())


def answer_tool_call(case: Case, call: ToolCall) -> ToolAnswer:
    """Find the canned result for `call`: same tool name and, where the result names arguments, those values.

    The most specific match wins (the one constraining the most arguments; ties go to the first listed). A result
    with `error` fails the call with that text; a call nothing matches fails with an explanation, as a real tool
    would reject an unknown request, so the model sees the failure and the row records it.
    """
    if not isinstance(call.arguments, str):  # the runner checks responses; this guards direct callers
        return _failure(f"arguments for tool '{call.name}' must be a JSON text, got {type(call.arguments).__name__}")
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError:
        return _failure(f"invalid JSON arguments for tool '{call.name}': {call.arguments[:200]}")
    if not isinstance(arguments, dict):
        return _failure(f"arguments for tool '{call.name}' must be a JSON object")
    best: ToolResult | None = None
    for result in case.tool_results:
        if result.tool != call.name:
            continue
        if result.arguments is not None and not _subset(result.arguments, arguments):
            continue
        if best is None or len(result.arguments or {}) > len(best.arguments or {}):
            best = result
    if best is None:
        shown = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS).decode()
        return _failure(f"no result for tool '{call.name}' with arguments {shown} in case '{case.id}'")
    if best.error is not None:
        return _failure(best.error)
    content = best.output if isinstance(best.output, str) else orjson.dumps(best.output).decode()
    return ToolAnswer(content=content, output=best.output)


def _failure(text: str) -> ToolAnswer:
    return ToolAnswer(content=text, error=text)
