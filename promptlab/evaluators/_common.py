"""Helpers shared by the built-in evaluators: short quoting for reasons and dotted-path lookup."""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["MISSING", "clip", "clip_output", "excerpt", "lookup", "same_value", "shorten"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""Returned by `lookup` when a path is absent (a JSON `null` is a value, not absence)."""


def clip(value: Any, limit: int = 60) -> str:
    """Render a value for a reason: text in double quotes, other values as JSON, cut to about `limit` chars."""
    if value is MISSING:
        return "(missing)"
    if value is None:
        return "null"
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, str) else value
    if len(text) > limit:
        text = text[: max(limit - 1, 1)] + "…"
    return _quote(text) if isinstance(value, str) else text


def _quote(text: str) -> str:
    # Quotes without escaping inner quotes (a JSON answer stays readable); line breaks stay visible as \n.
    return '"' + text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t") + '"'


def shorten(text: str, limit: int) -> str:
    """Collapse whitespace and cut to `limit` characters with an ellipsis (for prose such as messages)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_output(text: str | None, limit: int = 100) -> str:
    """`clip` for a model's output, saying so when there was none."""
    return "no output" if text is None else clip(text, limit)


def excerpt(text: str, start: int, end: int, width: int = 25) -> str:
    """The text around `text[start:end]`, with ellipses where it was cut, in double quotes."""
    lo, hi = max(start - width, 0), min(end + width, len(text))
    body = ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < len(text) else "")
    return _quote(body)


def lookup(data: Any, path: str) -> Any:
    """Follow a dotted path (`customer.address.city`, `items.0.sku`) into parsed JSON; `MISSING` if absent.

    A key that itself contains dots is found when it matches the whole path at the top level.
    """
    if isinstance(data, dict) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def same_value(expected: Any, actual: Any, *, case_sensitive: bool = True) -> bool:
    """JSON equality: `1 == 1.0`, but `true` is not `1`; strings optionally compared without case."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, str) and isinstance(actual, str):
        return expected == actual if case_sensitive else expected.casefold() == actual.casefold()
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same_value(v, actual[k], case_sensitive=case_sensitive) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same_value(e, a, case_sensitive=case_sensitive) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return type(expected) is type(actual) and bool(expected == actual)
