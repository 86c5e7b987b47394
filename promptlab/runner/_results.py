"""The run directory: `run.json`, the exact artifact and cases, and `results.jsonl` written as results arrive.

A run directory holds::

    run.json        RunManifest: artifact hash, dataset hash, evaluator specs, provider, versions, times
    artifact.json   the artifact exactly as run
    cases.jsonl     the cases exactly as run
    results.jsonl   one CaseResult per line (case x repeat), appended as each finishes

The runner builds each row as a `CaseResult` while the case runs; readers get it back as a frozen `ResultRow`.
`read_results` and `RunDir.rows()` still return plain dicts for readers not moved to `ResultRow` yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import Field

from promptlab._util.files import load_model
from promptlab._util.models import StrictModel
from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case, Dataset
from promptlab.errors import FileFormatError, InputError

__all__ = [
    "CaseResult",
    "EvalOutcome",
    "ResultRow",
    "ResultsWriter",
    "RunDir",
    "RunManifest",
    "load_run",
    "read_result_rows",
    "read_results",
]

MANIFEST = "run.json"
ARTIFACT = "artifact.json"
CASES = "cases.jsonl"
RESULTS = "results.jsonl"

Outcome = Literal["pass", "fail", "error", "evaluator_error"]


class ArtifactRef(StrictModel):
    """Which artifact ran."""

    name: str
    version: str
    hash: str
    path: str | None = None


class RunManifest(StrictModel):
    """`run.json`: everything needed to know what ran and to judge whether two runs are comparable."""

    format_version: Literal[1] = 1
    """Version of the run-directory format."""
    run_id: str
    """Unique id of this run."""
    artifact: ArtifactRef
    """The artifact that ran."""
    suite: dict[str, Any]
    """The suite's name, path, datasets and suite-level evaluator specs."""
    dataset_hash: str
    """Content hash of all cases that ran."""
    case_count: int
    """Number of cases."""
    evaluators: list[Any]
    """Every evaluator spec that ran, suite-level first, as written back to YAML."""
    evaluators_hash: str
    """Hash of the evaluator specs, suite and per-case."""
    provider: Any
    """The provider spec (never a key)."""
    cache_mode: str = "off"
    """read-write, read-only or off."""
    repeats: int = Field(default=1, ge=1)
    """How many times each case ran."""
    concurrency: int = Field(default=1, ge=1)
    """Maximum requests in flight."""
    package_versions: dict[str, str] = Field(default_factory=dict)
    """Versions of promptlab and its key dependencies."""
    python: str = ""
    """Python version."""
    git_commit: str | None = None
    """Commit of the working tree the run started from, if any."""
    started_at: str
    """ISO 8601 UTC start."""
    finished_at: str | None = None
    """ISO 8601 UTC end, once complete."""
    status: Literal["running", "complete", "interrupted"] = "running"
    """Whether every case x repeat has a row."""
    baseline_run: str | None = None
    """Baseline run directory used by relative evaluators (e.g. verbosity ratio), if any."""


@dataclass(kw_only=True)
class EvalOutcome:
    """One evaluator's verdict on one result."""

    passed: bool | None = None
    score: float | None = None
    reason: str = ""
    error: str | None = None
    """Set when the evaluator itself raised: the outcome is then `evaluator_error`."""


@dataclass(kw_only=True)
class CaseResult:
    """One row of `results.jsonl`: one case, one repeat."""

    case_id: str
    repeat: int = 0
    segment: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Each call: name, arguments (as written), and the canned `result` or `error` returned to the model."""
    finish_reason: str | None = None
    turns: int = 0
    """Model calls made for this case (more than one when tools were called)."""
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    """True when every model call was served from the response cache."""
    error: dict[str, str] | None = None
    """`{kind, message}` when the model call failed for good."""
    evaluations: dict[str, EvalOutcome] = field(default_factory=dict)
    outcome: Outcome = "pass"

    def to_json(self) -> bytes:
        """One JSON line (orjson serialises the dataclass natively: no deep copy on the per-row path)."""
        return orjson.dumps(self, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        """Rebuild from a parsed line."""
        data = dict(data)
        data["evaluations"] = {k: EvalOutcome(**v) for k, v in (data.get("evaluations") or {}).items()}
        return cls(**data)


@dataclass(kw_only=True, frozen=True, slots=True)
class ResultRow:
    """One row of `results.jsonl` as read back: one case, one repeat (the fields of `CaseResult`)."""

    case_id: str
    repeat: int = 0
    segment: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Each call: name, arguments (as written), and the canned `result` or `error` returned to the model."""
    finish_reason: str | None = None
    turns: int = 0
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    error: dict[str, str] | None = None
    """`{kind, message}` when the model call failed for good."""
    evaluations: dict[str, EvalOutcome] = field(default_factory=dict)
    outcome: Outcome = "pass"

    @property
    def passed(self) -> bool:
        """The row's outcome is `pass`."""
        return self.outcome == "pass"

    @property
    def error_kind(self) -> str | None:
        """The model-call error's kind, when the call failed for good."""
        return self.error.get("kind", "error") if self.error else None

    @property
    def tool_failed(self) -> bool:
        """A tool call in this row returned an error to the model."""
        return any(c.get("error") for c in self.tool_calls)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultRow:
        """Build from a parsed `results.jsonl` line (missing optional fields take their defaults)."""
        values = dict(data)
        values["evaluations"] = {k: EvalOutcome(**v) for k, v in (values.get("evaluations") or {}).items()}
        for key in ("segment", "tags", "vars", "tool_calls"):
            if values.get(key) is None:
                values.pop(key, None)
        return cls(**values)

    def to_json(self) -> bytes:
        """One JSON line, byte for byte what `CaseResult.to_json` writes for the same values."""
        return orjson.dumps(self, option=orjson.OPT_APPEND_NEWLINE)


def read_result_rows(path: Path, *, repair: bool = False) -> list[ResultRow]:
    """Read `results.jsonl` as typed rows (a torn last line is dropped, and with `repair` cut, as in `read_results`).

    Raises:
        FileFormatError: a row that is not an object with the fields of a result row (names its position).
    """
    rows = []
    for number, data in enumerate(read_results(path, repair=repair), start=1):
        try:
            rows.append(ResultRow.from_json(data))
        except (TypeError, ValueError, AttributeError) as exc:
            raise FileFormatError(path, f"result row {number}: not a result row ({exc})") from None
    return rows


def read_results(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Read `results.jsonl`. A torn last line (the process was killed mid-write) is dropped, and with `repair`
    cut from the file so appends continue cleanly; a malformed line elsewhere is an error naming it."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows: list[dict[str, Any]] = []
    good_end = 0
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        last = number == len(lines)
        if not line.strip():
            if not last:
                good_end += len(line) + 1
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            if last or (number == len(lines) - 1 and not lines[-1]):
                break
            raise FileFormatError(path, f"line {number}: malformed result row") from None
        good_end += len(line) + (0 if last else 1)
    if repair and good_end < len(raw):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
            if good_end and raw[good_end - 1 : good_end] != b"\n":
                fh.seek(good_end)
                fh.write(b"\n")
    return rows


class ResultsWriter:
    """Appends result rows as they arrive, flushed so a killed process loses at most the row being written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = path.open("ab")

    def write(self, result: CaseResult) -> None:
        """Append one row."""
        self._fh.write(result.to_json())
        self._fh.flush()

    def close(self) -> None:
        """Flush to disk and close."""
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


@dataclass(kw_only=True)
class RunDir:
    """A run directory opened for reading."""

    path: Path
    manifest: RunManifest
    artifact: PromptArtifact
    dataset: Dataset

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open and validate a run directory."""
        p = Path(path)
        if not (p / MANIFEST).is_file():
            raise InputError(f"{p}: not a run directory (no {MANIFEST})")
        manifest = load_model(p / MANIFEST, RunManifest)
        artifact = PromptArtifact.from_data(orjson.loads((p / ARTIFACT).read_bytes()), source=str(p / ARTIFACT))
        cases = [Case.model_validate(orjson.loads(line)) for line in (p / CASES).read_bytes().splitlines() if line]
        return cls(path=p, manifest=manifest, artifact=artifact, dataset=Dataset(cases=cases))

    def rows(self) -> list[dict[str, Any]]:
        """The raw result rows."""
        return read_results(self.path / RESULTS)

    def result_rows(self) -> list[ResultRow]:
        """The result rows, typed."""
        return read_result_rows(self.path / RESULTS)

    def frame(self) -> Any:
        """Results as a DataFrame, see `load_run`."""
        return results_frame(self.result_rows())


def results_frame(rows: Sequence[ResultRow | Mapping[str, Any]]) -> Any:
    """Flatten rows (typed, or as parsed from `results.jsonl`) into a DataFrame sorted by case and repeat.

    Columns: case_id, repeat, output, latency_s, input_tokens, output_tokens, cost_usd, cached, outcome, passed,
    error_kind, error_message, n_tool_calls, tool_sequence, tags, `segment.<dim>` per dimension,
    `eval.<label>.passed` / `.score` / `.reason` / `.error` per evaluator, and, when the run has repeats, a
    boolean `varies` (the case's outcome differs across its repeats).
    """
    import pandas as pd

    flat = []
    for item in rows:
        r = item if isinstance(item, ResultRow) else ResultRow.from_json(item)
        error = r.error or {}
        row: dict[str, Any] = {
            "case_id": r.case_id,
            "repeat": r.repeat,
            "output": r.output,
            "finish_reason": r.finish_reason,
            "turns": r.turns,
            "latency_s": r.latency_s,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost_usd,
            "cached": r.cached,
            "outcome": r.outcome,
            "passed": r.passed,
            "error_kind": error.get("kind"),
            "error_message": error.get("message"),
            "n_tool_calls": len(r.tool_calls),
            "tool_sequence": [c["name"] for c in r.tool_calls],
            "tags": list(r.tags),
            "vars": r.vars,
        }
        for dim, value in r.segment.items():
            row[f"segment.{dim}"] = value
        for label, ev in r.evaluations.items():
            row[f"eval.{label}.passed"] = ev.passed
            row[f"eval.{label}.score"] = ev.score
            row[f"eval.{label}.reason"] = ev.reason
            row[f"eval.{label}.error"] = ev.error
        flat.append(row)
    frame = pd.DataFrame(flat)
    if not frame.empty:
        frame = frame.sort_values(["case_id", "repeat"], kind="stable").reset_index(drop=True)
        if frame["repeat"].max() > 0:
            # With repeats, flag cases whose outcome is not the same every time (non-determinism).
            frame["varies"] = frame.groupby("case_id")["outcome"].transform("nunique") > 1
    return frame


def load_run(path: str | Path) -> Any:
    """Load a run directory's results as a pandas DataFrame (one row per case and repeat)."""
    return RunDir.open(path).frame()
