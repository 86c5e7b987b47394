"""Loading datasets from JSONL, YAML and JSON files or directories of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from promptlab._util.canonical import content_hash
from promptlab._util.files import (
    MultiFileFormatError,
    parse_json,
    parse_text,
    read_text,
    strict_validate,
    validation_problems,
)
from promptlab.datasets._model import Case
from promptlab.errors import FileFormatError, InputError

__all__ = ["Dataset", "load_dataset"]

SUFFIXES = (".jsonl", ".yaml", ".yml", ".json")


@dataclass(kw_only=True)
class Dataset:
    """A validated set of cases with unique ids, and where each came from."""

    cases: list[Case]
    sources: dict[str, str] = field(default_factory=dict)
    """Case id -> `file:line` or `file:cases[i]`."""
    origins: dict[str, str] = field(default_factory=dict)
    """Case id -> the dataset path (as given in the suite) it came from."""

    def __post_init__(self) -> None:
        self._by_id = {c.id: c for c in self.cases}

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __getitem__(self, case_id: str) -> Case:
        return self._by_id[case_id]

    @cached_property
    def content_hash(self) -> str:
        """Stable hash of the cases' content, independent of file layout and case order."""
        return content_hash(sorted((c.model_dump(mode="json") for c in self.cases), key=lambda d: d["id"]))

    def segment_dimensions(self) -> list[str]:
        """Every segment dimension used by some case, sorted."""
        return sorted({k for c in self.cases for k in c.segment})

    def to_frame(self) -> Any:
        """The cases as a pandas DataFrame (one row per case, one column per segment dimension)."""
        import pandas as pd

        rows = []
        for c in self.cases:
            row: dict[str, Any] = {"case_id": c.id, "tags": list(c.tags), "source": self.sources.get(c.id, "")}
            row.update({f"segment.{k}": v for k, v in c.segment.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    @classmethod
    def merge(cls, parts: list[Dataset]) -> Dataset:
        """Merge datasets; a duplicate id is an error naming both places."""
        cases: list[Case] = []
        sources: dict[str, str] = {}
        origins: dict[str, str] = {}
        for part in parts:
            for case in part.cases:
                where = part.sources.get(case.id, "?")
                if case.id in sources:
                    raise InputError(f"duplicate case id '{case.id}': {sources[case.id]} and {where}")
                sources[case.id] = where
                origins[case.id] = part.origins.get(case.id, "")
                cases.append(case)
        return cls(cases=cases, sources=sources, origins=origins)


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (location, raw record) pairs from one file."""
    text = read_text(path)
    if path.suffix.lower() == ".jsonl":
        # Split on newlines only: str.splitlines would also split inside a line at U+2028 and friends.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            yield f"line {number}", parse_json(path, line, where=f"line {number}")
        return
    data = parse_text(path, text)
    if isinstance(data, dict) and set(data) == {"cases"}:
        data = data["cases"]
    if data is None:
        return
    if not isinstance(data, list):
        raise FileFormatError(path, "expected a list of cases (or a mapping with a single `cases` key)")
    for i, record in enumerate(data):
        yield f"cases[{i}]", record


def _load_file(path: Path, origin: str) -> Dataset:
    cases: list[Case] = []
    sources: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for location, record in _records(path):
        if not isinstance(record, dict):
            problems.append((location, f"expected a mapping for a case, got {type(record).__name__}"))
            continue
        try:
            case = strict_validate(Case, record)
        except ValidationError as exc:
            label = f"{location} (id {record['id']!r})" if isinstance(record.get("id"), str) else location
            problems += [(f"{label}: {f}", m) for f, m in validation_problems(exc)]
            continue
        where = f"{path}:{location}"
        if case.id in sources:
            raise InputError(f"duplicate case id '{case.id}': {sources[case.id]} and {where}")
        sources[case.id] = where
        cases.append(case)
    if problems:
        raise MultiFileFormatError(path, problems)
    return Dataset(cases=cases, sources=sources, origins={c.id: origin for c in cases})


def load_dataset(path: str | Path, *, allow_empty: bool = False) -> Dataset:
    """Load cases from a file or from every JSONL/YAML/JSON file under a directory.

    Raises:
        FileFormatError: a file is malformed or a case is invalid (names file, line and field).
        InputError: duplicate ids (names both places) or an empty dataset.
    """
    p = Path(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES) if is_dir else []
    except (OSError, ValueError) as exc:
        raise FileFormatError(p, f"cannot read the dataset ({getattr(exc, 'strerror', None) or exc})") from None
    if not exists:
        raise FileFormatError(p, "dataset not found (expected a file or a directory of case files)")
    if not is_dir:
        if p.suffix.lower() not in SUFFIXES:
            raise FileFormatError(p, f"expected a dataset file ending in {', '.join(SUFFIXES)}")
        files = [p]
    dataset = Dataset.merge([_load_file(f, str(path)) for f in files])
    if not dataset.cases and not allow_empty:
        raise InputError(f"{p}: empty dataset (expected at least one case)")
    return dataset
