"""Behaviour changes: verbosity, refusals, tool usage, output format, latency, cost and quality, each tested and
matched against the changes the candidate declares (`expected_changes`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptlab.artifacts import ExpectedChange
from promptlab.comparison._context import Context, LatencyRows, finite, per_case, rel_change, row_cost
from promptlab.comparison._format import pts, pval, signed_pct
from promptlab.comparison._model import Behaviour, BehaviourChange, DeclaredChange, GroupResult
from promptlab.comparison._stats import adjust_pvalues
from promptlab.evaluators import detect_refusal, parse_json_output

__all__ = ["behaviour_changes"]

Row = Mapping[str, Any]
RowValue = Callable[[Row], float | None]


@dataclass(kw_only=True)
class _Metric:
    behaviour: Any
    name: str
    detail: str
    value: Callable[[str], RowValue]
    """Builds the row -> value function for a side ("baseline" or "candidate")."""


def _answered(row: Row) -> bool:
    return row.get("output") is not None and not row.get("error")


def _words(row: Row) -> float | None:
    return float(len(str(row["output"]).split())) if _answered(row) else None


def _refusal_label(row: Row) -> str | None:
    evaluations = row.get("evaluations") or {}
    return "refusal" if "refusal" in evaluations else None


def _make_refused(ctx: Context) -> Callable[[str], RowValue]:
    def build(side: str) -> RowValue:
        s = ctx.base if side == "baseline" else ctx.cand

        def refused(row: Row) -> float | None:
            if not _answered(row):
                return None
            case = ctx.cand.case(str(row["case_id"])) or s.case(str(row["case_id"]))
            should = case.expected.should_refuse if case else None
            ev = (row.get("evaluations") or {}).get("refusal") if _refusal_label(row) else None
            # The refusal evaluator grades "refused exactly when it should": with the expectation known, its verdict
            # tells whether this answer refused.
            if ev is not None and ev.get("passed") is not None and not ev.get("error") and should is not None:
                return float(bool(ev["passed"]) == should)
            output = str(row["output"])
            return float(detect_refusal(output, parsed=parse_json_output(output)))

        return refused

    return build


def _tool_calls(row: Row) -> float | None:
    return float(len(row.get("tool_calls") or [])) if not row.get("error") else None


def _calls_to(name: str) -> RowValue:
    def value(row: Row) -> float | None:
        if row.get("error"):
            return None
        return float(any(c.get("name") == name for c in row.get("tool_calls") or []))

    return value


def _json_valid(row: Row) -> float | None:
    return float(parse_json_output(str(row["output"])) is not None) if _answered(row) else None


def _fenced(row: Row) -> float | None:
    return float("```" in str(row["output"])) if _answered(row) else None


def _same(fn: RowValue) -> Callable[[str], RowValue]:
    return lambda _side: fn


def _metrics(ctx: Context, latency_rows: LatencyRows) -> list[_Metric]:
    sides = (ctx.base, ctx.cand)
    rows = [r for s in sides for cid in ctx.ids for r in s.by_case[cid]]
    outputs = [str(r["output"]) for r in rows if _answered(r)]
    metrics = [
        _Metric(
            behaviour="verbosity", name="words_per_case", detail="words per answer, mean per case", value=_same(_words)
        ),
        _Metric(
            behaviour="refusal_rate",
            name="refusal_rate",
            detail="share of answers that refuse (refusal evaluator with the case's should_refuse, else "
            "detect_refusal)",
            value=_make_refused(ctx),
        ),
    ]
    tools = sorted(
        {t for s in sides for t in s.run.artifact.tool_names()}
        | {c.get("name") for r in rows for c in r.get("tool_calls") or [] if c.get("name")}
    )
    if tools:
        metrics.append(
            _Metric(
                behaviour="tool_usage",
                name="tool_calls_per_case",
                detail="tool calls per answer",
                value=_same(_tool_calls),
            )
        )
        metrics += [
            _Metric(
                behaviour="tool_usage",
                name=f"calls_to:{t}",
                detail=f"share of answers calling {t}",
                value=_same(_calls_to(t)),
            )
            for t in tools
        ]
    structured = any(s.run.artifact.response_format is not None for s in sides)
    if structured or any(parse_json_output(o) is not None for o in outputs):
        metrics.append(
            _Metric(
                behaviour="output_format",
                name="json_valid_rate",
                detail="share of answers that parse as JSON (a ```json fence allowed)",
                value=_same(_json_valid),
            )
        )
    if any("```" in o for o in outputs):
        metrics.append(
            _Metric(
                behaviour="output_format",
                name="code_fence_rate",
                detail="share of answers containing a ``` code fence",
                value=_same(_fenced),
            )
        )
    metrics.append(
        _Metric(
            behaviour="cost",
            name="cost_per_case_usd",
            detail="cost per case (USD)",
            value=lambda side: lambda r: row_cost(ctx.base if side == "baseline" else ctx.cand, r),
        )
    )
    if latency_rows.values["baseline"][0].size and latency_rows.values["candidate"][0].size:
        metrics.append(
            _Metric(
                behaviour="latency",
                name="latency_mean_s",
                detail="mean latency per case (s), same calls as the latency percentiles",
                value=_same(lambda r: None),
            )
        )
    return metrics


def _latency_per_case(rows: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], n: int) -> np.ndarray[Any, Any]:
    values, index = rows
    sums = np.bincount(index, weights=values, minlength=n)
    counts = np.bincount(index, minlength=n)
    out = np.full(n, np.nan)
    out[counts > 0] = sums[counts > 0] / counts[counts > 0]
    return out


def _scope_index(ctx: Context, scope: Mapping[str, str]) -> np.ndarray[Any, Any]:
    return np.array(
        [i for i, m in enumerate(ctx.meta) if all(m.segment.get(k) == v for k, v in scope.items())], dtype=int
    )


def _row(
    ctx: Context,
    *,
    behaviour: Any,
    metric: str,
    detail: str,
    scope: dict[str, str],
    b: np.ndarray[Any, Any],
    c: np.ndarray[Any, Any],
) -> BehaviourChange | None:
    ok = ~np.isnan(b) & ~np.isnan(c)
    b, c = b[ok], c[ok]
    if b.size == 0:
        return None
    key = f"behaviour:{metric}:{sorted(scope.items())}"
    binary = ctx.binary and bool(np.all(np.isin(b, (0.0, 1.0))) and np.all(np.isin(c, (0.0, 1.0))))
    p, test = ctx.test(b, c, binary=binary, key=key)
    low, high = ctx.ci(c - b, key)
    bm, cm = float(b.mean()), float(c.mean())
    return BehaviourChange(
        behaviour=behaviour,
        metric=metric,
        scope=dict(scope),
        n=int(b.size),
        baseline=bm,
        candidate=cm,
        delta=cm - bm,
        delta_pct=rel_change(bm, cm),
        ci_low=low,
        ci_high=high,
        test=test,
        p_value=p,
        p_adjusted=None,
        significant=None,
        direction="none",
        status="no_change",
        declaration=None,
        detail=detail,
    )


def _quality_row(
    ctx: Context, scope: dict[str, str], idx: np.ndarray[Any, Any], groups: Mapping[str, GroupResult]
) -> BehaviourChange | None:
    row = _row(
        ctx,
        behaviour="quality",
        metric="pass_rate",
        detail="pass rate (the paired group test)",
        scope=scope,
        b=ctx.base_rate[idx],
        c=ctx.cand_rate[idx],
    )
    if row is None:
        return None
    key = (
        "overall"
        if not scope
        else (f"segment:{next(iter(scope))}={next(iter(scope.values()))}" if len(scope) == 1 else "")
    )
    group = groups.get(key)
    if group is not None:
        row.p_value, row.test, row.ci_low, row.ci_high = group.p_value, group.test, group.ci_low, group.ci_high
        row.p_adjusted = group.p_value if key == "overall" else group.p_adjusted
    else:
        row.p_adjusted = row.p_value
    return row


def _sequence_row(ctx: Context, scope: dict[str, str], idx: np.ndarray[Any, Any]) -> BehaviourChange | None:
    def modal(rows: Sequence[Row]) -> tuple[str, ...]:
        seqs = Counter(tuple(c.get("name", "") for c in r.get("tool_calls") or []) for r in rows if not r.get("error"))
        return seqs.most_common(1)[0][0] if seqs else ()

    ids = [ctx.ids[i] for i in idx]
    if not ids:
        return None
    changed = [cid for cid in ids if modal(ctx.base.by_case[cid]) != modal(ctx.cand.by_case[cid])]
    share = len(changed) / len(ids)
    shown = ", ".join(changed[:8]) + (f" ... ({len(changed) - 8} more)" if len(changed) > 8 else "")
    return BehaviourChange(
        behaviour="tool_usage",
        metric="tool_sequence_changed",
        scope=dict(scope),
        n=len(ids),
        baseline=None,
        candidate=share,
        delta=None,
        delta_pct=None,
        ci_low=None,
        ci_high=None,
        test=None,
        p_value=None,
        p_adjusted=None,
        significant=None,
        direction="change" if changed else "none",
        status="descriptive",
        declaration=None,
        detail=f"most frequent tool sequence differs in {len(changed)} of {len(ids)} cases"
        + (f": {shown}" if changed else ""),
    )


def _covers(ec: ExpectedChange, scope: Mapping[str, str]) -> bool:
    """A declaration covers its own segment; one without a segment covers every scope."""
    return not ec.segment or dict(ec.segment) == dict(scope)


def _describe(ec: ExpectedChange) -> str:
    where = "" if not ec.segment else " in " + ", ".join(f"{k}={v}" for k, v in ec.segment.items())
    text = f"{ec.behaviour} {ec.direction}{where}"
    return text + (f": {ec.description}" if ec.description else "")


def _observed_text(r: BehaviourChange) -> str:
    if r.status == "descriptive":
        return f"{r.metric}: {r.detail}"
    if r.behaviour == "quality":
        change = pts(r.delta)
    else:
        change = (
            signed_pct(r.delta_pct) if r.delta_pct is not None else f"{r.delta:+.3g}" if r.delta is not None else "n/a"
        )
    verdict = f"significant {r.direction}" if r.significant else "no significant change"
    return f"{r.metric} {r.baseline:.3g} -> {r.candidate:.3g} ({change}, p_adj={pval(r.p_adjusted)}): {verdict}"


def behaviour_changes(
    ctx: Context, *, overall: GroupResult, segments: Sequence[GroupResult], latency_rows: LatencyRows
) -> Behaviour:
    """Measure, test and classify every behaviour metric, overall and in each segment a declaration names."""
    s = ctx.settings
    declared = list(ctx.cand.run.artifact.expected_changes)
    # Every metric is measured over all cases; a declaration scoped to a segment adds its behaviour there.
    scopes: list[tuple[dict[str, str], set[str] | None]] = [({}, None)]
    for ec in declared:
        if ec.segment:
            entry = next((e for e in scopes if e[0] == dict(ec.segment)), None)
            if entry is None:
                scopes.append((dict(ec.segment), {ec.behaviour}))
            elif entry[1] is not None:
                entry[1].add(ec.behaviour)
    groups = {g.key: g for g in [overall, *segments]}
    metrics = _metrics(ctx, latency_rows)
    n = len(ctx.ids)
    per_side: dict[str, dict[str, np.ndarray[Any, Any]]] = {"baseline": {}, "candidate": {}}
    for side_name, side in (("baseline", ctx.base), ("candidate", ctx.cand)):
        for m in metrics:
            if m.name == "latency_mean_s":
                per_side[side_name][m.name] = _latency_per_case(latency_rows.values[side_name], n)
            else:
                per_side[side_name][m.name] = per_case(side, ctx.ids, m.value(side_name))

    rows: list[BehaviourChange] = []
    unmeasured: dict[str, str] = {}
    for scope, behaviours in scopes:
        idx = _scope_index(ctx, scope)
        if idx.size == 0:
            unmeasured[str(sorted(scope.items()))] = "not measured: no compared case is in that segment"
            continue
        wanted = behaviours if behaviours is not None else {m.behaviour for m in metrics} | {"tool_usage", "quality"}
        for m in metrics:
            if m.behaviour not in wanted:
                continue
            row = _row(
                ctx,
                behaviour=m.behaviour,
                metric=m.name,
                detail=m.detail,
                scope=scope,
                b=per_side["baseline"][m.name][idx],
                c=per_side["candidate"][m.name][idx],
            )
            if row is not None:
                rows.append(row)
        if "tool_usage" in wanted and any(m.behaviour == "tool_usage" for m in metrics):
            seq = _sequence_row(ctx, scope, idx)
            if seq is not None:
                rows.append(seq)
        if "quality" in wanted:
            quality = _quality_row(ctx, scope, idx, groups)
            if quality is not None:
                rows.append(quality)

    family = [r for r in rows if r.behaviour != "quality" and r.p_value is not None]
    for r, p in zip(
        family, adjust_pvalues([r.p_value for r in family if r.p_value is not None], s.correction), strict=True
    ):
        r.p_adjusted = p

    matched: set[int] = set()
    for r in rows:
        if r.status == "descriptive":
            for i, ec in enumerate(declared):
                if (
                    ec.behaviour == "tool_usage"
                    and ec.direction == "change"
                    and _covers(ec, r.scope)
                    and r.direction == "change"
                ):
                    r.declaration = _describe(ec)
                    matched.add(i)
            continue
        r.p_adjusted = finite(r.p_adjusted)
        r.significant = r.p_adjusted is not None and r.p_adjusted < s.alpha and bool(r.delta)
        # The most specific declaration first: one for this very segment, then one for everywhere.
        relevant = sorted(
            ((i, ec) for i, ec in enumerate(declared) if ec.behaviour == r.behaviour and _covers(ec, r.scope)),
            key=lambda t: not t[1].segment,
        )
        if not r.significant:
            r.status = "no_change"
            r.declaration = _describe(relevant[0][1]) if relevant else None
            continue
        r.direction = "increase" if (r.delta or 0) > 0 else "decrease"
        hit = next(((i, ec) for i, ec in relevant if ec.direction in ("change", r.direction)), None)
        if hit is None:
            r.status = "undeclared_change"
            r.declaration = None
        else:
            r.status = "declared_change"
            r.declaration = _describe(hit[1])
            matched.add(hit[0])

    not_observed = []
    for i, ec in enumerate(declared):
        if i in matched:
            continue
        same = [r for r in rows if r.behaviour == ec.behaviour and r.scope == dict(ec.segment)]
        if same:
            observed = "; ".join(_observed_text(r) for r in same)
        else:
            observed = unmeasured.get(
                str(sorted(dict(ec.segment).items())), f"not measured: no {ec.behaviour} metric applies to these runs"
            )
        not_observed.append(
            DeclaredChange(
                behaviour=ec.behaviour,
                direction=ec.direction,
                description=ec.description,
                segment=dict(ec.segment),
                observed=observed,
            )
        )
    return Behaviour(changes=rows, declared_not_observed=not_observed)
