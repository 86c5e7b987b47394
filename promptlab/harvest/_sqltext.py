"""Small helpers that write DuckDB SQL mirroring a Python computation exactly (literals, words, JSON bodies)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "PY_WHITESPACE",
    "WORD_RE2",
    "count_words",
    "json_path",
    "lit",
    "lit_list",
    "sql_json_body",
    "sql_words",
]

PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
"""Exactly the characters `str.split()` and `str.strip()` treat as whitespace."""

WORD_RE2 = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]+"
"""An RE2 pattern matching one word as `str.split()` sees it."""


def count_words(text: str | None) -> int:
    """Words as every promptlab length budget counts them: `len(text.split())`."""
    return len(text.split()) if text else 0


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def lit_list(values: Iterable[str]) -> str:
    """A SQL `VARCHAR[]` literal."""
    items = [lit(v) for v in values]
    return "[" + ", ".join(items) + "]::VARCHAR[]" if items else "[]::VARCHAR[]"


def json_path(key: str) -> str:
    """A JSON path (as a SQL literal) selecting the top-level `key`, whatever its characters.

    A JSON pointer (RFC 6901), not a `$."key"` path: DuckDB's path parser rejects an empty key and misreads one
    with a newline, while a pointer only needs `~` and `/` escaped.
    """
    return lit("/" + key.replace("~", "~0").replace("/", "~1"))


def sql_words(expr: str) -> str:
    """SQL counting the words of a VARCHAR expression the way `count_words` does."""
    return f"coalesce(len(regexp_extract_all({expr}, {lit(WORD_RE2)})), 0)"


def sql_json_body(expr: str) -> str:
    """SQL for the text `parse_json_output` parses: stripped, with a Markdown code fence removed."""
    ws = lit(PY_WHITESPACE)
    b0 = f"trim({expr}, {ws})"
    b1 = (
        f"(CASE WHEN starts_with({b0}, '```') THEN (CASE WHEN strpos({b0}, chr(10)) > 0 "
        f"THEN substr({b0}, strpos({b0}, chr(10)) + 1) ELSE '' END) ELSE {b0} END)"
    )
    r1 = f"rtrim({b1}, {ws})"
    return (
        f"(CASE WHEN starts_with({b0}, '```') AND ends_with({r1}, '```') "
        f"THEN substr({r1}, 1, length({r1}) - 3) ELSE {b1} END)"
    )
