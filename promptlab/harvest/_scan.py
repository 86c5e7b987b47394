"""Reading production logs at scale: a DuckDB scan that validates every record and narrows down the candidates.

Why this shape. A million log lines must be harvested in seconds on two cores with bounded memory, yet every
malformed line must be reported with its file and line number, and the detectors' decisions must stay in plain
Python (shared with the evaluators). So the work is split:

1. **Scan (DuckDB, every core).** A helper thread cuts each JSONL file into 16 MiB chunks on newlines and hands
   DuckDB the lines as zero-copy Arrow batches with their line numbers and byte offsets (any bytes are fine: a line
   that is not UTF-8 is one malformed line). DuckDB parses each line once into a struct of JSON fragments, checks
   it against the record format (keys, types, timestamps, nested tool calls, usage, outcome: the rules of the
   pydantic models in `_records.py`, see `_scansql.py`), and keeps one compact row per line: kind (response,
   outcome, bad), request id, time, version, usual-length group and word count, inline outcome flags, and one flag
   per detector from that detector's SQL prefilter. No text is kept, so memory is the compact rows (~100 bytes
   each) plus the chunks in flight.
2. **Join (DuckDB).** The first record of a request id wins (later copies count as duplicates); late outcome
   records are joined by request id; `--since` and the policy's prompt are applied; per-group median word counts
   are computed; each detector's final prefilter picks its candidates.
3. **Decide (Python).** Only the candidate lines (plus the outcome lines that belong to them, and malformed lines
   for their messages) are read again, by byte offset, validated with the pydantic models and handed to the
   detectors' `check` (in two processes when there are thousands; see `_harvest.py`).

On the reference 2-core machine this harvests the example's million records at about 100,000 records/s, about four
times the time of merely reading and parsing the file with orjson, in under 800 MB (`benchmarks/bench_harvest.py`).

Hostile or broken input. A file that cannot be read at all (a corrupt Parquet file, a Parquet partition with
another schema, an unreadable OTLP export) is reported as unreadable and left out; the other files are still
harvested. DuckDB's memory limit is sized from the memory the machine has available and it spills to a private
temporary directory; if the engine still fails (out of memory, an internal error), the scan starts again with the
Python engine, and the report says so.

`engine="python"` skips DuckDB (except to read Parquet) and runs every record through the models and every
detector's `check`: the reference the tests compare the DuckDB engine with, and the path for small inputs.

Known difference: duplicate keys nested inside free-form values (`vars`, `metadata`, tool arguments and results)
are only noticed when such a line is examined in Python (the scan reads the first value, Python the last); at the
top level of a record both engines reject them. NaN and Infinity, which DuckDB's JSON reader accepts, are rejected
anywhere outside strings, as the JSON standard and the models do.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from promptlab.errors import FileFormatError, InputError
from promptlab.harvest._detectors import (
    GroupStats,
    group_key,
    length_text,
)
from promptlab.harvest._otlp import OtlpRecords, is_otlp_line, read_otlp
from promptlab.harvest._policy import ResolvedPolicy
from promptlab.harvest._records import (
    OUTCOME_KEYS,
    RESPONSE_KEYS,
    LogRecord,
    Outcome,
    OutcomeRecord,
    RecordError,
    parse_line,
)
from promptlab.harvest._scansql import pass1_sql, recs_ddl
from promptlab.harvest._sqltext import count_words, lit

__all__ = ["Candidate", "Malformed", "ScanResult", "Source", "default_memory_limit", "open_sources", "scan"]

CHUNK_BYTES = 16 * 1024 * 1024
LOG_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
NESTED_COLUMNS = ("segment", "vars", "messages", "tool_calls", "usage", "outcome", "metadata")
MEMORY_FRACTION = 0.5
"""Share of the machine's available memory DuckDB may use (the detectors and the forked worker need the rest)."""
MIN_MEMORY_LIMIT = 256 * 1024 * 1024


def default_memory_limit() -> int:
    """DuckDB's memory limit in bytes: half the memory available now, at least 256 MiB."""
    import psutil

    return max(MIN_MEMORY_LIMIT, int(psutil.virtual_memory().available * MEMORY_FRACTION))


@dataclass(kw_only=True)
class Source:
    """One input file."""

    index: int
    path: Path
    format: Literal["jsonl", "parquet", "otlp"]
    otlp_jsonl: bool = False
    otlp: OtlpRecords | None = None
    """For OTLP files: the records mapped from the traces."""


@dataclass(kw_only=True)
class Malformed:
    """A line (or trace) that could not be used, and why."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.source}:{self.line}: {self.message}" if self.line is not None else f"{self.source}: {self.message}"
        )


@dataclass(kw_only=True, slots=True)
class Candidate:
    """A response record that reached the detectors."""

    record: LogRecord
    outcome: Outcome
    group: GroupStats | None
    source: str
    line: int
    detectors: set[int] | None = None
    """Indices of the detectors whose prefilter selected it; `None` means all."""


@dataclass(kw_only=True)
class ScanResult:
    """What the scan found."""

    candidates: Iterable[Candidate | Malformed] = field(default_factory=list)
    """Consumed once: the DuckDB engine reads them from the files as they are iterated (a line that turns out
    malformed on this closer reading comes as a `Malformed`)."""
    size: int = 0
    """How many candidates there are."""
    partition: Callable[[int, int], Iterable[Candidate | Malformed]] | None = None
    """`partition(k, n)`: the k-th of n disjoint shares of the candidates (for detecting in parallel)."""
    malformed: list[Malformed] = field(default_factory=list)
    malformed_count: int = 0
    records: int = 0
    """Valid response records (duplicates included)."""
    duplicates: int = 0
    outcome_records: int = 0
    outcomes_joined: int = 0
    """Response records that received at least one later outcome record."""
    orphan_outcomes: int = 0
    """Outcome records whose request id matches no response."""
    other_prompts: int = 0
    before_since: int = 0
    in_scope: int = 0
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    """Records per day, version and intent (for charts)."""
    unreadable: list[Malformed] = field(default_factory=list)
    """Files left out because they could not be read at all (corrupt Parquet, another schema ...)."""
    engine: str = "duckdb"
    """The engine that produced the result (`python` after a DuckDB failure)."""
    fallback: str | None = None
    """Why the DuckDB engine gave up, when the Python engine took over."""


def open_sources(paths: Sequence[str | Path]) -> list[Source]:
    """Check the log paths (files, or directories of log files) and tell each file's format."""
    if not paths:
        raise InputError("no log files given")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in LOG_SUFFIXES)
            if not found:
                raise FileFormatError(p, f"no log files in this directory (expected {', '.join(LOG_SUFFIXES)})")
            files += found
        elif not p.exists():
            raise FileFormatError(p, "log file not found")
        elif p.suffix.lower() not in LOG_SUFFIXES:
            raise FileFormatError(p, "unsupported log file (expected .jsonl or .ndjson, .parquet, or OTLP .json)")
        else:
            files.append(p)
    sources = []
    for i, f in enumerate(files):
        suffix = f.suffix.lower()
        if suffix == ".parquet":
            sources.append(Source(index=i, path=f, format="parquet"))
        elif suffix == ".json":
            sources.append(Source(index=i, path=f, format="otlp"))
        else:
            sources.append(
                Source(index=i, path=f, format="otlp" if _first_line_is_otlp(f) else "jsonl", otlp_jsonl=True)
            )
    return sources


def _first_line_is_otlp(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    return is_otlp_line(line)
    except OSError as exc:
        raise FileFormatError(path, f"cannot read: {exc.strerror}") from None
    return False


def _load_otlp(source: Source) -> OtlpRecords:
    if source.otlp is None:
        try:
            source.otlp = read_otlp(source.path, jsonl=source.otlp_jsonl)
        except OSError as exc:
            raise FileFormatError(source.path, f"cannot read: {exc.strerror}") from None
        except MemoryError:
            raise FileFormatError(source.path, "too large to read as an OTLP JSON document") from None
    return source.otlp


class _EngineFailure(Exception):
    """DuckDB failed for a reason that is not one input file's fault (out of memory, an internal error)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) for every line, blank ones included."""
    try:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                yield number, line[:-1] if line.endswith(b"\n") else line
    except OSError as exc:
        raise FileFormatError(path, f"cannot read: {exc.strerror}") from None


def scan(
    policy: ResolvedPolicy,
    sources: list[Source],
    *,
    since: datetime | None = None,
    engine: Literal["duckdb", "python"] = "duckdb",
    max_malformed: int = 1000,
    memory_limit: int | None = None,
) -> ScanResult:
    """Read every source, validate every line, and return the records the detectors must examine.

    A file that cannot be read at all is listed in `unreadable` and left out; the others are still scanned.
    `memory_limit` caps DuckDB's memory (bytes; default `default_memory_limit()`); when the DuckDB engine fails
    anyway, the Python engine scans again and `fallback` says why.
    """
    unreadable: list[Malformed] = []
    usable: list[Source] = []
    for source in sources:
        if source.format == "otlp":
            try:
                _load_otlp(source)
            except FileFormatError as exc:
                unreadable.append(Malformed(source=str(source.path), line=None, message=exc.detail))
                continue
        usable.append(source)
    fallback = None
    if engine == "python":
        result = _PythonScan(policy, usable, since, max_malformed).run()
    else:
        limit = memory_limit if memory_limit is not None else default_memory_limit()
        try:
            result = _DuckScan(policy, usable, since, max_malformed, limit).run()
        except _EngineFailure as exc:
            fallback = str(exc)
            result = _PythonScan(policy, usable, since, max_malformed).run()
    result.engine, result.fallback = ("python" if engine == "python" or fallback else "duckdb"), fallback
    result.unreadable = unreadable + result.unreadable
    for bad in unreadable:
        result.per_source[bad.source] = {**_source_counts(), "unreadable": 1}
    for source in usable:
        if source.otlp is not None:
            for line, message in source.otlp.problems:
                result.malformed_count += 1
                result.per_source[str(source.path)]["malformed"] += 1
                if len(result.malformed) < max_malformed:
                    result.malformed.append(Malformed(source=str(source.path), line=line, message=message))
    return result


# ---------------------------------------------------------------------------------------------------------------
# The Python reference engine
# ---------------------------------------------------------------------------------------------------------------


class _PythonScan:
    def __init__(self, policy: ResolvedPolicy, sources: list[Source], since: datetime | None, cap: int) -> None:
        self.policy, self.sources, self.since, self.cap = policy, sources, since, cap

    def _lines(self, source: Source) -> Iterator[tuple[int, bytes]]:
        if source.format == "jsonl":
            yield from _iter_lines(source.path)
        elif source.format == "otlp":
            for i, record in enumerate(_load_otlp(source).records, start=1):
                yield i, orjson.dumps(record)
        else:
            yield from _parquet_lines(source.path)

    def run(self) -> ScanResult:
        result = ScanResult()
        responses: dict[str, tuple[LogRecord, str, int]] = {}
        late: dict[str, list[Outcome]] = {}
        outcome_ids: list[str] = []
        for source in self.sources:
            # A file is used whole or not at all: its lines are kept aside until it has been read to the end.
            counts = _source_counts()
            bad: list[Malformed] = []
            parsed: list[tuple[int, LogRecord | OutcomeRecord]] = []
            try:
                for number, raw in self._lines(source):
                    if not raw.strip():
                        continue
                    counts["lines"] += 1
                    try:
                        parsed.append((number, parse_line(raw)))
                    except RecordError as exc:
                        counts["malformed"] += 1
                        if len(result.malformed) + len(bad) < self.cap:
                            bad.append(_malformed(source, number, str(exc)))
            except FileFormatError as exc:
                result.unreadable.append(Malformed(source=str(source.path), line=None, message=exc.detail))
                result.per_source[str(source.path)] = {**_source_counts(), "unreadable": 1}
                continue
            result.per_source[str(source.path)] = counts
            result.malformed_count += counts["malformed"]
            result.malformed += bad
            for number, rec in parsed:
                if isinstance(rec, OutcomeRecord):
                    counts["outcomes"] += 1
                    result.outcome_records += 1
                    late.setdefault(rec.request_id, []).append(rec.to_outcome())
                    outcome_ids.append(rec.request_id)
                    continue
                counts["records"] += 1
                result.records += 1
                if rec.request_id in responses:
                    result.duplicates += 1
                    continue
                responses[rec.request_id] = (rec, str(source.path), number)
        result.orphan_outcomes = sum(1 for rid in outcome_ids if rid not in responses)
        result.outcomes_joined = sum(1 for rid in late if rid in responses)
        stat = self.policy.length
        scope: list[tuple[LogRecord, str, int]] = []
        for rec, src, number in responses.values():
            if self.policy.policy.prompt is not None and rec.prompt != self.policy.policy.prompt:
                result.other_prompts += 1
                continue
            if self.since is not None and rec.time < self.since:
                result.before_since += 1
                continue
            scope.append((rec, src, number))
        result.in_scope = len(scope)
        words: dict[str, list[int]] = {}
        if stat is not None:
            from promptlab.evaluators import parse_json_output

            for rec, _, _ in scope:
                n = count_words(length_text(rec, parse_json_output(rec.output), stat.field))
                words.setdefault(group_key(rec, stat.by), []).append(n)
        groups = {k: GroupStats(median=float(statistics.median(v)), count=len(v)) for k, v in words.items()}
        timeline: dict[tuple[str, str, str], int] = {}
        dim = self.policy.view.intent_dimension
        candidates: list[Candidate] = []
        for rec, src, number in scope:
            outcome = rec.outcome or Outcome()
            for later in late.get(rec.request_id, []):
                outcome = outcome.merge(later)
            group = groups.get(group_key(rec, stat.by)) if stat is not None else None
            candidates.append(Candidate(record=rec, outcome=outcome, group=group, source=src, line=number))
            day = rec.time.astimezone(UTC).date().isoformat()
            key = (day, rec.version, rec.segment.get(dim, ""))
            timeline[key] = timeline.get(key, 0) + 1
        result.timeline = [
            {"day": d, "version": v, "intent": i, "records": n} for (d, v, i), n in sorted(timeline.items())
        ]
        result.candidates, result.size = candidates, len(candidates)
        result.partition = lambda k, n: candidates[k::n]
        return result


def _malformed(source: Source, number: int, message: str) -> Malformed:
    """A malformed line; for an OTLP record, the trace it came from instead of a line number."""
    if source.format == "otlp" and source.otlp is not None and 0 < number <= len(source.otlp.labels):
        return Malformed(source=str(source.path), line=None, message=f"{source.otlp.labels[number - 1]}: {message}")
    return Malformed(source=str(source.path), line=number, message=message)


def _source_counts() -> dict[str, int]:
    return {"lines": 0, "records": 0, "outcomes": 0, "malformed": 0}


# ---------------------------------------------------------------------------------------------------------------
# The DuckDB engine
# ---------------------------------------------------------------------------------------------------------------


class _DuckScan:
    def __init__(
        self, policy: ResolvedPolicy, sources: list[Source], since: datetime | None, cap: int, memory_limit: int
    ) -> None:
        self.policy, self.sources, self.since, self.cap = policy, sources, since, cap
        self.memory_limit = memory_limit
        self.unreadable: dict[int, Malformed] = {}

    def run(self) -> ScanResult:
        import duckdb

        with tempfile.TemporaryDirectory(prefix="promptlab-harvest-") as tmp:
            try:
                con = duckdb.connect(config={"threads": max(1, os.cpu_count() or 1)})
            except duckdb.Error as exc:
                raise _EngineFailure(f"DuckDB did not start: {_first_line(exc)}") from None
            try:
                # Sized from the machine: a fixed cap ran out on verbose logs; beyond it DuckDB spills to `tmp`.
                con.execute(f"SET memory_limit = '{max(1, self.memory_limit // (1024 * 1024))}MiB'")
                con.execute("SET enable_progress_bar = false")
                con.execute("SET preserve_insertion_order = false")
                con.execute(f"SET temp_directory = {lit(tmp)}")
                con.execute(recs_ddl(len(self.policy.detectors)))
                for source in self.sources:
                    self._pass1(con, source)
                result, plan = self._select(con)
            except duckdb.Error as exc:
                raise _EngineFailure(f"the DuckDB engine failed: {_first_line(exc)}") from None
            finally:
                con.close()
        result.unreadable = [self.unreadable[i] for i in sorted(self.unreadable)]
        for bad in result.unreadable:
            result.per_source[bad.source] = {**_source_counts(), "unreadable": 1}
        result.candidates, result.size = self._candidates(plan, result), len(plan.wanted)
        result.partition = lambda k, n: self._candidates(plan, result, share=(k, n))
        return result

    def _pass1(self, con: Any, source: Source) -> None:
        """Scan one source into `recs`; a file DuckDB cannot read is set aside as unreadable (its statement
        rolls back whole, so none of its lines count)."""
        import duckdb

        try:
            self._pass1_rows(con, source)
        except FileFormatError as exc:
            self.unreadable[source.index] = Malformed(source=str(source.path), line=None, message=exc.detail)
        except (
            duckdb.OutOfMemoryException,
            duckdb.InterruptException,
            duckdb.FatalException,
            duckdb.InternalException,
        ):
            raise  # not this file's fault: the whole scan falls back to the Python engine
        except duckdb.Error as exc:
            if source.format != "parquet":
                raise  # any bytes are valid input to the JSONL scan: an error here is the engine's
            message = f"not a readable Parquet log: {_first_line(exc)}"
            self.unreadable[source.index] = Malformed(source=str(source.path), line=None, message=message)

    def _pass1_rows(self, con: Any, source: Source) -> None:
        import pyarrow as pa

        if source.format == "parquet":
            con.execute(pass1_sql(self.policy, source.index, _parquet_source_sql(con, source.path)))
            return
        if source.format == "otlp":
            records = _load_otlp(source).records
            numbers = pa.array(range(1, len(records) + 1), pa.int64())
            batch = pa.record_batch(
                [numbers, numbers, pa.array([orjson.dumps(r) for r in records], pa.large_binary())],
                names=["lineno", "off", "txt"],
            )
            reader = pa.RecordBatchReader.from_batches(batch.schema, [batch])
        else:
            schema = pa.schema([("lineno", pa.int64()), ("off", pa.int64()), ("txt", pa.large_binary())])
            reader = pa.RecordBatchReader.from_batches(schema, _prefetched(_jsonl_batches(source.path)))
        con.register("_lines", reader)
        try:
            con.execute(pass1_sql(self.policy, source.index, "SELECT lineno, off, try(decode(txt)) AS txt FROM _lines"))
        finally:
            con.unregister("_lines")

    def _select(self, con: Any) -> tuple[ScanResult, _Plan]:
        """Join, dedupe, scope and pick candidates in SQL; read the outcome and malformed lines they need."""
        policy = self.policy
        result = ScanResult()
        for source in self.sources:
            result.per_source[str(source.path)] = _source_counts()
        rows = con.execute("SELECT src, kind, count(*) FROM recs WHERE kind <> 'blank' GROUP BY ALL").fetchall()
        for src, kind, n in rows:
            counts = result.per_source[str(self.sources[src].path)]
            counts["lines"] += n
            counts[{"response": "records", "outcome": "outcomes", "bad": "malformed"}[kind]] += n
        result.records = sum(c["records"] for c in result.per_source.values())
        result.outcome_records = sum(c["outcomes"] for c in result.per_source.values())
        result.malformed_count = sum(c["malformed"] for c in result.per_source.values())
        since = f"ts >= {lit(self.since.isoformat())}::TIMESTAMPTZ" if self.since is not None else "true"
        # The first record of a request id wins (file order, then line order); later copies are duplicates.
        con.execute(
            "CREATE TEMP TABLE dups AS SELECT request_id, min(src::BIGINT * 10000000000 + lineno) AS first "
            "FROM recs WHERE kind = 'response' GROUP BY request_id HAVING count(*) > 1"
        )
        con.execute(
            "CREATE TEMP TABLE outc AS SELECT request_id, bool_or(o_fallback) AS f, bool_or(o_escalation) AS e, "
            "bool_or(o_corrected) AS c, bool_or(o_negative) AS n, count(*) AS k FROM recs WHERE kind = 'outcome' "
            "GROUP BY request_id"
        )
        flags = "".join(f", c{i}" for i in range(len(policy.detectors)))
        con.execute(
            "CREATE TEMP TABLE scope AS SELECT r.src, r.lineno, r.off, r.request_id, r.ts, r.prompt_ok, r.version, "
            f"r.intent, r.grp, r.words{flags}, r.o_fallback OR coalesce(o.f, false) AS fallback, "
            "r.o_escalation OR coalesce(o.e, false) AS escalation, r.o_corrected OR coalesce(o.c, false) AS corrected, "
            "r.o_negative OR coalesce(o.n, false) AS negative, o.request_id IS NOT NULL AS joined "
            "FROM recs r LEFT JOIN dups d ON r.request_id = d.request_id "
            "LEFT JOIN outc o ON r.request_id = o.request_id WHERE r.kind = 'response' "
            "AND (d.request_id IS NULL OR d.first = r.src::BIGINT * 10000000000 + r.lineno)"
        )
        distinct, joined, other, before = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE joined), count(*) FILTER (WHERE NOT prompt_ok), "
            f"count(*) FILTER (WHERE prompt_ok AND NOT ({since})) FROM scope"
        ).fetchone()
        result.duplicates = result.records - distinct
        result.outcomes_joined, result.other_prompts, result.before_since = joined, other, before
        result.orphan_outcomes = con.execute(
            "SELECT coalesce(sum(k), 0) FROM outc o "
            "WHERE NOT EXISTS (SELECT 1 FROM scope s WHERE s.request_id = o.request_id)"
        ).fetchone()[0]
        con.execute(f"DELETE FROM scope WHERE NOT (prompt_ok AND {since})")
        result.in_scope = con.execute("SELECT count(*) FROM scope").fetchone()[0]
        result.timeline = [
            {"day": d, "version": v, "intent": i, "records": n}
            for d, v, i, n in con.execute(
                "SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d'), version, coalesce(intent, ''), count(*) "
                "FROM scope GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        ]
        arms = []
        for i, detector in enumerate(policy.detectors):
            sql = detector.sql(policy.view)
            final = sql.final if sql is not None else "TRUE"
            arms.append(f"(c{i} AND coalesce({final}, false))")
        plan = _Plan()
        if arms:
            hit_list = "list_value(" + ", ".join(arms) + ")"
            rows = con.execute(
                f"SELECT src, lineno, off, request_id, group_median, group_count, hits FROM ("
                f"SELECT s.src, s.lineno, s.off, s.request_id, g.group_median, g.group_count, {hit_list} AS hits "
                "FROM scope s JOIN (SELECT grp, median(words) AS group_median, count(*) AS group_count FROM scope "
                "GROUP BY grp) g USING (grp)) WHERE list_bool_or(hits)"
            ).fetchall()
            for src, lineno, off, request_id, median, count, hits in rows:
                plan.wanted[(src, lineno)] = (off, median, count, {i for i, h in enumerate(hits) if h})
                plan.ids.add(request_id)
        con.register("_want", _arrow_ids(sorted(plan.ids)))
        outcome_rows = con.execute(
            "SELECT src, lineno, off FROM recs WHERE kind = 'outcome' AND request_id IN (SELECT request_id FROM _want) "
            "ORDER BY src, lineno"
        ).fetchall()
        con.unregister("_want")
        bad_rows = con.execute(
            "SELECT src, lineno, off FROM (SELECT src, lineno, off, row_number() OVER (PARTITION BY src ORDER BY "
            f"lineno) AS k FROM recs WHERE kind = 'bad') WHERE k <= {int(self.cap)} ORDER BY src, lineno"
        ).fetchall()
        con.execute("DROP TABLE recs")
        fetch: dict[int, dict[int, int]] = {}
        for src, lineno, off in [*outcome_rows, *bad_rows]:
            fetch.setdefault(src, {})[lineno] = off
        for src, lines in sorted(fetch.items()):
            for lineno, raw in self._fetch(self.sources[src], lines):
                if (src, lineno) in plan.wanted:
                    continue
                try:
                    rec = parse_line(raw)
                except RecordError as exc:
                    self._malformed(result, src, lineno, str(exc))
                    continue
                if isinstance(rec, OutcomeRecord):
                    previous = plan.late.get(rec.request_id)
                    plan.late[rec.request_id] = previous.merge(rec.to_outcome()) if previous else rec.to_outcome()
                else:
                    self._malformed(
                        result, src, lineno, "rejected by the scan although the record model accepts it (please report)"
                    )
        return result, plan

    def _malformed(self, result: ScanResult, src: int, lineno: int, message: str) -> None:
        if len(result.malformed) < self.cap:
            result.malformed.append(_malformed(self.sources[src], lineno, message))

    def _candidates(
        self, plan: _Plan, result: ScanResult, share: tuple[int, int] = (0, 1)
    ) -> Iterator[Candidate | Malformed]:
        """Read the candidate lines again, in file order, and yield them validated (one at a time)."""
        by_src: dict[int, dict[int, int]] = {}
        k, n = share
        for i, ((src, lineno), (off, _, _, _)) in enumerate(sorted(plan.wanted.items())):
            if i % n == k:
                by_src.setdefault(src, {})[lineno] = off
        for src, lines in sorted(by_src.items()):
            source = self.sources[src]
            for lineno, raw in self._fetch(source, lines):
                _, median, count, hits = plan.wanted[(src, lineno)]
                try:
                    rec = parse_line(raw, check_duplicates=False)
                except RecordError as exc:  # a line only the models reject (a duplicate key deep inside a value)
                    yield _malformed(source, lineno, str(exc))
                    continue
                assert isinstance(rec, LogRecord)
                outcome = rec.outcome or Outcome()
                if rec.request_id in plan.late:
                    outcome = outcome.merge(plan.late[rec.request_id])
                group = GroupStats(median=float(median), count=int(count)) if median is not None and count else None
                yield Candidate(
                    record=rec, outcome=outcome, group=group, source=str(source.path), line=lineno, detectors=hits
                )

    def _fetch(self, source: Source, lines: dict[int, int]) -> Iterator[tuple[int, bytes]]:
        """The raw text of the given lines (line number -> byte offset), in line order."""
        if source.format == "otlp":
            records = _load_otlp(source).records
            for n in sorted(lines):
                yield n, orjson.dumps(records[n - 1])
        elif source.format == "parquet":
            yield from _parquet_lines(source.path, wanted=set(lines))
        else:
            try:
                with source.path.open("rb") as fh:
                    for n in sorted(lines):
                        fh.seek(lines[n])
                        raw = fh.readline()
                        yield n, raw[:-1] if raw.endswith(b"\n") else raw
            except OSError as exc:
                raise FileFormatError(source.path, f"cannot read: {exc.strerror}") from None


@dataclass(kw_only=True)
class _Plan:
    wanted: dict[tuple[int, int], tuple[int, float | None, int | None, set[int]]] = field(default_factory=dict)
    """(source, line) -> (byte offset, group median, group size, detectors that selected it)."""
    ids: set[str] = field(default_factory=set)
    late: dict[str, Outcome] = field(default_factory=dict)


def _arrow_ids(ids: list[str]) -> Any:
    import pyarrow as pa

    return pa.table({"request_id": pa.array(ids, pa.string())})


def _jsonl_batches(path: Path) -> Iterator[Any]:
    """Arrow batches (lineno, off, txt) of a JSONL file, cut on newlines; `off` is each line's byte offset, and the
    line values point into the chunk read (no copies)."""
    import numpy as np
    import pyarrow as pa

    lineno = 0
    base = 0  # file offset of the chunk
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise FileFormatError(path, f"cannot read: {exc.strerror}") from None
    with fh:
        size = CHUNK_BYTES
        while True:
            fh.seek(base)
            data = fh.read(size)
            if not data:
                return
            at_end = len(data) < size
            ends: list[int] = []
            find = data.find
            i = find(b"\n")
            while i >= 0:  # bytes.find is memchr: faster than any vectorised scan here
                ends.append(i + 1)
                i = find(b"\n", i + 1)
            if at_end and (not ends or ends[-1] != len(data)):
                ends.append(len(data))  # the last line has no newline
            if not ends:
                size *= 2  # one line longer than the chunk
                continue
            size = CHUNK_BYTES
            n = len(ends)
            offsets = np.empty(n + 1, dtype=np.int64)
            offsets[0] = 0
            offsets[1:] = ends
            # Bytes, not text: DuckDB decodes each line itself, so a line that is not UTF-8 is one malformed line.
            txt = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
            yield pa.record_batch(
                [
                    pa.array(np.arange(lineno + 1, lineno + n + 1, dtype=np.int64)),
                    pa.array(offsets[:-1] + base),
                    txt,
                ],
                names=["lineno", "off", "txt"],
            )
            lineno += n
            base += ends[-1]
            if at_end:
                return


def _prefetched(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Produce batches on a helper thread, `depth` ahead: reading and cutting the next chunk (numpy and Arrow
    release the GIL) overlaps with DuckDB parsing the current one."""
    import queue
    import threading

    done = object()
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        q.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="harvest-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _parquet_columns(con: Any, path: Path) -> list[tuple[str, str]]:
    import duckdb

    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise FileFormatError(path, f"not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    columns = [(str(r[0]), str(r[1])) for r in rows]
    allowed = set(RESPONSE_KEYS) | set(OUTCOME_KEYS)
    for name, _ in columns:
        if name not in allowed:
            raise FileFormatError(path, f"unknown column '{name}' (expected record fields: {', '.join(RESPONSE_KEYS)})")
    return columns


def _parquet_json_sql(columns: list[tuple[str, str]]) -> str:
    """SQL building each row's JSON text; NULL columns are left out (absent), as in a JSONL record."""
    parts = []
    for name, typ in columns:
        col = '"' + name.replace('"', '""') + '"'
        key = orjson.dumps(name).decode().replace("'", "''")
        if typ.startswith("TIMESTAMP"):
            utc = f"timezone('UTC', {col})" if "TIME ZONE" in typ else col
            value = f"to_json(strftime({utc}, '%Y-%m-%dT%H:%M:%S.%fZ'))"
        elif name in NESTED_COLUMNS and typ in ("VARCHAR", "JSON"):
            value = f"(CASE WHEN json_valid({col}) THEN {col}::JSON ELSE to_json({col}) END)"
        elif typ.startswith("STRUCT"):
            value = f"json_merge_patch('{{}}', to_json({col}))"
        else:
            value = f"to_json({col})"
        parts.append(f"CASE WHEN {col} IS NOT NULL THEN '{key}:' || ({value})::VARCHAR END")
    return "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'"


def _parquet_source_sql(con: Any, path: Path) -> str:
    columns = _parquet_columns(con, path)
    return (
        f"SELECT file_row_number + 1 AS lineno, file_row_number + 1 AS off, {_parquet_json_sql(columns)} AS txt "
        f"FROM read_parquet({lit(str(path))}, file_row_number = true)"
    )


def _parquet_lines(path: Path, wanted: set[int] | None = None) -> Iterator[tuple[int, bytes]]:
    """Each row of a Parquet log as the JSON text of a record; a file DuckDB cannot read is a `FileFormatError`."""
    import duckdb

    try:
        con = duckdb.connect()
    except duckdb.Error as exc:
        raise FileFormatError(path, f"cannot read the Parquet log: {_first_line(exc)}") from None
    try:
        sql = _parquet_source_sql(con, path)
        if wanted is not None:
            sql = f"SELECT * FROM ({sql}) WHERE lineno IN ({', '.join(str(int(n)) for n in sorted(wanted)) or 'NULL'})"
        cursor = con.execute(f"SELECT lineno, txt FROM ({sql}) ORDER BY lineno")
        while rows := cursor.fetchmany(10000):
            for lineno, txt in rows:
                yield int(lineno), txt.encode("utf-8")
    except duckdb.Error as exc:
        raise FileFormatError(path, f"not a readable Parquet log: {_first_line(exc)}") from None
    finally:
        con.close()
