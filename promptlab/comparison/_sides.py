"""Reading the two runs: per-case result rows, run identity, and the comparability check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from promptlab._util.canonical import content_hash, sha256_hex
from promptlab.comparison._model import ArtifactInfo, Comparability, RunInfo
from promptlab.datasets import Case
from promptlab.errors import ComparabilityError
from promptlab.runner import ARTIFACT, CASES, MANIFEST, RESULTS, RunDir

__all__ = ["Side", "check_comparability", "run_info"]

_CONTRACT_FILES = (MANIFEST, ARTIFACT, CASES, RESULTS)


@dataclass(kw_only=True)
class Side:
    """One opened run with its result rows grouped by case (rows sorted by repeat)."""

    run: RunDir
    rows: list[dict[str, Any]]
    by_case: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> Side:
        """Open a run directory and group its rows."""
        run = RunDir.open(path)
        rows = run.rows()
        by_case: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_case.setdefault(str(row["case_id"]), []).append(row)
        for case_rows in by_case.values():
            case_rows.sort(key=lambda r: int(r.get("repeat", 0)))
        return cls(run=run, rows=rows, by_case=by_case)

    @cached_property
    def case_hashes(self) -> dict[str, str]:
        """Content hash of each case of the run's dataset."""
        return {c.id: content_hash(c.model_dump(mode="json")) for c in self.run.dataset}

    def case(self, case_id: str) -> Case | None:
        """The case as run, if the dataset has it."""
        try:
            return self.run.dataset[case_id]
        except KeyError:
            return None


def _run_hash(path: Path) -> tuple[str, dict[str, str]]:
    files = {}
    for name in _CONTRACT_FILES:
        p = path / name
        files[name] = "sha256:" + sha256_hex(p.read_bytes()) if p.is_file() else "missing"
    return content_hash(files), files


def run_info(side: Side) -> RunInfo:
    """Identity of a run for `comparison.json`."""
    m = side.run.manifest
    a = side.run.artifact
    run_hash, files = _run_hash(side.run.path)
    return RunInfo(
        run_dir=str(side.run.path.resolve()),
        run_hash=run_hash,
        files=files,
        run_id=m.run_id,
        status=m.status,
        artifact=ArtifactInfo(ref=a.ref, name=a.name, version=a.version, hash=a.content_hash),
        dataset_hash=m.dataset_hash,
        evaluators_hash=m.evaluators_hash,
        evaluators=list(m.evaluators),
        provider=m.provider,
        repeats=m.repeats,
        case_count=m.case_count,
        result_rows=len(side.rows),
    )


def _listing(ids: Iterable[str], limit: int = 5) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def _count(ids: list[str]) -> str:
    return f"{len(ids)} case" + ("" if len(ids) == 1 else "s")


def _spec_key(spec: Any) -> str:
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()


def _evaluator_differences(base: Side, cand: Side) -> list[str]:
    bm, cm = base.run.manifest, cand.run.manifest
    if bm.evaluators_hash == cm.evaluators_hash:
        return []
    b_keys = [_spec_key(s) for s in bm.evaluators]
    c_keys = [_spec_key(s) for s in cm.evaluators]
    out = []
    only_b = [k for k in b_keys if k not in c_keys]
    only_c = [k for k in c_keys if k not in b_keys]
    if only_b:
        out.append("evaluators only in baseline: " + ", ".join(only_b))
    if only_c:
        out.append("evaluators only in candidate: " + ", ".join(only_c))
    if not out and b_keys != c_keys:
        out.append("suite evaluators are listed in a different order")
    if not out:
        out.append(
            f"per-case evaluator specs differ (evaluators_hash {bm.evaluators_hash[:19]} vs {cm.evaluators_hash[:19]})"
        )
    return out


def check_comparability(
    base: Side, cand: Side, *, allow_different_datasets: bool, allow_different_evaluators: bool
) -> tuple[Comparability, list[str]]:
    """Decide which cases can be compared, refusing (one line) when the runs differ in a way not allowed.

    Returns:
        What differs, and the sorted case ids to compare (present in both datasets, with results in both runs).
    """
    bm, cm = base.run.manifest, cand.run.manifest
    notes: list[str] = []
    problems: list[str] = []

    b_ids, c_ids = set(base.case_hashes), set(cand.case_hashes)
    only_b, only_c = sorted(b_ids - c_ids), sorted(c_ids - b_ids)
    changed = sorted(i for i in b_ids & c_ids if base.case_hashes[i] != cand.case_hashes[i])
    # The cases as run decide; a manifest hash that differs over identical cases is only worth a note.
    same_dataset = not (only_b or only_c or changed)
    if same_dataset and bm.dataset_hash != cm.dataset_hash:
        notes.append(
            f"dataset hashes differ ({bm.dataset_hash[:19]} vs {cm.dataset_hash[:19]}) but every case is "
            "identical in content; compared as the same dataset"
        )
    if not same_dataset:
        parts = []
        if only_b:
            parts.append(f"{_count(only_b)} only in baseline ({_listing(only_b)})")
        if only_c:
            parts.append(f"{_count(only_c)} only in candidate ({_listing(only_c)})")
        if changed:
            parts.append(f"{_count(changed)} with changed content ({_listing(changed)})")
        problems.append(
            f"datasets differ (baseline {bm.dataset_hash[:19]}, candidate {cm.dataset_hash[:19]}): " + "; ".join(parts)
        )

    incomplete = [
        f"{name} run is {side.run.manifest.status} ({len(side.by_case)} of {side.run.manifest.case_count} cases have "
        f"results)"
        for name, side in (("baseline", base), ("candidate", cand))
        if side.run.manifest.status != "complete"
    ]

    ev_diff = _evaluator_differences(base, cand)
    shared = sorted((b_ids & c_ids) & set(base.by_case) & set(cand.by_case))

    refusals = []
    if problems and not allow_different_datasets:
        refusals.append(problems[0] + f"; pass --allow-different-datasets to compare the {len(shared)} shared cases")
    if incomplete and not allow_different_datasets:
        refusals.append(
            "; ".join(incomplete) + "; finish it, or pass --allow-different-datasets to compare the "
            f"{len(shared)} cases both runs finished"
        )
    if ev_diff and not allow_different_evaluators:
        refusals.append(
            "evaluator specs differ: " + "; ".join(ev_diff) + "; pass --allow-different-evaluators to compare anyway"
        )
    if refusals:
        raise ComparabilityError("cannot compare: " + " | ".join(refusals))
    if not shared:
        raise ComparabilityError("cannot compare: the two runs share no case with results")

    if problems:
        notes.append(
            f"datasets differ ({problems[0].split(': ', 1)[1]}); compared the {len(shared)} shared case ids "
            "only (allowed by --allow-different-datasets); segments and tags are taken from the candidate"
        )
    if incomplete:
        notes.append("; ".join(incomplete) + f"; compared the {len(shared)} cases both runs finished")
    if ev_diff:
        notes.append(
            "evaluator specs differ (" + "; ".join(ev_diff) + "); compared as allowed by "
            "--allow-different-evaluators: pass rates use each run's own evaluators, the per-evaluator "
            "table only evaluators both ran"
        )
    return (
        Comparability(
            same_dataset=same_dataset,
            same_evaluators=not ev_diff,
            cases_compared=len(shared),
            only_in_baseline=only_b,
            only_in_candidate=only_c,
            changed_cases=changed,
            evaluator_differences=ev_diff,
            notes=notes,
        ),
        shared,
    )
