"""Hypothesis strategies for fuzzing file loaders, shared by every area's fuzz tests.

`documents(base, fmt=...)` yields file bytes: arbitrary JSON-ish values, mutations of a real example (keys dropped,
duplicated or given the wrong type, deep nesting, huge strings, odd unicode, NUL bytes) and raw text damage.
`check_outcome` states the contract: a loader returns a value or raises a `PromptlabError` whose message is one
line (a `MultiFileFormatError`: one line per problem, each naming the file).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from promptlab._util.files import MultiFileFormatError
from promptlab.errors import FileFormatError, PromptlabError

Format = Literal["json", "yaml", "jsonl"]

FUZZ_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
"""Bounded and repeatable: every property runs the same examples on every machine, in a few seconds."""

ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\u2028", "\ufeff", "\ud7ff", "é", "\U0001f600", "\n\n", "---", "~", "null", "&a", "*a"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    ODD_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
"""Arbitrary JSON-like values (with NaN/inf and odd strings)."""


def nested(depth: int) -> Any:
    """A value nested `depth` levels deep, built without recursion."""
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


SPECIAL_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from([True, False, "1", 1.5, -1, 0, 10**30, "x" * 20_000, "\x00", []]),
    st.integers(min_value=60, max_value=300).map(nested),
)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` (a parsed example) with a few keys dropped, replaced by odd values, or added."""
    value = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = value
        # Walk a random path into the document, then damage one spot.
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            children = (
                list(target.items())
                if isinstance(target, dict)
                else list(enumerate(target))
                if isinstance(target, list)
                else []
            )
            children = [(k, v) for k, v in children if isinstance(v, (dict, list))]
            if not children:
                break
            target = draw(st.sampled_from(children))[1]
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            action = draw(st.sampled_from(["drop", "replace", "add"]))
            if action == "drop":
                del target[key]
            elif action == "replace":
                target[key] = draw(SPECIAL_VALUES)
            else:
                target[draw(st.text(max_size=10))] = draw(SPECIAL_VALUES)
        elif isinstance(target, list) and target:
            target[draw(st.integers(min_value=0, max_value=len(target) - 1))] = draw(SPECIAL_VALUES)
    return value


def dump(value: Any, fmt: Format) -> bytes:
    """Serialise as the format would be written (JSONL: one record per line when given a list)."""
    if fmt == "yaml":
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
    if fmt == "jsonl" and isinstance(value, list):
        return b"\n".join(json.dumps(v).encode() for v in value)
    return json.dumps(value).encode()


@st.composite
def damaged(draw: st.DrawFn, text: bytes) -> bytes:
    """Raw damage to a file's bytes: a duplicated line, an insertion, a truncation or an odd prefix."""
    lines = text.split(b"\n")
    action = draw(st.sampled_from(["dup", "insert", "truncate", "prefix", "deep"]))
    if action == "dup" and lines:
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines.insert(i, lines[i])
        return b"\n".join(lines)
    at = draw(st.integers(min_value=0, max_value=len(text)))
    if action == "insert":
        junk = draw(
            st.sampled_from([b"\x00", b"\xff\xfe", b": :", b"- [", b"{", b"&a *a", b"!!python/object:os.system", b"\t"])
        )
        return text[:at] + junk + text[at:]
    if action == "truncate":
        return text[:at]
    if action == "prefix":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"%YAML 1.1\n---\n", b"--- !!set\n", b"\x00"])) + text
    depth = draw(st.integers(min_value=60, max_value=5000))
    return b"[" * depth + b"]" * depth


def documents(base: Any, *, fmt: Format) -> st.SearchStrategy[bytes]:
    """File contents for a loader whose real example parses to `base`."""
    return st.one_of(
        JSON_VALUES.map(lambda v: dump(v, fmt)),
        mutated(base).map(lambda v: dump(v, fmt)),
        damaged(dump(base, fmt)),
    )


def check_outcome(exc: BaseException | None) -> None:
    """Assert the loader contract for one input: success, or one clear `PromptlabError` line per problem."""
    if exc is None:
        return
    assert isinstance(exc, PromptlabError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), "empty error message"
    if isinstance(exc, MultiFileFormatError):
        shown = exc.shown_path
        assert all(line.startswith(shown) for line in message.splitlines()), message
    else:
        assert "\n" not in message and "\r" not in message, message
    if isinstance(exc, FileFormatError):
        assert exc.shown_path in message
