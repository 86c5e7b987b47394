"""The failing-case browser: which cases fail under the candidate, and both versions' attempts at one case."""

from __future__ import annotations

from typing import Any, Literal

from promptlab.comparison import CaseChange, Comparison
from promptlab.errors import InputError
from promptlab.review._items import Attempt, CaseDetail, FailingCase
from promptlab.review._runs import Rows, passed, rate
from promptlab.runner import ResultRow

__all__ = ["case_detail", "failing_cases"]


def failing_cases(
    comparison: Comparison,
    *,
    baseline_rows: Rows | None,
    candidate_rows: Rows | None,
    category: str | None = None,
) -> list[FailingCase]:
    """Cases failing under the candidate: regressions first (by severity), then flaky, then still failing.

    Args:
        category: Only cases with this tag (e.g. `hard-negative:adversarial`).
    """
    cmp = comparison
    rank = {r.case_id: r.rank for r in cmp.regressions}
    out: list[FailingCase] = []
    if baseline_rows is not None and candidate_rows is not None:
        for case_id, rows in candidate_rows.items():
            if all(passed(r) for r in rows):
                continue
            base = baseline_rows.get(case_id, [])
            b_rate = rate(base)
            c_rate = rate(rows) or 0.0
            if case_id in rank:
                kind: Literal["regression", "still_failing", "flaky"] = "regression"
            elif 0 < c_rate < 1:
                kind = "flaky"
            else:
                kind = "still_failing" if (b_rate or 0) < 0.5 else "regression"
            failed = next(r for r in rows if not passed(r))
            labels, reason = _failure_of(failed)
            out.append(
                FailingCase(
                    case_id=case_id,
                    kind=kind,
                    segment=dict(failed.segment),
                    tags=list(failed.tags),
                    baseline_pass_rate=b_rate,
                    candidate_pass_rate=c_rate,
                    failed_evaluators=labels,
                    reason=reason,
                )
            )
    else:
        for r in cmp.regressions:
            out.append(
                FailingCase(
                    case_id=r.case_id,
                    kind="regression",
                    segment=dict(r.segment),
                    tags=list(r.tags),
                    baseline_pass_rate=r.baseline_pass_rate,
                    candidate_pass_rate=r.candidate_pass_rate,
                    failed_evaluators=[f.label for f in r.flipped],
                    reason=next((f.error or f.reason for f in r.flipped), ""),
                )
            )
    if category is not None:
        out = [c for c in out if category in c.tags]
    order = {"regression": 0, "flaky": 1, "still_failing": 2}
    return sorted(out, key=lambda c: (order[c.kind], rank.get(c.case_id, 10**9), c.case_id))


def case_detail(
    comparison: Comparison, case_id: str, *, baseline_rows: Rows | None, candidate_rows: Rows | None
) -> CaseDetail:
    """Both versions' attempts at one case, for reading side by side."""
    if baseline_rows is not None and candidate_rows is not None:
        base = baseline_rows.get(case_id)
        cand = candidate_rows.get(case_id)
        if base is None and cand is None:
            raise InputError(f"case '{case_id}' is not in the compared runs")
        first = (cand or base or [ResultRow(case_id=case_id)])[0]
        return CaseDetail(
            case_id=case_id,
            segment=dict(first.segment),
            tags=list(first.tags),
            vars=dict(first.vars),
            baseline=[_attempt(r) for r in base or []],
            candidate=[_attempt(r) for r in cand or []],
            source="runs",
        )
    change = next((c for c in [*comparison.regressions, *comparison.improvements] if c.case_id == case_id), None)
    if change is None:
        raise InputError(
            f"case '{case_id}' has no recorded outputs in the comparison (its run directories are not available)"
        )
    return _detail_from_change(change)


def _failure_of(row: ResultRow) -> tuple[list[str], str]:
    if row.error:
        return [f"error:{row.error_kind}"], str(row.error.get("message", ""))
    labels, reason = [], ""
    for label, ev in sorted(row.evaluations.items()):
        if ev.error:
            labels.append(f"{label} (evaluator error)")
            reason = reason or str(ev.error)
        elif ev.passed is False:
            labels.append(label)
            reason = reason or str(ev.reason or "")
    return labels, reason


def _attempt(row: ResultRow) -> Attempt:
    failed = []
    for label, ev in sorted(row.evaluations.items()):
        if ev.error:
            failed.append((label, f"evaluator error: {ev.error}"))
        elif ev.passed is False:
            failed.append((label, str(ev.reason or "")))
    calls = []
    for c in row.tool_calls:
        result = f"error: {c['error']}" if c.get("error") else _short(c.get("result"))
        calls.append(f"{c.get('name')}({c.get('arguments', '')}) -> {result}")
    error = row.error
    return Attempt(
        repeat=row.repeat,
        outcome=row.outcome,
        output=row.output,
        error=f"{error.get('kind')}: {error.get('message')}" if error else None,
        failed=failed,
        tool_calls=calls,
    )


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail_from_change(change: CaseChange) -> CaseDetail:
    failing_side = "candidate" if change.kind == "regression" else "baseline"
    failed = [(f.label, f.error or f.reason) for f in change.flipped]
    base = Attempt(
        repeat=0,
        outcome=change.baseline_outcome,
        output=change.baseline_output,
        failed=failed if failing_side == "baseline" else [],
    )
    cand = Attempt(
        repeat=0,
        outcome=change.candidate_outcome,
        output=change.candidate_output,
        failed=failed if failing_side == "candidate" else [],
    )
    return CaseDetail(
        case_id=change.case_id,
        segment=dict(change.segment),
        tags=list(change.tags),
        vars={},
        baseline=[base],
        candidate=[cand],
        source="comparison",
    )
