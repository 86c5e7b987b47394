"""Reading the compared runs' results, when both run directories are still on disk and unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from promptlab._util.canonical import sha256_hex
from promptlab.errors import PromptlabError
from promptlab.runner import ResultRow, read_result_rows

__all__ = ["Rows", "passed", "rate", "rows_of"]

Rows = dict[str, list[ResultRow]]
"""Result rows by case id, each case's repeats in order."""


def rows_of(run_dir: str, files: Mapping[str, str], side: str, notes: list[str]) -> Rows | None:
    path = Path(run_dir) / "results.jsonl"
    if not path.is_file():
        notes.append(f"{side} run directory {run_dir} is not available: evidence comes from the comparison only")
        return None
    try:
        data = path.read_bytes()
        if "sha256:" + sha256_hex(data) != files.get("results.jsonl"):
            notes.append(f"{side} results changed since the comparison ({path}): evidence comes from the comparison")
            return None
        rows = read_result_rows(path)
    except (OSError, PromptlabError) as exc:
        notes.append(f"{side} results could not be read ({exc}): evidence comes from the comparison only")
        return None
    by_case: Rows = {}
    for row in rows:
        by_case.setdefault(row.case_id, []).append(row)
    for case_rows in by_case.values():
        case_rows.sort(key=lambda r: r.repeat)
    return by_case


def passed(row: ResultRow) -> bool:
    """The row passed (for `map`/`all` over rows)."""
    return row.passed


def rate(rows: Sequence[ResultRow]) -> float | None:
    """Share of rows that passed, or `None` for no rows."""
    return sum(r.passed for r in rows) / len(rows) if rows else None
