"""`compare(baseline_run, candidate_run)`: the paired comparison of two runs over the same cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from promptlab._util.spec import Spec
from promptlab.comparison._behaviour import behaviour_changes
from promptlab.comparison._context import CaseMeta, Context, LatencyRows, mean, passed, per_case, rel_change, row_cost
from promptlab.comparison._format import pct, pts, pval, signed_pct, usd
from promptlab.comparison._model import (
    Behaviour,
    CaseChange,
    Comparability,
    Comparison,
    ComparisonSettings,
    EvaluatorRate,
    FlippedEvaluator,
    GroupPower,
    GroupResult,
    LatencyCost,
    MetricDelta,
    Planning,
    Stability,
    StabilityVersion,
    Summary,
)
from promptlab.comparison._paired import paired_interval, paired_method, paired_p_drop, paired_stats
from promptlab.comparison._power import (
    DEFAULT_DISCORDANCE,
    DEFAULT_POWER,
    DEFAULT_TARGET_DROP,
    cases_needed,
    discordance_from_repeats,
    min_detectable_drop,
)
from promptlab.comparison._sides import Side, check_comparability, run_info
from promptlab.comparison._stats import Correction, adjust_pvalues, bootstrap_quantile_delta_ci, percentile
from promptlab.datasets import HARD_NEGATIVE_TAGS
from promptlab.errors import InputError
from promptlab.evaluators import evaluator_labels

__all__ = ["compare"]

_RISK_FACTOR = {"high": 3.0, "medium": 2.0, "low": 1.0}
_RISK_RANK = {"high": 3, "medium": 2, "low": 1}


def compare(
    baseline_run: str | Path,
    candidate_run: str | Path,
    *,
    out: str | Path | None = None,
    allow_different_datasets: bool = False,
    allow_different_evaluators: bool = False,
    alpha: float = 0.05,
    min_n: int = 10,
    correction: Correction = "holm",
    n_boot: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
    weights: Mapping[str, float] | None = None,
    risk_dimension: str = "risk",
) -> Comparison:
    """Compare a candidate run with a baseline run over the same cases.

    Args:
        baseline_run: The baseline's run directory.
        candidate_run: The candidate's run directory.
        out: If given, write `comparison.json` and `tables/*.csv` there.
        allow_different_datasets: Compare the shared case ids of runs over different datasets (or unfinished runs)
            instead of refusing.
        allow_different_evaluators: Compare runs graded by different evaluator specs instead of refusing.
        alpha: Significance level of tests and intervals.
        min_n: Groups with fewer cases are reported as "not enough data".
        correction: `holm` (family-wise error) or `bh` (Benjamini-Hochberg false discovery rate) across segment and
            tag groups, and across behaviour metrics.
        n_boot: Bootstrap resamples per interval.
        n_permutations: Monte Carlo sign patterns for sign-flip tests with many non-zero differences.
        seed: Seed of every random procedure (same inputs and seed give the same numbers).
        weights: Evaluator label -> weight for ranking regressions (default: a spec's `weight` argument, else 1).
        risk_dimension: Segment dimension whose value (high, medium, low) weighs regressions.

    Raises:
        ComparabilityError: the runs differ (dataset, cases, evaluators) in a way not explicitly allowed.
        InputError: a run directory is missing or an option is out of range.
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha: expected a number between 0 and 1, got {alpha}")
    if min_n < 1:
        raise InputError(f"min_n: expected at least 1, got {min_n}")
    if n_boot < 10 or n_permutations < 10:
        raise InputError("n_boot and n_permutations: expected at least 10")
    if correction not in ("holm", "bh"):
        raise InputError(f"correction: expected holm or bh, got {correction!r}")

    base, cand = Side.open(baseline_run), Side.open(candidate_run)
    comparability, ids = check_comparability(
        base,
        cand,
        allow_different_datasets=allow_different_datasets,
        allow_different_evaluators=allow_different_evaluators,
    )
    settings = ComparisonSettings(
        alpha=alpha,
        min_n=min_n,
        correction=correction,
        n_boot=n_boot,
        n_permutations=n_permutations,
        seed=seed,
        allow_different_datasets=allow_different_datasets,
        allow_different_evaluators=allow_different_evaluators,
        risk_dimension=risk_dimension,
    )
    meta = []
    for cid in ids:
        case = cand.case(cid) or base.case(cid)
        meta.append(
            CaseMeta(case_id=cid, segment=dict(case.segment) if case else {}, tags=list(case.tags) if case else [])
        )
    base_rate = np.array([mean([float(passed(r)) for r in base.by_case[i]]) for i in ids], dtype=float)
    cand_rate = np.array([mean([float(passed(r)) for r in cand.by_case[i]]) for i in ids], dtype=float)
    binary = all(len(base.by_case[i]) == 1 and len(cand.by_case[i]) == 1 for i in ids)
    ctx = Context(
        base=base,
        cand=cand,
        ids=ids,
        meta=meta,
        settings=settings,
        base_rate=base_rate,
        cand_rate=cand_rate,
        binary=binary,
    )

    overall, segments, hard_negatives = _groups(ctx)
    planning = _planning(ctx, overall, segments)
    for g in {id(g): g for g in [overall, *segments, *hard_negatives]}.values():
        g.power = group_power(g.n, planning=planning, alpha=alpha / planning.family_size)
    rates, label_weights = _evaluator_rates(ctx, weights or {})
    regressions = _case_changes(ctx, "regression", label_weights)
    improvements = _case_changes(ctx, "improvement", label_weights)
    latency_cost, latency_rows = _latency_cost(ctx)
    behaviour = behaviour_changes(ctx, overall=overall, segments=segments, latency_rows=latency_rows)
    stability = Stability(baseline=_stability(base, ids), candidate=_stability(cand, ids))

    parts = _Parts(
        overall=overall,
        segments=segments,
        planning=planning,
        regressions=regressions,
        improvements=improvements,
        latency_cost=latency_cost,
        behaviour=behaviour,
        stability=stability,
        comparability=comparability,
        baseline_ref=base.run.artifact.ref,
        candidate_ref=cand.run.artifact.ref,
    )
    comparison = Comparison(
        promptlab_version=_version(),
        settings=settings,
        baseline=run_info(base),
        candidate=run_info(cand),
        dataset_hash=cand.run.manifest.dataset_hash,
        evaluators=list(cand.run.manifest.evaluators),
        comparability=comparability,
        summary=_summary(parts, ctx),
        overall=overall,
        segments=segments,
        hard_negatives=hard_negatives,
        planning=planning,
        evaluator_rates=rates,
        regressions=regressions,
        improvements=improvements,
        latency_cost=latency_cost,
        behaviour=behaviour,
        stability=stability,
    )
    if out is not None:
        comparison.write(out)
    return comparison


def _version() -> str:
    try:
        return version("promptlab")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0+unknown"


# --- groups -------------------------------------------------------------------------------------------------------


def _group(
    ctx: Context, *, key: str, kind: Any, dimension: str | None, value: str | None, label: str, idx: Sequence[int]
) -> GroupResult:
    s = ctx.settings
    n = len(idx)
    hard = kind == "tag" and value in HARD_NEGATIVE_TAGS
    if n == 0:
        return GroupResult(
            key=key,
            kind=kind,
            dimension=dimension,
            value=value,
            label=label,
            hard_negative=hard,
            n=0,
            baseline_pass_rate=None,
            candidate_pass_rate=None,
            delta=None,
            ci_low=None,
            ci_high=None,
            ci_method=None,
            paired=None,
            p_drop=None,
            power=None,
            n_pass_to_fail=0,
            n_fail_to_pass=0,
            test=None,
            p_value=None,
            p_adjusted=None,
            verdict="not_enough_data",
        )
    ix = np.asarray(idx, dtype=int)
    b, c = ctx.base_rate[ix], ctx.cand_rate[ix]
    d = c - b
    stats = paired_stats(b, c, binary=ctx.binary)
    low, high = paired_interval(stats, alpha=s.alpha)
    b_pass, c_pass = b >= 0.5, c >= 0.5
    p_value, test = ctx.test(b, c, binary=ctx.binary, key=key)
    return GroupResult(
        key=key,
        kind=kind,
        dimension=dimension,
        value=value,
        label=label,
        hard_negative=hard,
        n=n,
        baseline_pass_rate=float(b.mean()),
        candidate_pass_rate=float(c.mean()),
        delta=float(d.mean()),
        ci_low=low,
        ci_high=high,
        ci_method=paired_method(stats),
        paired=stats,
        p_drop=paired_p_drop(stats),
        power=None,
        n_pass_to_fail=int(np.sum(b_pass & ~c_pass)),
        n_fail_to_pass=int(np.sum(~b_pass & c_pass)),
        test=test,
        p_value=p_value,
        p_adjusted=None,
        verdict="not_enough_data" if n < s.min_n else "no_significant_change",
    )


def _verdict(g: GroupResult, p: float | None, alpha: float) -> None:
    if g.verdict == "not_enough_data" or p is None or g.delta is None:
        return
    if p < alpha and g.delta > 0:
        g.verdict = "improved"
    elif p < alpha and g.delta < 0:
        g.verdict = "regressed"


def _groups(ctx: Context) -> tuple[GroupResult, list[GroupResult], list[GroupResult]]:
    s = ctx.settings
    overall = _group(
        ctx, key="overall", kind="overall", dimension=None, value=None, label="overall", idx=range(len(ctx.ids))
    )
    _verdict(overall, overall.p_value, s.alpha)

    by_segment: dict[tuple[str, str], list[int]] = {}
    by_tag: dict[str, list[int]] = {}
    for i, m in enumerate(ctx.meta):
        for dim, value in m.segment.items():
            by_segment.setdefault((dim, value), []).append(i)
        for tag in dict.fromkeys(m.tags):
            by_tag.setdefault(tag, []).append(i)
    groups = [
        _group(
            ctx,
            key=f"segment:{dim}={value}",
            kind="segment",
            dimension=dim,
            value=value,
            label=f"{dim}={value}",
            idx=idx,
        )
        for (dim, value), idx in sorted(by_segment.items())
    ]
    groups += [
        _group(ctx, key=f"tag:{tag}", kind="tag", dimension=None, value=tag, label=f"#{tag}", idx=idx)
        for tag, idx in sorted(by_tag.items())
    ]
    tested = [g for g in groups if g.verdict != "not_enough_data" and g.p_value is not None]
    adjusted = adjust_pvalues([g.p_value for g in tested if g.p_value is not None], s.correction)
    for g, p in zip(tested, adjusted, strict=True):
        g.p_adjusted = p
        _verdict(g, p, s.alpha)
    present = {g.value: g for g in groups if g.kind == "tag"}
    hard_negatives = [
        present[tag]
        if tag in present
        else _group(ctx, key=f"tag:{tag}", kind="tag", dimension=None, value=tag, label=f"#{tag}", idx=[])
        for tag in HARD_NEGATIVE_TAGS
    ]
    return overall, groups, hard_negatives


def group_power(n: int, *, planning: Planning, alpha: float, target_drop: float | None = None) -> GroupPower:
    """What `n` cases can detect under the planning assumptions at one-sided level `alpha`."""
    target = target_drop if target_drop is not None and target_drop > 0 else planning.target_drop
    needed = cases_needed(
        target, alpha=alpha, power=planning.power, discordance=planning.discordance, repeats=planning.repeats
    )
    return GroupPower(
        alpha=alpha,
        power=planning.power,
        min_detectable_drop=min_detectable_drop(
            n, alpha=alpha, power=planning.power, discordance=planning.discordance, repeats=planning.repeats
        ),
        target_drop=target,
        cases_needed=needed,
        more_cases_needed=max(0, needed - n),
    )


def _planning(ctx: Context, overall: GroupResult, segments: Sequence[GroupResult]) -> Planning:
    repeats = min(
        (min(len(ctx.base.by_case[i]), len(ctx.cand.by_case[i])) for i in ctx.ids),
        default=1,
    )
    family = max(1, sum(1 for g in segments if g.p_adjusted is not None))
    estimates = [
        discordance_from_repeats([[passed(r) for r in side.by_case[i]] for i in ctx.ids])
        for side in (ctx.base, ctx.cand)
    ]
    found = [e for e in estimates if e is not None]
    if repeats >= 2 and found:
        discordance = float(np.mean(found))
        source = f"measured from how often the {repeats} repeats of one version disagree"
    elif overall.n and overall.n_pass_to_fail + overall.n_fail_to_pass:
        discordance = (overall.n_pass_to_fail + overall.n_fail_to_pass) / overall.n
        source = "observed share of cases whose outcome differs between the two runs (includes real changes)"
    else:
        discordance = DEFAULT_DISCORDANCE
        source = f"assumed default ({DEFAULT_DISCORDANCE:g}); no disagreement observed to measure it"
    discordance = min(max(discordance, 0.005), 1.0)
    return Planning(
        discordance=discordance,
        discordance_source=source,
        repeats=max(1, repeats),
        power=DEFAULT_POWER,
        target_drop=DEFAULT_TARGET_DROP,
        family_size=family,
    )


# --- evaluators ---------------------------------------------------------------------------------------------------


def _spec_labels(specs: Sequence[Any]) -> dict[str, Any]:
    parsed = []
    for raw in specs:
        try:
            parsed.append((Spec.model_validate(raw), raw))
        except ValueError:
            continue
    return dict(zip(evaluator_labels([p for p, _ in parsed]), [r for _, r in parsed], strict=True))


def _spec_weight(spec: Any) -> float | None:
    if isinstance(spec, dict) and len(spec) == 1:
        (args,) = spec.values()
        if isinstance(args, dict) and isinstance(args.get("weight"), (int, float)):
            return float(args["weight"])
    return None


def _eval_rate(rows: list[dict[str, Any]], label: str) -> tuple[float | None, int, list[float], int]:
    """(pass rate over graded repeats, graded count, scores, evaluator errors) of one case for one evaluator."""
    graded: list[float] = []
    scores: list[float] = []
    errors = 0
    for r in rows:
        ev = (r.get("evaluations") or {}).get(label)
        if ev is None:
            continue
        if ev.get("error"):
            errors += 1
            continue
        if ev.get("passed") is not None:
            graded.append(float(bool(ev["passed"])))
        if ev.get("score") is not None:
            scores.append(float(ev["score"]))
    return mean(graded), len(graded), scores, errors


def _labels(ctx: Context) -> list[str]:
    ordered: dict[str, None] = {}
    for label in [*_spec_labels(ctx.base.run.manifest.evaluators), *_spec_labels(ctx.cand.run.manifest.evaluators)]:
        ordered[label] = None
    # Only evaluators that graded results under both versions can be compared.
    seen = []
    for side in (ctx.base, ctx.cand):
        labels: set[str] = set()
        for cid in ctx.ids:
            for r in side.by_case[cid]:
                labels.update((r.get("evaluations") or {}).keys())
        seen.append(labels)
    both = seen[0] & seen[1]
    for label in sorted(both - set(ordered)):
        ordered[label] = None
    return [label for label in ordered if label in both]


def _evaluator_rates(ctx: Context, weights: Mapping[str, float]) -> tuple[list[EvaluatorRate], dict[str, float]]:
    specs = {**_spec_labels(ctx.base.run.manifest.evaluators), **_spec_labels(ctx.cand.run.manifest.evaluators)}
    out: list[EvaluatorRate] = []
    label_weights: dict[str, float] = {}
    for label in _labels(ctx):
        spec = specs.get(label)
        weight = float(weights.get(label, _spec_weight(spec) or 1.0))
        label_weights[label] = weight
        b_vals, c_vals, b_scores, c_scores = [], [], [], []
        single = True
        b_err = c_err = 0
        for cid in ctx.ids:
            b_rate, b_n, b_sc, b_e = _eval_rate(ctx.base.by_case[cid], label)
            c_rate, c_n, c_sc, c_e = _eval_rate(ctx.cand.by_case[cid], label)
            b_err += b_e
            c_err += c_e
            b_scores += b_sc
            c_scores += c_sc
            if b_rate is not None and c_rate is not None:
                b_vals.append(b_rate)
                c_vals.append(c_rate)
                single = single and b_n == 1 and c_n == 1
        b, c = np.array(b_vals), np.array(c_vals)
        p_value: float | None = None
        test: str | None = None
        if b.size:
            p_value, test = ctx.test(b, c, binary=single, key="evaluator:" + label)
        out.append(
            EvaluatorRate(
                label=label,
                spec=spec,
                weight=weight,
                n=int(b.size),
                baseline_pass_rate=float(b.mean()) if b.size else None,
                candidate_pass_rate=float(c.mean()) if c.size else None,
                delta=float((c - b).mean()) if b.size else None,
                n_pass_to_fail=int(np.sum((b >= 0.5) & (c < 0.5))),
                n_fail_to_pass=int(np.sum((b < 0.5) & (c >= 0.5))),
                test=test,
                p_value=p_value,
                baseline_mean_score=mean(b_scores),
                candidate_mean_score=mean(c_scores),
                baseline_errors=b_err,
                candidate_errors=c_err,
            )
        )
    return out, label_weights


# --- regressions and improvements ---------------------------------------------------------------------------------


def _flipped(
    good: list[dict[str, Any]], bad: list[dict[str, Any]], labels: Sequence[str], weights: Mapping[str, float]
) -> list[FlippedEvaluator]:
    """Evaluators passing (majority) on the good side and failing on the bad side, with reasons from the bad side."""
    flipped = []
    for label in labels:
        g, _, _, _ = _eval_rate(good, label)
        b, _, _, _ = _eval_rate(bad, label)
        if g is not None and b is not None and g >= 0.5 > b:
            reason, error = "", None
            for r in bad:
                ev = (r.get("evaluations") or {}).get(label)
                if ev and ev.get("passed") is False:
                    reason, error = str(ev.get("reason") or ""), ev.get("error")
                    break
            flipped.append(FlippedEvaluator(label=label, weight=weights.get(label, 1.0), reason=reason, error=error))
    if flipped:
        return flipped
    # No evaluator flipped by majority: name what made the failing repeats fail.
    for r in bad:
        if r.get("outcome") == "error":
            err = r.get("error") or {}
            return [
                FlippedEvaluator(
                    label=f"error:{err.get('kind', 'error')}",
                    weight=1.0,
                    reason="model call failed",
                    error=err.get("message"),
                )
            ]
        if r.get("outcome") == "evaluator_error":
            msgs = [f"{k}: {v.get('error')}" for k, v in (r.get("evaluations") or {}).items() if v.get("error")]
            return [
                FlippedEvaluator(
                    label="evaluator_error", weight=1.0, reason="an evaluator raised", error="; ".join(msgs) or None
                )
            ]
        failing = [(k, v) for k, v in (r.get("evaluations") or {}).items() if v.get("passed") is False]
        if failing:
            return [
                FlippedEvaluator(
                    label=k, weight=weights.get(k, 1.0), reason=str(v.get("reason") or ""), error=v.get("error")
                )
                for k, v in failing
            ]
    return []


def _case_changes(ctx: Context, kind: Any, weights: Mapping[str, float]) -> list[CaseChange]:
    labels = list(weights)
    dim = ctx.settings.risk_dimension
    items: list[tuple[tuple[Any, ...], CaseChange]] = []
    for i, cid in enumerate(ctx.ids):
        b_rate, c_rate = float(ctx.base_rate[i]), float(ctx.cand_rate[i])
        b_pass, c_pass = b_rate >= 0.5, c_rate >= 0.5
        if kind == "regression" and not (b_pass and not c_pass):
            continue
        if kind == "improvement" and not (c_pass and not b_pass):
            continue
        b_rows, c_rows = ctx.base.by_case[cid], ctx.cand.by_case[cid]
        good, bad = (b_rows, c_rows) if kind == "regression" else (c_rows, b_rows)
        flipped = _flipped(good, bad, labels, weights)
        m = ctx.meta[i]
        risk = m.segment.get(dim)
        severity = sum(f.weight for f in flipped) * _RISK_FACTOR.get((risk or "").lower(), 1.0)
        b_row = next((r for r in b_rows if passed(r) == (kind == "regression")), b_rows[0])
        c_row = next((r for r in c_rows if passed(r) == (kind == "improvement")), c_rows[0])
        change = CaseChange(
            case_id=cid,
            kind=kind,
            rank=0,
            severity=severity,
            risk=risk,
            segment=dict(m.segment),
            tags=list(m.tags),
            baseline_pass_rate=b_rate,
            candidate_pass_rate=c_rate,
            flipped=flipped,
            baseline_output=b_row.get("output"),
            candidate_output=c_row.get("output"),
            baseline_outcome=str(b_row.get("outcome")),
            candidate_outcome=str(c_row.get("outcome")),
        )
        order = (-severity, -_RISK_RANK.get((risk or "").lower(), 0), -len(flipped), -abs(c_rate - b_rate), cid)
        items.append((order, change))
    items.sort(key=lambda t: t[0])
    out = []
    for rank, (_, change) in enumerate(items, start=1):
        change.rank = rank
        out.append(change)
    return out


# --- latency and cost ---------------------------------------------------------------------------------------------


def _latencies(side: Side, ids: Sequence[int | str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str]:
    rows = [
        (i, r)
        for i, cid in enumerate(ids)
        for r in side.by_case[str(cid)]
        if r.get("latency_s") is not None and not r.get("error")
    ]
    fresh = [(i, r) for i, r in rows if not r.get("cached")]
    if fresh:
        used = fresh
        hits = len(rows) - len(fresh)
        source = f"uncached calls ({len(fresh)} rows" + (f"; {hits} cache hits excluded)" if hits else ")")
    elif rows:
        used = rows
        source = f"recorded latencies of cache hits (all {len(rows)} rows were cache hits)"
    else:
        used = []
        source = "no latencies recorded"
    values = np.array([float(r["latency_s"]) for _, r in used], dtype=float)
    index = np.array([i for i, _ in used], dtype=int)
    return values, index, source


def _delta_metric(
    ctx: Context,
    name: str,
    unit: str,
    b: np.ndarray[Any, Any],
    c: np.ndarray[Any, Any],
) -> MetricDelta:
    ok = ~np.isnan(b) & ~np.isnan(c)
    b, c = b[ok], c[ok]
    if b.size == 0:
        return MetricDelta(
            metric=name,
            unit=unit,
            n=0,
            baseline=None,
            candidate=None,
            delta=None,
            delta_pct=None,
            ci_low=None,
            ci_high=None,
        )
    bm, cm = float(b.mean()), float(c.mean())
    low, high = ctx.ci(c - b, "metric:" + name)
    return MetricDelta(
        metric=name,
        unit=unit,
        n=int(b.size),
        baseline=bm,
        candidate=cm,
        delta=cm - bm,
        delta_pct=rel_change(bm, cm),
        ci_low=low,
        ci_high=high,
    )


def _latency_cost(ctx: Context) -> tuple[LatencyCost, LatencyRows]:
    s = ctx.settings
    ids = ctx.ids
    bv, bi, b_src = _latencies(ctx.base, ids)
    cv, ci_, c_src = _latencies(ctx.cand, ids)
    metrics = []
    for q, name in ((50, "latency_p50_s"), (95, "latency_p95_s")):
        b_q, c_q = percentile(bv, q), percentile(cv, q)
        interval = bootstrap_quantile_delta_ci(
            (bv, bi),
            (cv, ci_),
            n_cases=len(ids),
            q=q / 100,
            rng=ctx.rng("latency:" + name),
            n_boot=s.n_boot,
            alpha=s.alpha,
        )
        n = len(set(bi.tolist()) & set(ci_.tolist()))
        metrics.append(
            MetricDelta(
                metric=name,
                unit="s",
                n=n,
                baseline=b_q,
                candidate=c_q,
                delta=None if b_q is None or c_q is None else c_q - b_q,
                delta_pct=rel_change(b_q, c_q),
                ci_low=interval[0] if interval else None,
                ci_high=interval[1] if interval else None,
            )
        )

    def tokens_in(r: Mapping[str, Any]) -> float:
        return float(r.get("input_tokens") or 0)

    def tokens_out(r: Mapping[str, Any]) -> float:
        return float(r.get("output_tokens") or 0)

    per_case_specs: list[tuple[str, str, Any]] = [
        ("input_tokens_per_case", "tokens", tokens_in),
        ("output_tokens_per_case", "tokens", tokens_out),
        ("tokens_per_case", "tokens", lambda r: tokens_in(r) + tokens_out(r)),
        ("cost_per_case_usd", "usd", None),
    ]
    for name, unit, fn in per_case_specs:
        b_fn = fn or (lambda r: row_cost(ctx.base, r))
        c_fn = fn or (lambda r: row_cost(ctx.cand, r))
        metrics.append(_delta_metric(ctx, name, unit, per_case(ctx.base, ids, b_fn), per_case(ctx.cand, ids, c_fn)))

    def total(side: Side, fn: Any) -> float:
        return float(sum(fn(r) for cid in ids for r in side.by_case[cid]))

    totals: list[tuple[str, str, Any, Any, str]] = [
        ("total_input_tokens", "tokens", tokens_in, tokens_in, "input_tokens_per_case"),
        ("total_output_tokens", "tokens", tokens_out, tokens_out, "output_tokens_per_case"),
        (
            "total_tokens",
            "tokens",
            lambda r: tokens_in(r) + tokens_out(r),
            lambda r: tokens_in(r) + tokens_out(r),
            "tokens_per_case",
        ),
        (
            "total_cost_usd",
            "usd",
            lambda r: row_cost(ctx.base, r),
            lambda r: row_cost(ctx.cand, r),
            "cost_per_case_usd",
        ),
    ]
    # With the same number of results for every case on both sides, a total is that count times the per-case mean,
    # so its interval is the per-case interval scaled; otherwise no interval is claimed.
    counts = {len(ctx.base.by_case[i]) for i in ids} | {len(ctx.cand.by_case[i]) for i in ids}
    scale = float(len(ids) * next(iter(counts))) if len(counts) == 1 else None
    by_name = {m.metric: m for m in metrics}
    for name, unit, b_fn, c_fn, per_case_name in totals:
        b_t, c_t = total(ctx.base, b_fn), total(ctx.cand, c_fn)
        pc = by_name[per_case_name]
        ok = scale is not None and pc.ci_low is not None and pc.ci_high is not None
        low = pc.ci_low * scale if ok and pc.ci_low is not None and scale is not None else None
        high = pc.ci_high * scale if ok and pc.ci_high is not None and scale is not None else None
        metrics.append(
            MetricDelta(
                metric=name,
                unit=unit,
                n=len(ids),
                baseline=b_t,
                candidate=c_t,
                delta=c_t - b_t,
                delta_pct=rel_change(b_t, c_t),
                ci_low=low,
                ci_high=high,
            )
        )
    notes = [
        f"latency percentiles use the inverted-CDF definition over per-call latencies; baseline: {b_src}; candidate: "
        f"{c_src}; calls that failed are excluded (they count in the error figures)",
        "intervals are (1 - alpha) percentile bootstraps resampling cases (paired, repeats kept together)",
        "tokens and cost are as recorded per call; a cache hit recorded at zero cost is priced from its tokens",
    ]
    source = {"baseline": b_src, "candidate": c_src}
    return (
        LatencyCost(latency_source=source, metrics=metrics, notes=notes),
        LatencyRows(values={"baseline": (bv, bi), "candidate": (cv, ci_)}, source=source),
    )


# --- stability and summary ----------------------------------------------------------------------------------------


def _stability(side: Side, ids: Sequence[str]) -> StabilityVersion:
    repeats = max((len(side.by_case[c]) for c in ids), default=0)
    multi = [c for c in ids if len(side.by_case[c]) >= 2]
    if repeats < 2:
        return StabilityVersion(repeats=repeats, n_cases=0, n_flaky=None, flaky_rate=None, case_ids=[])
    flaky = [c for c in multi if len({passed(r) for r in side.by_case[c]}) > 1]
    return StabilityVersion(
        repeats=repeats,
        n_cases=len(multi),
        n_flaky=len(flaky),
        flaky_rate=len(flaky) / len(multi),
        case_ids=sorted(flaky),
    )


@dataclass(kw_only=True)
class _Parts:
    """The sections a summary is drawn from."""

    overall: GroupResult
    segments: list[GroupResult]
    planning: Planning
    regressions: list[CaseChange]
    improvements: list[CaseChange]
    latency_cost: LatencyCost
    behaviour: Behaviour
    stability: Stability
    comparability: Comparability
    baseline_ref: str
    candidate_ref: str

    def metric(self, name: str) -> MetricDelta | None:
        return next((m for m in self.latency_cost.metrics if m.metric == name), None)


def _summary(cmp: _Parts, ctx: Context) -> Summary:
    s = ctx.settings
    o = cmp.overall
    level = f"{(1 - s.alpha) * 100:g}%"
    b, c = cmp.baseline_ref, cmp.candidate_ref
    reps = {len(ctx.base.by_case[i]) for i in ctx.ids} | {len(ctx.cand.by_case[i]) for i in ctx.ids}
    rep_text = f"{max(reps)} repeats" if max(reps) > 1 else "1 repeat"
    headline = (
        f"candidate {c} vs baseline {b} on {o.n} cases: pass rate {pct(o.baseline_pass_rate)} -> "
        f"{pct(o.candidate_pass_rate)} ({pts(o.delta)}, {level} CI {pts(o.ci_low)} to {pts(o.ci_high)}, "
        f"p={pval(o.p_value)}): {o.verdict.replace('_', ' ')}"
    )
    tested = [g for g in cmp.segments if g.p_adjusted is not None]
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[s.correction]
    correction = (
        f"{name} across the {len(tested)} segment and tag groups with n >= {s.min_n} (the overall group "
        f"is the primary test and is not adjusted); {name} also across the tested behaviour metrics; a gate rule "
        f"recomputes its own family from exactly the groups it judges"
    )
    verdicts: dict[str, int] = {"improved": 0, "regressed": 0, "no_significant_change": 0, "not_enough_data": 0}
    for g in cmp.segments:
        verdicts[g.verdict] += 1
    regressed = [g for g in cmp.segments if g.verdict == "regressed"]
    improved = [g for g in cmp.segments if g.verdict == "improved"]
    undeclared = [x for x in cmp.behaviour.changes if x.status == "undeclared_change"]
    declared = [x for x in cmp.behaviour.changes if x.status == "declared_change"]

    lines = [
        f"candidate {c} vs baseline {b}: {o.n} cases, {rep_text}, tests: {o.test}",
        f"overall pass rate {pct(o.baseline_pass_rate)} -> {pct(o.candidate_pass_rate)} ({pts(o.delta)}, {level} CI "
        f"{pts(o.ci_low)} to {pts(o.ci_high)}, p={pval(o.p_value)}): {o.verdict.replace('_', ' ')}",
        f"segments and tags ({name}-adjusted): {verdicts['improved']} improved, {verdicts['regressed']} regressed, "
        f"{verdicts['no_significant_change']} no significant change, {verdicts['not_enough_data']} not enough data "
        f"(n < {s.min_n})",
    ]
    for g in regressed:
        lines.append(
            f"  regressed: {g.label} (n={g.n}, {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)}, "
            f"{pts(g.delta)}, p_adj={pval(g.p_adjusted)})"
        )
    for g in improved:
        lines.append(
            f"  improved: {g.label} (n={g.n}, {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)}, "
            f"{pts(g.delta)}, p_adj={pval(g.p_adjusted)})"
        )
    small = [g for g in cmp.segments if g.verdict == "not_enough_data" and g.n > 0]
    if small:
        lines.append(
            "  not enough data: "
            + ", ".join(f"{g.label} (n={g.n}, needs {max(s.min_n - g.n, 0)} more cases)" for g in small[:6])
            + (" ..." if len(small) > 6 else "")
        )
    plan = cmp.planning
    judged = [g for g in cmp.segments if g.p_adjusted is not None and g.power is not None]
    smallest = min(judged, key=lambda g: g.n, default=None)
    if o.power is not None:
        detect = f"overall detects a drop of {_drop(o.power.min_detectable_drop)}"
        if smallest is not None and smallest.power is not None:
            detect += (
                f", the smallest segment ({smallest.label}, n={smallest.n}) one of "
                f"{_drop(smallest.power.min_detectable_drop)}"
            )
        lines.append(
            f"power ({plan.power:.0%}, one-sided alpha {s.alpha:g}/{plan.family_size} per group): {detect}; "
            f"noise: {plan.discordance:.1%} of cases disagree between two runs of one version "
            f"({plan.discordance_source})"
        )
    top = ", ".join(f"{r.case_id}" + (f" [risk {r.risk}]" if r.risk else "") for r in cmp.regressions[:3])
    lines.append(
        f"cases pass -> fail: {len(cmp.regressions)}"
        + (f" (top: {top})" if top else "")
        + f"; fail -> pass: {len(cmp.improvements)}"
    )
    p95, cost = cmp.metric("latency_p95_s"), cmp.metric("cost_per_case_usd")
    if p95 and p95.baseline is not None and p95.candidate is not None:
        lines.append(
            f"latency p95 {p95.baseline:.3g}s -> {p95.candidate:.3g}s ({signed_pct(p95.delta_pct)})"
            + (
                f"; cost/case {usd(cost.baseline)} -> {usd(cost.candidate)} ({signed_pct(cost.delta_pct)})"
                if cost and cost.baseline is not None and cost.candidate is not None
                else ""
            )
        )
    behaviour = f"behaviour: {len(declared)} declared changes observed, {len(undeclared)} undeclared"
    if undeclared:
        behaviour += (
            " ("
            + ", ".join(
                f"{x.metric}{_scope(x.scope)} {signed_pct(x.delta_pct) if x.delta_pct is not None else pts(x.delta)}"
                for x in undeclared[:4]
            )
            + ")"
        )
    nd = cmp.behaviour.declared_not_observed
    behaviour += f", {len(nd)} declared not observed" + (
        " (" + ", ".join(f"{d.behaviour} {d.direction}" for d in nd[:4]) + ")" if nd else ""
    )
    lines.append(behaviour)
    st = cmp.stability
    if st.baseline.n_flaky is None and st.candidate.n_flaky is None:
        lines.append("stability: not measured (one repeat per case)")
    else:
        parts = []
        for side_name, v in (("baseline", st.baseline), ("candidate", st.candidate)):
            parts.append(
                f"{side_name} {v.n_flaky}/{v.n_cases} flaky" if v.n_flaky is not None else f"{side_name} not measured"
            )
        lines.append("stability: " + ", ".join(parts))
    notes = [*cmp.comparability.notes, *cmp.latency_cost.notes[:1]]
    for side_name, side in (("baseline", ctx.base), ("candidate", ctx.cand)):
        outcomes = [r.get("outcome") for i in ctx.ids for r in side.by_case[i]]
        failed, broken = outcomes.count("error"), outcomes.count("evaluator_error")
        if failed or broken:
            notes.append(
                f"{side_name}: "
                + ", ".join(
                    text
                    for count, text in (
                        (failed, f"{failed} model call{'s' if failed != 1 else ''} failed"),
                        (broken, f"{broken} result{'s' if broken != 1 else ''} had an evaluator error"),
                    )
                    if count
                )
                + "; they count as not passing"
            )
    return Summary(
        headline=headline,
        verdict=o.verdict,
        n_cases=o.n,
        baseline_pass_rate=o.baseline_pass_rate,
        candidate_pass_rate=o.candidate_pass_rate,
        delta=o.delta,
        correction=correction,
        segment_verdicts=verdicts,
        regressed_groups=[g.label for g in regressed],
        n_regressions=len(cmp.regressions),
        n_improvements=len(cmp.improvements),
        n_undeclared_changes=len(undeclared),
        n_declared_not_observed=len(nd),
        lines=lines,
        notes=notes,
    )


def _drop(d: float | None) -> str:
    return "none detectable (even -100 pts)" if d is None else f"{d * 100:.1f} pts"


def _scope(scope: Mapping[str, str]) -> str:
    return "" if not scope else " [" + ", ".join(f"{k}={v}" for k, v in scope.items()) + "]"
