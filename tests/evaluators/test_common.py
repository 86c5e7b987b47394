"""Reason formatting and dotted-path lookup shared by the built-ins."""

from __future__ import annotations

from promptlab.evaluators._common import MISSING, clip, clip_output, excerpt, lookup, same_value, shorten


def test_clip_quotes_text_and_cuts_long_values_with_an_ellipsis() -> None:
    assert clip("ok") == '"ok"'
    assert clip("x" * 100, 10) == '"' + "x" * 9 + '…"'
    assert clip({"a": [1, 2]}) == '{"a":[1,2]}'
    assert clip(None) == "null" and clip(MISSING) == "(missing)"
    assert clip_output(None) == "no output"


def test_excerpt_marks_both_cut_ends() -> None:
    text = "a" * 50 + "NEEDLE" + "b" * 50
    assert excerpt(text, 50, 56, width=3) == '"…aaaNEEDLEbbb…"'
    assert excerpt("short", 0, 5) == '"short"'


def test_shorten_collapses_whitespace() -> None:
    assert shorten("a  b\n c", 10) == "a b c"
    assert shorten("abcdefghij", 5) == "abcd…"


def test_lookup_follows_dotted_paths_through_objects_and_lists() -> None:
    data = {"order": {"lines": [{"sku": "A1"}], "note": None}, "a.b": 1}
    assert lookup(data, "order.lines.0.sku") == "A1"
    assert lookup(data, "order.note") is None
    assert lookup(data, "a.b") == 1
    assert lookup(data, "order.lines.1.sku") is MISSING
    assert lookup(data, "order.lines.x") is MISSING
    assert lookup("text", "a") is MISSING


def test_same_value_is_json_equality() -> None:
    assert same_value(1, 1.0)
    assert not same_value(True, 1) and not same_value(1, True)
    assert not same_value("1", 1)
    assert same_value({"a": ["X"]}, {"a": ["x"]}, case_sensitive=False)
    assert not same_value({"a": 1}, {"a": 1, "b": 2})
    assert not same_value([1], [1, 2])
    assert same_value(None, None) and not same_value(None, 0)


def test_clip_keeps_json_answers_readable_and_line_breaks_visible() -> None:
    assert clip('{"reply": "hi"}\nthanks') == '"{"reply": "hi"}\\nthanks"'
