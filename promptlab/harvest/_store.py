"""The `regression_cases/` directory: harvested cases that never get lost, and occurrence counts that never double.

Layout (everything a plain dataset directory, so `load_dataset` and suites read it as is)::

    regression_cases/
      harvest-unexpected_refusal.jsonl     one Case per line, per detector (managed by harvest)
      harvest-wrong_tool_sequence.jsonl
      ...
      harvest-ledger.tsv                   every counted occurrence: case_id, request_id, detector, version,
                                           timestamp, source, harvested_at (tab-separated, append-only)
      anything-else.yaml                   your own cases: read for their ids, never written

Rules:

- The ledger is append-only and is the truth for counts: an occurrence (case id, request id) is counted once, so
  harvesting the same logs again adds nothing.
- A case file is only ever rewritten atomically (temp file, fsync, rename) and line-preserving: lines of cases
  whose counts did not change are kept byte for byte, every existing line is kept, new cases are appended. Only
  `metadata.harvest` counters (occurrences, versions, first/last seen, request ids, updated_at) of a harvested
  case change; edits you made to a case's vars, expected or evaluators stay.
- A case id that already exists anywhere in the directory (say you moved a case into your own file) is never
  written again; its new occurrences only go to the ledger.
- Ledger first, then case files: a crash in between leaves counts that the next run completes, never a lost case.
- A lock file (`.harvest.lock`) keeps two harvests from writing at once.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from promptlab._util.files import atomic_write, parse_json, strict_validate, validation_problems
from promptlab.datasets import Case, load_dataset
from promptlab.errors import FileFormatError

__all__ = ["LEDGER_NAME", "CaseDraft", "Occurrence", "RegressionStore", "StorePlan", "case_file_name"]

LEDGER_NAME = "harvest-ledger.tsv"
LEDGER_COLUMNS = ("case_id", "request_id", "detector", "version", "timestamp", "source", "harvested_at")
LOCK_NAME = ".harvest.lock"


def case_file_name(detector: str) -> str:
    """The managed case file of a detector."""
    return f"harvest-{detector}.jsonl"


@dataclass(kw_only=True, slots=True)
class Occurrence:
    """One counted failure: a request that produced a case."""

    case_id: str
    request_id: str
    detector: str
    version: str
    timestamp: str
    source: str
    harvested_at: str

    def row(self) -> list[str]:
        """The ledger row."""
        return [getattr(self, c) for c in LEDGER_COLUMNS]


@dataclass(kw_only=True)
class CaseDraft:
    """A case this run would create, with the occurrences found for it."""

    case: Case
    detector: str
    occurrences: list[Occurrence]


@dataclass(kw_only=True)
class StorePlan:
    """What applying a harvest changes."""

    new_cases: list[Case] = field(default_factory=list)
    updated: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Case id -> (occurrences before, after) for existing cases that gained occurrences."""
    new_occurrences: list[Occurrence] = field(default_factory=list)
    known_occurrences: int = 0
    """Occurrences found again that the ledger already counts."""
    files: list[str] = field(default_factory=list)
    """Case files that would be written (names inside the directory)."""

    @property
    def empty(self) -> bool:
        """Whether applying the plan changes nothing."""
        return not self.new_cases and not self.new_occurrences


@dataclass(kw_only=True)
class _Line:
    raw: bytes
    case: Case


class RegressionStore:
    """Reads and writes a regression-cases directory (see the module docstring for the rules)."""

    def __init__(self, root: str | Path, *, max_request_ids: int = 20) -> None:
        self.root = Path(root)
        self.max_request_ids = max_request_ids
        self._ids: set[str] = set()
        self._managed: dict[str, list[_Line]] = {}
        self._ledger: list[Occurrence] = []
        self._by_case: dict[str, list[Occurrence]] = {}

    @property
    def ledger_path(self) -> Path:
        """Where the ledger lives."""
        return self.root / LEDGER_NAME

    def load(self) -> None:
        """Read every case id in the directory, the managed case files and the ledger; validate them all."""
        self._ids, self._managed, self._ledger, self._by_case = set(), {}, [], {}
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise FileFormatError(self.root, "expected a directory for regression cases")
        self._ids = {c.id for c in load_dataset(self.root, allow_empty=True).cases}
        for path in sorted(self.root.glob("harvest-*.jsonl")):
            self._managed[path.name] = list(_read_cases(path))
        self._ledger = list(_read_ledger(self.ledger_path)) if self.ledger_path.exists() else []
        for o in self._ledger:
            self._by_case.setdefault(o.case_id, []).append(o)

    def plan(self, drafts: list[CaseDraft]) -> StorePlan:
        """Decide what is new (cases, occurrences) and which counts change; nothing is written."""
        counted = {(o.case_id, o.request_id) for o in self._ledger}
        per_case: dict[str, int] = {}
        for o in self._ledger:
            per_case[o.case_id] = per_case.get(o.case_id, 0) + 1
        plan = StorePlan()
        files: set[str] = set()
        where = {line.case.id: name for name, lines in self._managed.items() for line in lines}
        for draft in drafts:
            fresh = [o for o in draft.occurrences if (o.case_id, o.request_id) not in counted]
            plan.known_occurrences += len(draft.occurrences) - len(fresh)
            counted.update((o.case_id, o.request_id) for o in fresh)
            plan.new_occurrences += fresh
            case_id = draft.case.id
            if case_id not in self._ids:
                plan.new_cases.append(draft.case)
                files.add(case_file_name(draft.detector))
            elif fresh:
                before = per_case.get(case_id, 0)
                plan.updated[case_id] = (before, before + len(fresh))
                if case_id in where:
                    files.add(where[case_id])
        plan.files = sorted(files)
        return plan

    def apply(self, plan: StorePlan, *, updated_at: str) -> list[Path]:
        """Write the plan: ledger rows first, then each changed case file atomically. Returns the files written."""
        if plan.empty:
            return []
        self.root.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        with self._lock():
            self.load()  # another harvest may have written since `plan`; re-read under the lock
            counted = {(o.case_id, o.request_id) for o in self._ledger}
            rows = [o for o in plan.new_occurrences if (o.case_id, o.request_id) not in counted]
            if rows:
                self._append_ledger(rows)
                written.append(self.ledger_path)
            new_by_file: dict[str, list[Case]] = {}
            for case in plan.new_cases:
                if case.id not in self._ids:
                    detector = str(case.metadata.get("harvest", {}).get("detector", "unknown"))
                    new_by_file.setdefault(case_file_name(detector), []).append(case)
            touched = {o.case_id for o in rows}
            for name in sorted(
                set(new_by_file) | {n for n, ls in self._managed.items() if any(x.case.id in touched for x in ls)}
            ):
                path = self.root / name
                lines = self._managed.get(name, [])
                out = io.BytesIO()
                for line in lines:
                    if line.case.id in touched and _is_harvested(line.case):
                        out.write(_dump(self._with_counts(line.case, [], updated_at)))
                    else:
                        out.write(line.raw.rstrip(b"\r\n") + b"\n")
                for case in new_by_file.get(name, []):
                    out.write(_dump(self._with_counts(case, [], updated_at)))
                atomic_write(path, out.getvalue(), durable=True)
                written.append(path)
        return written

    def counts_for(self, case: Case, extra: list[Occurrence], updated_at: str) -> Case:
        """The case with provenance counters computed from the ledger plus `extra` (this case's new occurrences)."""
        return self._with_counts(case, extra, updated_at)

    def _with_counts(self, case: Case, extra: list[Occurrence], updated_at: str) -> Case:
        counted = {o.request_id for o in self._by_case.get(case.id, [])}
        fresh = [o for o in extra if o.case_id == case.id and o.request_id not in counted]
        rows = sorted([*self._by_case.get(case.id, []), *fresh], key=lambda o: (o.timestamp, o.request_id))
        if not rows:
            return case
        harvest = dict(case.metadata.get("harvest", {}))
        versions: dict[str, int] = {}
        for o in rows:
            versions[o.version] = versions.get(o.version, 0) + 1
        harvest.update(
            occurrences=len(rows),
            versions=dict(sorted(versions.items())),
            first_seen=rows[0].timestamp,
            last_seen=rows[-1].timestamp,
            request_ids=[o.request_id for o in rows[: self.max_request_ids]],
            updated_at=updated_at,
        )
        return case.model_copy(update={"metadata": {**case.metadata, "harvest": harvest}})

    def _append_ledger(self, rows: list[Occurrence]) -> None:
        fresh = not self.ledger_path.exists()
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
        if fresh:
            writer.writerow(LEDGER_COLUMNS)
        for o in rows:
            writer.writerow(o.row())
        with self.ledger_path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        self._ledger += rows
        for o in rows:
            self._by_case.setdefault(o.case_id, []).append(o)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / LOCK_NAME).open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _is_harvested(case: Case) -> bool:
    return isinstance(case.metadata.get("harvest"), dict)


def _dump(case: Case) -> bytes:
    return orjson.dumps(case.model_dump(mode="json", exclude_defaults=True)) + b"\n"


def _read_cases(path: Path) -> Iterator[_Line]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            data: Any = parse_json(path, raw, where=f"line {number}")
            try:
                case = strict_validate(Case, data)
            except ValidationError as exc:
                f, m = validation_problems(exc)[0]
                raise FileFormatError(path, f"line {number}: {f}: {m}") from None
            yield _Line(raw=raw, case=case)


def _read_ledger(path: Path) -> Iterator[Occurrence]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if number == 1:
                if tuple(row) != LEDGER_COLUMNS:
                    raise FileFormatError(path, f"line 1: expected the header {' '.join(LEDGER_COLUMNS)}")
                continue
            if not row:
                continue
            if len(row) != len(LEDGER_COLUMNS):
                raise FileFormatError(
                    path, f"line {number}: expected {len(LEDGER_COLUMNS)} tab-separated columns, got {len(row)}"
                )
            yield Occurrence(**dict(zip(LEDGER_COLUMNS, row, strict=True)))
