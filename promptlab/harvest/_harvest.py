"""`harvest()`: production logs in, regression cases out, and a report of what was found."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from promptlab.datasets import REGRESSION_TAG, Case, Expected, ToolResult
from promptlab.errors import InputError
from promptlab.harvest._detectors import Finding, RecordContext
from promptlab.harvest._policy import HarvestPolicy, ResolvedPolicy, load_harvest_policy, resolve_policy
from promptlab.harvest._redact import DedupKeys, Redactor
from promptlab.harvest._scan import Candidate, Malformed, ScanResult, open_sources, scan
from promptlab.harvest._store import CaseDraft, Occurrence, RegressionStore, StorePlan

__all__ = ["FailureRow", "HarvestReport", "harvest", "parse_since"]


@dataclass(kw_only=True, slots=True)
class FailureRow:
    """One detected failure (before near-duplicates merge)."""

    detector: str
    case_id: str
    request_id: str
    timestamp: str
    version: str
    segment: dict[str, str]
    reason: str
    source: str


@dataclass(kw_only=True)
class HarvestReport:
    """What a harvest read, found and wrote (or would write, in a dry run)."""

    sources: list[str]
    policy: str | None
    engine: str
    dry_run: bool
    out: str
    since: str | None
    records: int
    duplicates: int
    outcome_records: int
    outcomes_joined: int
    orphan_outcomes: int
    other_prompts: int
    before_since: int
    in_scope: int
    malformed_count: int
    malformed: list[Malformed]
    failures: list[FailureRow]
    plan: StorePlan
    cases: list[Case]
    """New cases and existing cases whose counts change, as they are (or would be) written."""
    written: list[str]
    per_source: dict[str, dict[str, int]]
    timeline: list[dict[str, Any]]
    elapsed_s: float
    harvested_at: str
    detectors: list[str] = field(default_factory=list)
    unreadable: list[Malformed] = field(default_factory=list)
    """Input files left out because they could not be read at all (their lines are not counted)."""
    fallback: str | None = None
    """Why the DuckDB engine gave up, when the Python engine scanned instead."""

    @property
    def malformed_rate(self) -> float:
        """Malformed lines as a share of all non-blank lines read (0 when nothing was read)."""
        lines = self.records + self.outcome_records + self.malformed_count
        return self.malformed_count / lines if lines else 0.0

    def problem(self, *, max_malformed_rate: float | None = None) -> tuple[int, str] | None:
        """The exit code and one-line reason when the input was not (all) usable, else None.

        2: nothing valid at all (every line malformed, or every file unreadable); 3: some input was left out
        (an unreadable file, or more malformed lines than `max_malformed_rate` allows) but the rest was harvested.
        """
        first = self.unreadable[0] if self.unreadable else (self.malformed[0] if self.malformed else None)
        example = f" (first: {first})" if first is not None else ""
        valid = self.records + self.outcome_records
        if valid == 0 and (self.malformed_count or self.unreadable):
            what = []
            if self.malformed_count:
                what.append(f"all {self.malformed_count:,} lines malformed")
            if self.unreadable:
                what.append(f"{len(self.unreadable)} unreadable file{'s' if len(self.unreadable) != 1 else ''}")
            return 2, f"no valid log record: {', '.join(what)}{example}"
        if self.unreadable:
            n = len(self.unreadable)
            return (
                3,
                f"{n} input file{'s were' if n != 1 else ' was'} unreadable and left out{example}",
            )
        if max_malformed_rate is not None and self.malformed_rate > max_malformed_rate:
            return 3, (
                f"{self.malformed_count:,} malformed lines ({self.malformed_rate:.1%}), over --max-malformed-rate "
                f"{max_malformed_rate:.1%}{example}"
            )
        return None

    @property
    def by_detector(self) -> dict[str, int]:
        """Failures per detector (every detector of the policy, zero included)."""
        counts = Counter(f.detector for f in self.failures)
        return {d: counts.get(d, 0) for d in self.detectors}

    def by_segment(self, dimension: str) -> dict[str, dict[str, int]]:
        """Failures per detector and value of a segment dimension."""
        out: dict[str, dict[str, int]] = {}
        for f in self.failures:
            value = f.segment.get(dimension, "(none)")
            row = out.setdefault(f.detector, {})
            row[value] = row.get(value, 0) + 1
        return {d: dict(sorted(v.items())) for d, v in sorted(out.items())}

    def segment_dimensions(self) -> list[str]:
        """Segment dimensions seen on failures, sorted."""
        return sorted({k for f in self.failures for k in f.segment})

    def failures_frame(self) -> Any:
        """Failures as a DataFrame: detector, case_id, request_id, timestamp, version, reason, segment.<dim>."""
        import pandas as pd

        rows = []
        for f in self.failures:
            row: dict[str, Any] = {
                "detector": f.detector,
                "case_id": f.case_id,
                "request_id": f.request_id,
                "timestamp": pd.Timestamp(f.timestamp),
                "version": f.version,
                "reason": f.reason,
                "source": f.source,
            }
            row.update({f"segment.{k}": v for k, v in f.segment.items()})
            rows.append(row)
        columns = ["detector", "case_id", "request_id", "timestamp", "version", "reason", "source"]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what `promptlab harvest --json` prints)."""
        return {
            "sources": self.sources,
            "policy": self.policy,
            "engine": self.engine,
            "dry_run": self.dry_run,
            "out": self.out,
            "since": self.since,
            "harvested_at": self.harvested_at,
            "records": self.records,
            "duplicates": self.duplicates,
            "outcome_records": self.outcome_records,
            "outcomes_joined": self.outcomes_joined,
            "orphan_outcomes": self.orphan_outcomes,
            "other_prompts": self.other_prompts,
            "before_since": self.before_since,
            "in_scope": self.in_scope,
            "malformed": {"count": self.malformed_count, "lines": [str(m) for m in self.malformed]},
            "unreadable": [str(m) for m in self.unreadable],
            "fallback": self.fallback,
            "failures": len(self.failures),
            "by_detector": self.by_detector,
            "by_segment": {d: self.by_segment(d) for d in self.segment_dimensions()},
            "cases": {
                "new": [c.id for c in self.plan.new_cases],
                "updated": {k: {"before": a, "after": b} for k, (a, b) in self.plan.updated.items()},
                "new_occurrences": len(self.plan.new_occurrences),
                "known_occurrences": self.plan.known_occurrences,
                "files": self.plan.files,
            },
            "written": self.written,
            "per_source": self.per_source,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def to_text(self, *, max_lines: int = 20) -> str:
        """The human summary `promptlab harvest` prints."""
        out = []
        n_src = len(self.sources)
        out.append(
            f"read {n_src} file{'s' if n_src != 1 else ''}: {self.records:,} response records, "
            f"{self.outcome_records:,} outcome records ({self.outcomes_joined:,} responses joined, "
            f"{self.orphan_outcomes:,} outcome records without a response), {self.duplicates:,} duplicate request ids"
        )
        skipped = []
        if self.other_prompts:
            skipped.append(f"{self.other_prompts:,} of other prompts")
        if self.before_since:
            skipped.append(f"{self.before_since:,} before {self.since}")
        out.append(f"harvested {self.in_scope:,} records" + (f" (skipped {', '.join(skipped)})" if skipped else ""))
        out.append(f"malformed: {self.malformed_count:,} line{'s' if self.malformed_count != 1 else ''}")
        for m in self.malformed[:max_lines]:
            out.append(f"  {m}")
        if self.malformed_count > min(len(self.malformed), max_lines):
            out.append(f"  ... {self.malformed_count - min(len(self.malformed), max_lines):,} more")
        if self.unreadable:
            out.append(f"unreadable, left out: {len(self.unreadable)} file{'s' if len(self.unreadable) != 1 else ''}")
            out += [f"  {m}" for m in self.unreadable]
        if self.fallback:
            out.append(f"note: {self.fallback}; scanned with the Python engine instead")
        out.append(f"failures by detector ({len(self.failures):,} in all):")
        width = max([len(d) for d in self.detectors] + [8])
        for d, n in self.by_detector.items():
            out.append(f"  {d:<{width}}  {n:>7,}")
        for dim in self.segment_dimensions():
            out.append(f"failures by {dim}:")
            per_detector = self.by_segment(dim)
            totals: Counter[str] = Counter()
            for counts in per_detector.values():
                totals.update(counts)
            for value, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
                detail = ", ".join(f"{d}={c[value]:,}" for d, c in per_detector.items() if value in c)
                out.append(f"  {value:<{width}}  {n:>7,}  ({detail})")
        plan = self.plan
        verb = "would write" if self.dry_run else "wrote"
        out.append(
            f"cases: {len(plan.new_cases):,} new, {len(plan.updated):,} updated, "
            f"{len(plan.new_occurrences):,} new occurrences, {plan.known_occurrences:,} already counted"
        )
        if plan.empty:
            out.append(f"nothing new for {self.out}")
        else:
            for name in plan.files:
                out.append(f"  {verb} {Path(self.out) / name}")
            if not self.dry_run or plan.new_occurrences:
                out.append(f"  {verb} {Path(self.out) / 'harvest-ledger.tsv'} (+{len(plan.new_occurrences):,} rows)")
        if self.dry_run:
            for case in plan.new_cases[:max_lines]:
                h = case.metadata.get("harvest", {})
                out.append(f"  + {case.id}: {h.get('reason', '')[:100]}")
            if len(plan.new_cases) > max_lines:
                out.append(f"  ... {len(plan.new_cases) - max_lines:,} more new cases")
        out.append(f"done in {self.elapsed_s:.2f}s ({self.engine})")
        return "\n".join(out) + "\n"


def parse_since(value: str | datetime | date | None) -> datetime | None:
    """Parse `--since`: an ISO date or date-time; a value without an offset is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--since: expected an ISO date or date-time such as 2024-06-01, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def harvest(
    logs: Sequence[str | Path],
    *,
    policy: str | Path | HarvestPolicy | ResolvedPolicy,
    out: str | Path,
    dry_run: bool = False,
    since: str | datetime | date | None = None,
    engine: Literal["duckdb", "python"] = "duckdb",
    now: datetime | None = None,
    max_malformed: int = 1000,
    memory_limit: int | None = None,
) -> HarvestReport:
    """Harvest failures from production logs into regression cases under `out`.

    Args:
        logs: JSONL/NDJSON or Parquet log files, OTLP JSON trace exports, or directories of them.
        policy: the harvest policy (a file, a parsed policy, or a resolved one).
        out: the regression-cases directory (created when something is written).
        dry_run: compute everything, write nothing.
        since: only harvest responses at or after this time (ISO date or date-time; UTC when no offset).
        engine: `duckdb` (fast, streaming) or `python` (the reference: every record through every detector).
        now: the harvest time recorded in provenance (defaults to the current time).
        max_malformed: how many malformed lines are reported in detail (all are counted).
        memory_limit: DuckDB's memory cap in bytes (default: half the memory available); beyond it DuckDB
            spills to a temporary directory, and if it still fails the Python engine scans instead.

    Raises:
        InputError: a log path, the policy or the output directory is unusable (one-line message).
    """
    started = time.perf_counter()
    resolved = _resolve(policy)
    since_dt = parse_since(since)
    harvested_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    store = RegressionStore(out, max_request_ids=resolved.policy.max_request_ids)
    store.load()
    sources = open_sources(logs)
    # Tens of thousands of small objects survive the detection loop; the cyclic collector would rescan them over
    # and over (it makes that loop several times slower) while they hold no cycles worth collecting.
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = scan(
            resolved, sources, since=since_dt, engine=engine, max_malformed=max_malformed, memory_limit=memory_limit
        )
        failures, drafts = _detect(resolved, result, harvested_at)
    finally:
        if collecting:
            gc.enable()
    result.malformed.sort(key=lambda m: (m.source, m.line or 0))
    plan = store.plan(drafts)
    written: list[str] = []
    if not dry_run:
        written = [str(p) for p in store.apply(plan, updated_at=harvested_at)]
    shown = _shown_cases(store, plan, drafts, harvested_at)
    return HarvestReport(
        sources=[str(s.path) for s in sources],
        policy=str(resolved.path) if resolved.path else None,
        engine=result.engine,
        dry_run=dry_run,
        out=str(out),
        since=since_dt.isoformat() if since_dt else None,
        records=result.records,
        duplicates=result.duplicates,
        outcome_records=result.outcome_records,
        outcomes_joined=result.outcomes_joined,
        orphan_outcomes=result.orphan_outcomes,
        other_prompts=result.other_prompts,
        before_since=result.before_since,
        in_scope=result.in_scope,
        malformed_count=result.malformed_count,
        malformed=result.malformed,
        failures=failures,
        plan=plan,
        cases=shown,
        written=written,
        per_source=result.per_source,
        timeline=result.timeline,
        elapsed_s=time.perf_counter() - started,
        harvested_at=harvested_at,
        detectors=[d.spec_name for d in resolved.detectors],
        unreadable=result.unreadable,
        fallback=result.fallback,
    )


def _resolve(policy: str | Path | HarvestPolicy | ResolvedPolicy) -> ResolvedPolicy:
    if isinstance(policy, ResolvedPolicy):
        return policy
    if isinstance(policy, HarvestPolicy):
        return resolve_policy(policy)
    return load_harvest_policy(policy)


def _shown_cases(store: RegressionStore, plan: StorePlan, drafts: list[CaseDraft], at: str) -> list[Case]:
    fresh: dict[str, list[Occurrence]] = {}
    for o in plan.new_occurrences:
        fresh.setdefault(o.case_id, []).append(o)
    new_ids = {c.id for c in plan.new_cases}
    shown = [store.counts_for(c, fresh.get(c.id, []), at) for c in plan.new_cases]
    by_id = {d.case.id: d.case for d in drafts}
    shown += [store.counts_for(by_id[i], fresh.get(i, []), at) for i in plan.updated if i in by_id and i not in new_ids]
    return shown


@dataclass(kw_only=True)
class _Group:
    first: tuple[datetime, str]
    case: Case
    detector: str
    occurrences: list[Occurrence]


@dataclass(kw_only=True)
class _Detected:
    """What detection over (a share of) the candidates found, including lines only Python found malformed."""

    failures: list[FailureRow]
    groups: dict[str, _Group]
    malformed: list[Malformed]
    per_source: dict[str, int]


PARALLEL_MIN = 4000
"""Candidates below which detection stays in one process (forking costs more than it saves)."""

_FORKED: tuple[ResolvedPolicy, ScanResult, str] | None = None


def _detect(policy: ResolvedPolicy, result: ScanResult, harvested_at: str) -> tuple[list[FailureRow], list[CaseDraft]]:
    """Run the detectors over the candidates and merge near-duplicates into cases (in two processes when there
    are many candidates: the checks, redaction and merging are plain Python)."""
    global _FORKED
    parts: list[_Detected]
    if result.size >= PARALLEL_MIN and result.partition is not None and _can_fork():
        import multiprocessing

        _FORKED = (policy, result, harvested_at)
        try:
            with multiprocessing.get_context("fork").Pool(1) as pool:
                other = pool.apply_async(_detect_share, (1, 2))
                mine = _detect_candidates(policy, result.partition(0, 2), harvested_at)
                parts = [mine, other.get()]
        finally:
            _FORKED = None
    else:
        parts = [_detect_candidates(policy, result.candidates, harvested_at)]
    failures: list[FailureRow] = []
    groups: dict[str, _Group] = {}
    for part in parts:
        failures += part.failures
        result.malformed += part.malformed
        result.malformed_count += len(part.malformed)
        for source, n in part.per_source.items():
            result.per_source[source]["malformed"] += n
        for case_id, group in part.groups.items():
            known = groups.get(case_id)
            if known is None:
                groups[case_id] = group
                continue
            known.occurrences += group.occurrences
            if group.first < known.first:
                known.first, known.case = group.first, group.case
    failures.sort(key=lambda f: (f.timestamp, f.request_id, f.detector))
    drafts = []
    for group in sorted(groups.values(), key=lambda g: (g.first, g.case.id)):
        group.occurrences.sort(key=lambda o: (o.timestamp, o.request_id))
        drafts.append(CaseDraft(case=group.case, detector=group.detector, occurrences=group.occurrences))
    return failures, drafts


def _can_fork() -> bool:
    import multiprocessing
    import os

    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def _detect_share(k: int, n: int) -> _Detected:
    # Runs in the forked child: the inputs were inherited, not pickled.
    assert _FORKED is not None
    policy, result, harvested_at = _FORKED
    return _detect_candidates(policy, result.partition(k, n) if result.partition else (), harvested_at)


def _detect_candidates(policy: ResolvedPolicy, candidates: Iterable[Candidate | Malformed], at: str) -> _Detected:
    """Detect over candidates; a case's content comes from its earliest occurrence (time, then request id)."""
    redactor = Redactor(policy=policy.policy.redact)
    out = _Detected(failures=[], groups={}, malformed=[], per_source={})
    for cand in candidates:
        if isinstance(cand, Malformed):  # a line only the models reject (a duplicate key deep inside a value)
            out.malformed.append(cand)
            out.per_source[cand.source] = out.per_source.get(cand.source, 0) + 1
            continue
        record = cand.record
        ctx = RecordContext(
            record=record,
            outcome=cand.outcome,
            policy=policy.view,
            group=cand.group,
            message_var=policy.policy.message_var,
        )
        redacted: dict[str, Any] | None = None
        keys: DedupKeys | None = None
        order = (record.time, record.request_id)
        for i, detector in enumerate(policy.detectors):
            if cand.detectors is not None and i not in cand.detectors:
                continue
            finding = detector.check(ctx)
            if finding is None:
                continue
            name = detector.spec_name
            if redacted is None or keys is None:
                redacted = redactor.value(ctx.case_vars)
                keys = DedupKeys(
                    prompt=record.prompt, vars=redacted, segment=record.segment, policy=policy.policy.dedup
                )
            key = keys.key(name)
            case_id = f"harvest-{name}-{key.removeprefix('sha256:')[:12]}"
            source = f"{cand.source}:{cand.line}"
            occurrence = Occurrence(
                case_id=case_id,
                request_id=record.request_id,
                detector=name,
                version=record.version,
                timestamp=record.timestamp,
                source=source,
                harvested_at=at,
            )
            out.failures.append(
                FailureRow(
                    detector=name,
                    case_id=case_id,
                    request_id=record.request_id,
                    timestamp=record.timestamp,
                    version=record.version,
                    segment=dict(record.segment),
                    reason=redactor.text(finding.reason),
                    source=source,
                )
            )
            group = out.groups.get(case_id)
            if group is None or order < group.first:
                case = _build_case(
                    case_id=case_id,
                    name=name,
                    key=key,
                    cand=cand,
                    finding=finding,
                    vars_=redacted,
                    redactor=redactor,
                    policy=policy,
                    harvested_at=at,
                )
                if group is None:
                    out.groups[case_id] = _Group(first=order, case=case, detector=name, occurrences=[occurrence])
                    continue
                group.first, group.case = order, case
            group.occurrences.append(occurrence)
    return out


def _build_case(
    *,
    case_id: str,
    name: str,
    key: str,
    cand: Candidate,
    finding: Finding,
    vars_: dict[str, Any],
    redactor: Redactor,
    policy: ResolvedPolicy,
    harvested_at: str,
) -> Case:
    record = cand.record
    results: list[ToolResult] = []
    seen: set[bytes] = set()
    for call in record.tool_calls:
        arguments = call.arguments
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments)
            except orjson.JSONDecodeError:
                arguments = None
        arguments = redactor.value(arguments) if isinstance(arguments, dict) else None
        result = ToolResult(
            tool=call.name,
            arguments=arguments,
            output=redactor.value(call.result) if call.error is None else None,
            error=redactor.text(call.error) if call.error is not None else None,
        )
        marker = orjson.dumps([call.name, arguments], option=orjson.OPT_SORT_KEYS)
        if marker not in seen:
            seen.add(marker)
            results.append(result)
    output = record.output or ""
    harvest_meta: dict[str, Any] = {
        "detector": name,
        "reason": redactor.text(finding.reason),
        "prompt": record.prompt,
        "version": record.version,
        "source": f"{cand.source}:{cand.line}",
        "dedup_key": key,
        "harvested_at": harvested_at,
        "policy_hash": policy.hash,
        "observed_output": redactor.text(output[:1000] + ("…" if len(output) > 1000 else "")),
    }
    if finding.details:
        harvest_meta["details"] = redactor.value(finding.details)
    return Case(
        id=case_id,
        vars=vars_,
        segment=dict(record.segment),
        tags=[REGRESSION_TAG, f"harvest:{name}"],
        expected=Expected.model_validate(redactor.value(finding.expected)),
        tool_results=results,
        evaluators=list(finding.evaluators),
        metadata={"harvest": harvest_meta},
    )
