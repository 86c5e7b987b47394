"""Reading the compared runs' results, when both run directories are still on disk and unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptlab._util.canonical import sha256_hex
from promptlab.errors import PromptlabError

__all__ = ["Rows", "passed", "rate", "rows_of"]

Rows = dict[str, list[dict[str, Any]]]
"""Result rows by case id, each case's repeats in order."""


def rows_of(run_dir: str, files: Mapping[str, str], side: str, notes: list[str]) -> Rows | None:
    from promptlab.runner import read_results

    path = Path(run_dir) / "results.jsonl"
    if not path.is_file():
        notes.append(f"{side} run directory {run_dir} is not available: evidence comes from the comparison only")
        return None
    try:
        data = path.read_bytes()
        if "sha256:" + sha256_hex(data) != files.get("results.jsonl"):
            notes.append(f"{side} results changed since the comparison ({path}): evidence comes from the comparison")
            return None
        rows = read_results(path)
    except (OSError, PromptlabError) as exc:
        notes.append(f"{side} results could not be read ({exc}): evidence comes from the comparison only")
        return None
    by_case: Rows = {}
    for row in rows:
        by_case.setdefault(str(row["case_id"]), []).append(row)
    for case_rows in by_case.values():
        case_rows.sort(key=lambda r: int(r.get("repeat", 0)))
    return by_case


def passed(row: Mapping[str, Any]) -> bool:
    return row.get("outcome") == "pass"


def rate(rows: Sequence[Mapping[str, Any]]) -> float | None:
    return sum(passed(r) for r in rows) / len(rows) if rows else None
