"""Gate rules: each a keyword-only dataclass registered in `gate_rules`, checked against a comparison.

A rule returns pass, block, or needs_approval. `needs_approval` carries the trade-offs a named person may accept
(e.g. +12% cost for +4 points of quality); an approval never turns a block into a pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptlab._util.spec import Pluggable, SpecRegistry
from promptlab.comparison import (
    Comparison,
    GroupPower,
    GroupResult,
    MetricDelta,
    describe_identity_change,
    group_power,
    holm,
    holm_levels,
    paired_interval,
    paired_method,
    paired_p_drop,
    pct,
    pts,
    pval,
    signed_pct,
    usd,
    wilson_interval,
)
from promptlab.datasets import HARD_NEGATIVE_TAGS
from promptlab.errors import SpecError
from promptlab.review import ReviewSignoff

__all__ = [
    "CostBudget",
    "GateContext",
    "GateRule",
    "HardNegativeCoverage",
    "LatencyBudget",
    "MaxNewRegressions",
    "MinPassRate",
    "NoSegmentRegression",
    "QualityTradeoff",
    "RequiredReviews",
    "RuleOutcome",
    "Tradeoff",
    "gate_rules",
]

Status = Literal["pass", "block", "needs_approval"]


@dataclass(kw_only=True)
class Tradeoff:
    """Something a named person may accept: an id stable across re-runs, and what it costs in words."""

    id: str
    summary: str


@dataclass(kw_only=True)
class RuleOutcome:
    """A rule's verdict with its evidence (human lines) and data (numbers)."""

    status: Status
    evidence: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    tradeoffs: list[Tradeoff] = field(default_factory=list)


@dataclass(kw_only=True)
class GateContext:
    """What rules look at."""

    comparison: Comparison
    reviews: Sequence[ReviewSignoff] = ()


class GateRule(Pluggable, ABC):
    """Base class: subclass as a keyword-only dataclass and register with `@gate_rules.register("name")`."""

    @abstractmethod
    def check(self, ctx: GateContext) -> RuleOutcome:
        """Judge the comparison."""


gate_rules: SpecRegistry[GateRule] = SpecRegistry("gate rule")
"""The gate rule registry."""


def _fraction(name: str, rule: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise SpecError(f"gate rule '{rule}': argument '{name}': expected a fraction between 0 and 1, got {value}")


def _confidence(rule: str, value: float) -> None:
    if not 0.5 < value < 1:
        raise SpecError(f"gate rule '{rule}': argument 'confidence': expected a number between 0.5 and 1, got {value}")


def _level(alpha: float) -> str:
    return f"{(1 - alpha) * 100:.3g}%"


@dataclass(kw_only=True)
class _Judged:
    """One group's one-sided test inside a rule's multiple-comparison family."""

    group: GroupResult
    p: float
    p_adjusted: float
    level: float
    """One-sided level Holm compared the group with (alpha itself without adjustment)."""
    nominal: tuple[float, float]
    adjusted: tuple[float, float]
    """Two-sided interval at 1 - 2 * level: its upper end is the one-sided bound the verdict used."""
    significant: bool
    blocks: bool


def _judge(groups: Sequence[GroupResult], *, alpha: float, margin: float, adjusted: bool = True) -> list[_Judged]:
    """One-sided tests of "the candidate is worse" over exactly `groups`, Holm-adjusted across them.

    A group blocks when the test is significant (its adjusted upper bound is below 0) and its observed drop is
    larger than `margin`; an observed drop exactly equal to the margin does not block.
    """
    tested = [g for g in groups if g.paired is not None]
    ps = [paired_p_drop(g.paired) for g in tested if g.paired is not None]
    if adjusted:
        p_adj, levels = holm(ps), holm_levels(ps, alpha)
    else:
        p_adj, levels = list(ps), [alpha] * len(ps)
    out = []
    for g, p, pa, level in zip(tested, ps, p_adj, levels, strict=True):
        assert g.paired is not None
        significant = pa < alpha if adjusted else p < alpha
        out.append(
            _Judged(
                group=g,
                p=p,
                p_adjusted=pa,
                level=level,
                nominal=paired_interval(g.paired, alpha=2 * alpha),
                adjusted=paired_interval(g.paired, alpha=2 * level),
                significant=significant,
                blocks=significant and g.delta is not None and g.delta < -margin - 1e-12,
            )
        )
    return out


def _judged_line(j: _Judged, alpha: float, family: int, ci_alpha: float) -> str:
    g = j.group
    low, high = (g.ci_low, g.ci_high) if g.ci_low is not None and g.ci_high is not None else j.nominal
    bound = j.adjusted[1]
    allowing = f"allowing for the {family} groups checked, " if family > 1 and j.level < alpha else ""
    claim = (
        f"{allowing}it fell by at least {-bound * 100:.1f} pts with {1 - alpha:.0%} confidence"
        if bound < 0
        else f"{allowing}a drop is not established with {1 - alpha:.0%} confidence"
    )
    return (
        f"{g.label}: n={g.n}, {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)} ({pts(g.delta)}); "
        f"{claim} (adjusted interval {pts(j.adjusted[0])} to {pts(j.adjusted[1])} at the one-sided "
        f"level {_level(j.level)}; unadjusted {_level(ci_alpha)} interval {pts(low)} to {pts(high)}; "
        f"{paired_method(g.paired)}; "
        f"adjusted p={pval(j.p_adjusted)})"
    )


def _judged_data(j: _Judged) -> dict[str, Any]:
    g = j.group
    return {
        "key": g.key,
        "label": g.label,
        "n": g.n,
        "delta": g.delta,
        "p_one_sided": j.p,
        "p_adjusted": j.p_adjusted,
        "level": j.level,
        "interval_nominal": list(j.nominal),
        "interval_adjusted": list(j.adjusted),
        "significant": j.significant,
        "blocks": j.blocks,
    }


def _plan(c: Comparison, n: int, *, alpha: float, target: float) -> GroupPower:
    return group_power(n, planning=c.planning, alpha=alpha, target_drop=target)


def _drop_text(d: float | None) -> str:
    return "no drop at all (too few cases)" if d is None else f"a drop of {d * 100:.0f} pts"


@gate_rules.register("min_pass_rate")
@dataclass(kw_only=True)
class MinPassRate(GateRule):
    """The candidate's overall pass rate must reach `min`, judged by its Wilson score interval over cases.

    With `bound: upper` (default) the rule blocks only when the whole interval lies below `min` (the candidate is
    confidently below the threshold: a candidate exactly at the threshold is blocked at most 1 - confidence of the
    time). With `bound: lower` the candidate must prove it: the lower bound must reach `min`.
    """

    min: float
    confidence: float = 0.95
    bound: Literal["upper", "lower"] = "upper"

    def __post_init__(self) -> None:
        _fraction("min", "min_pass_rate", self.min)
        _confidence("min_pass_rate", self.confidence)

    def check(self, ctx: GateContext) -> RuleOutcome:
        o = ctx.comparison.overall
        rate = o.candidate_pass_rate
        alpha = 1 - self.confidence
        data: dict[str, Any] = {
            "candidate_pass_rate": rate,
            "baseline_pass_rate": o.baseline_pass_rate,
            "min": self.min,
            "bound": self.bound,
            "confidence": self.confidence,
        }
        if rate is None or o.n == 0:
            return RuleOutcome(status="block", evidence=["no cases compared: no pass rate to judge"], data=data)
        # One-sided bounds: the two-sided interval at 2 * alpha.
        low, high = wilson_interval(rate * o.n, o.n, alpha=2 * alpha)
        data.update(lower_bound=low, upper_bound=high, method="Wilson score interval over cases")
        if self.bound == "upper":
            ok = high >= self.min - 1e-12
            line = (
                f"candidate pass rate {pct(rate)} (n={o.n}; with {self.confidence:.0%} confidence at most {pct(high)}) "
                + (
                    f"is not confidently below the required {pct(self.min)}"
                    if ok
                    else f"is confidently below the required {pct(self.min)}"
                )
                + f" (baseline {pct(o.baseline_pass_rate)}; one-sided Wilson score bound)"
            )
        else:
            ok = low >= self.min - 1e-12
            line = (
                f"candidate pass rate {pct(rate)} (n={o.n}; with {self.confidence:.0%} confidence at least {pct(low)}) "
                + (
                    f"reaches the required {pct(self.min)}"
                    if ok
                    else f"is not shown to reach the required {pct(self.min)}"
                )
                + f" (baseline {pct(o.baseline_pass_rate)}; one-sided Wilson score bound)"
            )
        return RuleOutcome(status="pass" if ok else "block", evidence=[line], data=data)


@gate_rules.register("no_segment_regression")
@dataclass(kw_only=True)
class NoSegmentRegression(GateRule):
    """No group (overall, segment value or tag) with at least `min_n` cases may drop by more than `margin` with
    statistical confidence.

    Each judged group gets a one-sided paired test of "the candidate is worse" (McNemar's score test with one repeat,
    a t-test on per-case mean differences with repeats). With `adjusted` (default) Holm's procedure runs over exactly
    the groups this rule judges (the overall group included when `include_overall`), so the chance that a candidate
    as good as the baseline is blocked stays at most `1 - confidence`. A group blocks when its test is significant
    and its observed drop is larger than `margin` (a fraction: 0.05 = 5 points); a drop exactly equal to the margin
    passes. Groups with fewer than `min_n` cases are not judged (and are outside the family); one that on its own shows
    a drop beyond the margin (one-sided test at `confidence`, unadjusted) gets the `small_groups` outcome
    (needs_approval by default), and every one is listed in the evidence with the cases it still needs.
    """

    min_n: int = 20
    margin: float = 0.0
    confidence: float = 0.95
    adjusted: bool = True
    include_tags: bool = True
    include_overall: bool = True
    small_groups: Literal["needs_approval", "block", "pass"] = "needs_approval"

    def __post_init__(self) -> None:
        _fraction("margin", "no_segment_regression", self.margin)
        _confidence("no_segment_regression", self.confidence)
        if self.min_n < 1:
            raise SpecError("gate rule 'no_segment_regression': argument 'min_n': expected at least 1")

    def check(self, ctx: GateContext) -> RuleOutcome:
        c = ctx.comparison
        alpha = 1 - self.confidence
        groups = [
            *([c.overall] if self.include_overall else []),
            *[g for g in c.segments if self.include_tags or g.kind != "tag"],
        ]
        judged_groups = [g for g in groups if g.n >= self.min_n and g.paired is not None]
        small = [g for g in groups if 0 < g.n < self.min_n]
        judged = _judge(judged_groups, alpha=alpha, margin=self.margin, adjusted=self.adjusted)
        m = max(len(judged), 1)
        target = self.margin if self.margin > 0 else None
        family = (
            "Holm over exactly the groups judged"
            + (", overall included" if self.include_overall else "; overall not judged")
            if self.adjusted
            else "each group on its own, no multiple-comparison adjustment"
        )
        dropped = [j for j in judged if j.blocks]
        # A group too small to judge still needs a human when, on its own, it shows a drop beyond the margin at the
        # rule's confidence (e.g. 10/12 -> 0/12); the others are listed with the cases they still need.
        small_drops = [
            g
            for g in small
            if g.paired is not None
            and g.delta is not None
            and g.delta < -self.margin - 1e-12
            and paired_p_drop(g.paired) < alpha
        ]
        plan_alpha = alpha / m if self.adjusted else alpha
        power = {
            g.key: _plan(c, g.n, alpha=plan_alpha, target=target or 0.0).__dict__ for g in [*judged_groups, *small]
        }
        smallest = min(judged_groups, key=lambda g: g.n, default=None)
        power_line = ""
        if smallest is not None:
            sp = _plan(c, smallest.n, alpha=plan_alpha, target=target or 0.0)
            power_line = (
                f"power: the smallest judged group ({smallest.label}, n={smallest.n}) detects "
                f"{_drop_text(sp.min_detectable_drop)} {sp.power:.0%} of the time; a drop of "
                f"{sp.target_drop * 100:g} pts needs {sp.cases_needed} cases per group"
            )
        small_lines = [
            f"{g.label}: n={g.n} < {self.min_n}, {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)} "
            f"({pts(g.delta)}): too few cases to judge, needs {self.min_n - g.n} more"
            + (
                f" (and {power[g.key]['more_cases_needed']} more to detect a {power[g.key]['target_drop'] * 100:g}-pt "
                f"drop {power[g.key]['power']:.0%} of the time)"
                if power[g.key]["more_cases_needed"] > self.min_n - g.n
                else ""
            )
            + ("; on its own it shows a drop beyond the margin (unadjusted one-sided test)" if g in small_drops else "")
            for g in small
        ]
        data: dict[str, Any] = {
            "confidence": self.confidence,
            "margin": self.margin,
            "family": [j.group.key for j in judged],
            "family_includes_overall": self.include_overall and any(j.group.kind == "overall" for j in judged),
            "judged": [_judged_data(j) for j in judged],
            "dropped": [_judged_data(j) for j in dropped],
            "too_small": [g.key for g in small],
            "small_with_drop": [g.key for g in small_drops],
            "power": power,
            "planning": c.planning.__dict__,
        }
        criterion = (
            f"fell by more than {self.margin * 100:g} pts and, with {self.confidence:.0%} confidence, not by chance "
            f"(one-sided paired test, {family})"
        )
        if dropped:
            head = f"{len(dropped)} of {len(judged)} groups {criterion}: " + ", ".join(j.group.label for j in dropped)
            return RuleOutcome(
                status="block",
                evidence=[
                    head,
                    *(_judged_line(j, alpha, len(judged), c.settings.alpha) for j in dropped),
                    *small_lines,
                    *([power_line] if power_line else []),
                ],
                data=data,
            )
        if small_drops and self.small_groups != "pass":
            status: Status = self.small_groups
            head = (
                f"{', '.join(g.label for g in small_drops)} dropped by more than {self.margin * 100:g} pts "
                f"(significant "
                f"on its own at {self.confidence:.0%}) but "
                f"{'has' if len(small_drops) == 1 else 'have'} fewer than {self.min_n} cases to judge; none of "
                f"{len(judged)} groups {criterion}"
            )
            tradeoffs = [
                Tradeoff(
                    id=f"no_segment_regression:small:{g.key}",
                    summary=f"{g.label} {pts(g.delta)} on only {g.n} cases (needs {self.min_n - g.n} more to judge)",
                )
                for g in small_drops
            ]
            return RuleOutcome(
                status=status,
                evidence=[head, *small_lines, *([power_line] if power_line else [])],
                data=data,
                tradeoffs=tradeoffs if status == "needs_approval" else [],
            )
        head = f"none of {len(judged)} groups {criterion}"
        return RuleOutcome(
            status="pass", evidence=[head, *([power_line] if power_line else []), *small_lines], data=data
        )


@gate_rules.register("max_new_regressions")
@dataclass(kw_only=True)
class MaxNewRegressions(GateRule):
    """Net new failures (cases that newly fail minus cases that newly pass) may not exceed `max_rate` of the cases
    with statistical confidence.

    The rule tests H0: the candidate's pass rate is at most `max_rate` below the baseline's, one-sided at
    `confidence` (McNemar's score test at a margin, Tango 1998, with one repeat; a t-test on per-case mean
    differences with repeats), so the limit scales with the number of cases and noise alone blocks at most
    1 - confidence of the time. `k` is the former raw count: it is read as `max_rate = k / n` for the n cases compared.
    """

    k: int | None = None
    max_rate: float | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 0:
            raise SpecError("gate rule 'max_new_regressions': argument 'k': expected 0 or more")
        if self.k is not None and self.max_rate is not None:
            raise SpecError(
                "gate rule 'max_new_regressions': give max_rate (a share of cases) or the former count k, not both"
            )
        if self.max_rate is not None:
            _fraction("max_rate", "max_new_regressions", self.max_rate)
        _confidence("max_new_regressions", self.confidence)

    def check(self, ctx: GateContext) -> RuleOutcome:
        c = ctx.comparison
        o = c.overall
        regs = c.regressions
        alpha = 1 - self.confidence
        n = max(o.n, 1)
        rate = self.max_rate if self.max_rate is not None else (self.k or 0) / n
        translated = f" (the count k={self.k} read as {self.k}/{o.n} of the cases)" if self.k is not None else ""
        data: dict[str, Any] = {
            "pass_to_fail": o.n_pass_to_fail,
            "fail_to_pass": o.n_fail_to_pass,
            "n": o.n,
            "max_rate": rate,
            "k": self.k,
            "confidence": self.confidence,
            "case_ids": [r.case_id for r in regs],
        }
        if o.paired is None:
            return RuleOutcome(status="block", evidence=["no cases compared: nothing to judge"], data=data)
        p = paired_p_drop(o.paired, margin=rate)
        low, high = paired_interval(o.paired, alpha=2 * alpha)
        net = -(o.delta or 0.0)
        ok = p >= alpha
        data.update(p_one_sided=p, net_new_failure_rate=net, net_upper_bound=-low, net_lower_bound=-high)
        top = ", ".join(r.case_id + (f" [risk {r.risk}]" if r.risk else "") for r in regs[:5])
        line = (
            f"{o.n_pass_to_fail} cases newly fail and {o.n_fail_to_pass} newly pass: net new failures "
            f"{net * 100:+.1f}% "
            f"of {o.n} cases, with {self.confidence:.0%} confidence at most {-low * 100:+.1f}%, "
            + (
                f"not shown to exceed the limit of {rate * 100:.1f}%{translated}"
                if ok
                else f"confidently over the limit of {rate * 100:.1f}%{translated}"
            )
            + f" (one-sided p={pval(p)}, {paired_method(o.paired)})"
        )
        return RuleOutcome(
            status="pass" if ok else "block",
            evidence=[line, *([f"top pass -> fail: {top}"] if top else [])],
            data=data,
        )


@gate_rules.register("hard_negative_coverage")
@dataclass(kw_only=True)
class HardNegativeCoverage(GateRule):
    """Each hard-negative category needs at least `min_cases` cases, and may not get worse with statistical
    confidence.

    A category blocks when it has fewer than `min_cases` cases (a property of the test set, not a measurement), or
    when its one-sided paired test of "the candidate is worse" is significant (Holm across the categories judged,
    at `confidence`) and its observed drop is larger than `max_drop` (0 = any drop); a drop exactly equal to
    `max_drop` passes.
    """

    min_cases: int = 5
    max_drop: float = 0.0
    confidence: float = 0.95
    categories: list[str] = field(default_factory=lambda: list(HARD_NEGATIVE_TAGS))

    def __post_init__(self) -> None:
        _fraction("max_drop", "hard_negative_coverage", self.max_drop)
        _confidence("hard_negative_coverage", self.confidence)
        unknown = [c for c in self.categories if c not in HARD_NEGATIVE_TAGS]
        if unknown:
            raise SpecError(
                f"gate rule 'hard_negative_coverage': argument 'categories': unknown category "
                f"'{unknown[0]}' (expected: {', '.join(HARD_NEGATIVE_TAGS)})"
            )

    def check(self, ctx: GateContext) -> RuleOutcome:
        c = ctx.comparison
        alpha = 1 - self.confidence
        by_tag = {g.value: g for g in c.hard_negatives}
        present = [by_tag[t] for t in self.categories if t in by_tag and by_tag[t].n >= self.min_cases]
        judged = {j.group.value: j for j in _judge(present, alpha=alpha, margin=self.max_drop)}
        lines, failures, data = [], [], {}
        for tag in self.categories:
            g = by_tag.get(tag)
            n = g.n if g else 0
            b = g.baseline_pass_rate if g else None
            cr = g.candidate_pass_rate if g else None
            problems = []
            if n < self.min_cases:
                problems.append(f"only {n} cases (need {self.min_cases}: {self.min_cases - n} more)")
            j = judged.get(tag)
            if j is not None and j.blocks:
                problems.append(
                    f"confidently worse ({pts(g.delta if g else None)}, adjusted p={pval(j.p_adjusted)}, "
                    f"{_level(2 * j.level)} adjusted interval {pts(j.adjusted[0])} to {pts(j.adjusted[1])})"
                )
            short = tag.split(":", 1)[1]
            detail = (
                f", {_level(c.settings.alpha)} interval {pts(g.ci_low)} to {pts(g.ci_high)}, adjusted one-sided p="
                f"{pval(j.p_adjusted)}"
                if j is not None and g is not None and not j.blocks
                else ""
            )
            lines.append(
                f"{short}: n={n}, {pct(b)} -> {pct(cr)}{detail}" + (" - " + "; ".join(problems) if problems else "")
            )
            if problems:
                failures.append(short)
            data[tag] = {
                "n": n,
                "baseline_pass_rate": b,
                "candidate_pass_rate": cr,
                "problems": problems,
                **({"test": _judged_data(j)} if j is not None else {}),
            }
        head = (
            f"hard-negative coverage fails for {', '.join(failures)}"
            if failures
            else (
                f"every hard-negative category has >= {self.min_cases} cases and none is worse with "
                f"{self.confidence:.0%} confidence (one-sided paired tests, Holm over the {len(judged)} categories)"
            )
        )
        return RuleOutcome(status="block" if failures else "pass", evidence=[head, *lines], data=data)


def _budget(
    rule: str,
    metric: MetricDelta | None,
    *,
    label: str,
    unit: str,
    max_abs: float | None,
    max_pct: float | None,
    approval_pct: float | None,
    alpha: float,
) -> RuleOutcome:
    if metric is None or metric.candidate is None:
        return RuleOutcome(status="block", evidence=[f"no {label} figures in the comparison"], data={})
    b, c = metric.baseline, metric.candidate
    change = metric.delta_pct
    if change is None and b is not None:
        # Baseline at zero: any increase is unbounded in relative terms.
        change = 0.0 if c <= b else float("inf")
    fmt = (lambda x: f"{x:.3g}s") if unit == "s" else usd
    desc = f"{label} {fmt(b) if b is not None else 'n/a'} -> {fmt(c)} ({signed_pct(change)})"
    data = {
        "metric": metric.metric,
        "baseline": b,
        "candidate": c,
        "delta_pct": None if change is None or change == float("inf") else change,
        "ci_low": metric.ci_low,
        "ci_high": metric.ci_high,
    }
    # Limits are judged on the paired interval of the change (cases resampled), not on the point estimate alone:
    # confidently over a limit blocks; over it on the point estimate but not confidently needs a named approval.
    low_c = c + (metric.ci_low - metric.delta) if metric.ci_low is not None and metric.delta is not None else c
    low_pct = metric.ci_low / abs(b) * 100 if metric.ci_low is not None and b is not None and b != 0 else change
    bound = (
        f"; with {_level(alpha)} confidence at least {fmt(low_c)} ({signed_pct(low_pct)})"
        if low_pct is not None
        else ""
    )
    data.update(lower_bound=low_c, lower_bound_pct=low_pct)
    t = Tradeoff(id=f"{rule}:{metric.metric}", summary=f"{label} {signed_pct(change)}")
    if max_abs is not None and c > max_abs:
        if low_c > max_abs:
            return RuleOutcome(status="block", evidence=[f"{desc} exceeds the limit {fmt(max_abs)}{bound}"], data=data)
        return RuleOutcome(
            status="needs_approval",
            data=data,
            tradeoffs=[t],
            evidence=[f"{desc} may exceed the limit {fmt(max_abs)} (not confidently{bound}): needs approval"],
        )
    if max_pct is not None and change is not None and change > max_pct:
        if low_pct is not None and low_pct > max_pct:
            return RuleOutcome(
                status="block", evidence=[f"{desc}: increase over the limit of +{max_pct:g}%{bound}"], data=data
            )
        return RuleOutcome(
            status="needs_approval",
            data=data,
            tradeoffs=[t],
            evidence=[f"{desc} may exceed the limit of +{max_pct:g}% (not confidently{bound}): needs approval"],
        )
    if approval_pct is not None and change is not None and change > approval_pct:
        return RuleOutcome(
            status="needs_approval",
            data=data,
            tradeoffs=[t],
            evidence=[f"{desc}: above +{approval_pct:g}% needs approval{bound}"],
        )
    limits = [
        f"limit {fmt(max_abs)}" if max_abs is not None else "",
        f"max +{max_pct:g}%" if max_pct is not None else "",
        f"approval above +{approval_pct:g}%" if approval_pct is not None else "",
    ]
    return RuleOutcome(
        status="pass", evidence=[f"{desc} within budget ({', '.join(x for x in limits if x)})"], data=data
    )


@gate_rules.register("latency_budget")
@dataclass(kw_only=True)
class LatencyBudget(GateRule):
    """p95 latency must stay under `p95_max_s` and/or rise by at most `max_increase_pct` percent; a rise above
    `approval_above_pct` needs approval."""

    p95_max_s: float | None = None
    max_increase_pct: float | None = None
    approval_above_pct: float | None = None

    def __post_init__(self) -> None:
        if self.p95_max_s is None and self.max_increase_pct is None and self.approval_above_pct is None:
            raise SpecError("gate rule 'latency_budget': expected p95_max_s, max_increase_pct or approval_above_pct")

    def check(self, ctx: GateContext) -> RuleOutcome:
        return _budget(
            "latency_budget",
            ctx.comparison.metric("latency_p95_s"),
            label="p95 latency",
            unit="s",
            max_abs=self.p95_max_s,
            max_pct=self.max_increase_pct,
            approval_pct=self.approval_above_pct,
            alpha=ctx.comparison.settings.alpha / 2,
        )


@gate_rules.register("cost_budget")
@dataclass(kw_only=True)
class CostBudget(GateRule):
    """Cost per case must rise by at most `max_increase_pct` percent (and stay under `max_cost_per_case_usd`);
    a rise above `approval_above_pct` needs approval."""

    max_increase_pct: float | None = None
    approval_above_pct: float | None = None
    max_cost_per_case_usd: float | None = None

    def __post_init__(self) -> None:
        if self.max_increase_pct is None and self.approval_above_pct is None and self.max_cost_per_case_usd is None:
            raise SpecError(
                "gate rule 'cost_budget': expected max_increase_pct, approval_above_pct or max_cost_per_case_usd"
            )

    def check(self, ctx: GateContext) -> RuleOutcome:
        return _budget(
            "cost_budget",
            ctx.comparison.metric("cost_per_case_usd"),
            label="cost per case",
            unit="usd",
            max_abs=self.max_cost_per_case_usd,
            max_pct=self.max_increase_pct,
            approval_pct=self.approval_above_pct,
            alpha=ctx.comparison.settings.alpha / 2,
        )


@gate_rules.register("required_reviews")
@dataclass(kw_only=True)
class RequiredReviews(GateRule):
    """Each listed review layer needs `min_approvals` sign-offs approving this very comparison, and none requesting
    changes. Sign-offs of another comparison (a different hash) do not count."""

    layers: list[Literal["product", "technical"]] = field(default_factory=lambda: ["product", "technical"])
    min_approvals: int = 1

    def __post_init__(self) -> None:
        if not self.layers:
            raise SpecError("gate rule 'required_reviews': argument 'layers': expected at least one layer")
        if self.min_approvals < 1:
            raise SpecError("gate rule 'required_reviews': argument 'min_approvals': expected at least 1")

    def check(self, ctx: GateContext) -> RuleOutcome:
        current_hash = ctx.comparison.hash
        # The parts are another dump of the comparison: only worth it when a stale sign-off can be explained.
        explain = any(s.comparison_parts and s.comparison_hash != current_hash for s in ctx.reviews)
        current_parts = ctx.comparison.identity_parts() if explain else {}
        lines, missing, rejected = [], [], []
        data: dict[str, Any] = {}
        for layer in self.layers:
            mine = [s for s in ctx.reviews if s.layer == layer]
            current = [s for s in mine if s.comparison_hash == current_hash]
            stale = [s for s in mine if s.comparison_hash != current_hash]
            approvers = [s.reviewer for s in current if s.decision == "approve"]
            objectors = [s.reviewer for s in current if s.decision == "request_changes"]
            stale_text = f"; {len(stale)} sign-off(s) of another comparison ignored" if stale else ""
            changed = {describe_identity_change(s.comparison_parts, current_parts) for s in stale if s.comparison_parts}
            if changed:
                stale_text += f" (changed since: {'; '.join(sorted(changed))})"
            if objectors:
                rejected.append(layer)
                lines.append(f"{layer}: changes requested by {', '.join(objectors)}{stale_text}")
            elif len(approvers) < self.min_approvals:
                missing.append(layer)
                got = f"approved by {', '.join(approvers)}, " if approvers else ""
                lines.append(f"{layer}: {got}{len(approvers)} of {self.min_approvals} approvals{stale_text}")
            else:
                lines.append(f"{layer}: approved by {', '.join(approvers)}{stale_text}")
            data[layer] = {
                "approved_by": approvers,
                "changes_requested_by": objectors,
                "stale": [s.reviewer for s in stale],
            }
        if rejected or missing:
            parts = ([f"changes requested ({', '.join(rejected)})"] if rejected else []) + (
                [f"missing review ({', '.join(missing)})"] if missing else []
            )
            return RuleOutcome(status="block", evidence=["; ".join(parts), *lines], data=data)
        return RuleOutcome(
            status="pass", evidence=[f"{' and '.join(self.layers)} reviews approve this comparison", *lines], data=data
        )


@gate_rules.register("quality_tradeoff")
@dataclass(kw_only=True)
class QualityTradeoff(GateRule):
    """A cost or latency increase beyond tolerance needs a significant quality gain, and then a named approval.

    If cost per case rises more than `cost_tolerance_pct` percent or p95 latency more than `latency_tolerance_pct`,
    the candidate needs approval when its overall pass rate improved significantly by at least
    `min_quality_gain_pts` points; without such a gain the outcome is `without_gain` (block by default).
    """

    cost_tolerance_pct: float = 5.0
    latency_tolerance_pct: float = 10.0
    min_quality_gain_pts: float = 0.0
    without_gain: Literal["block", "needs_approval"] = "block"

    def check(self, ctx: GateContext) -> RuleOutcome:
        c = ctx.comparison
        o = c.overall
        increases = []
        for metric, tolerance, label in (
            ("cost_per_case_usd", self.cost_tolerance_pct, "cost per case"),
            ("latency_p95_s", self.latency_tolerance_pct, "p95 latency"),
        ):
            m = c.metric(metric)
            if m is not None and m.delta_pct is not None and m.delta_pct > tolerance:
                increases.append((metric, f"{signed_pct(m.delta_pct)} {label}", m.delta_pct))
        gain = (o.delta or 0.0) * 100
        quality = f"{pts(o.delta)} quality (p={pval(o.p_value)}, {o.verdict.replace('_', ' ')})"
        data = {
            "increases": {k: v for k, _, v in increases},
            "quality_gain_pts": gain,
            "quality_p": o.p_value,
            "quality_verdict": o.verdict,
        }
        if not increases:
            return RuleOutcome(
                status="pass",
                data=data,
                evidence=[
                    f"no cost or latency increase beyond tolerance (+{self.cost_tolerance_pct:g}% cost, "
                    f"+{self.latency_tolerance_pct:g}% p95 latency); {quality}"
                ],
            )
        what = " and ".join(text for _, text, _ in increases)
        tradeoff = Tradeoff(
            id="quality_tradeoff:" + "+".join(k for k, _, _ in increases), summary=f"{what} for {quality}"
        )
        if o.verdict == "improved" and gain >= self.min_quality_gain_pts:
            return RuleOutcome(
                status="needs_approval", data=data, tradeoffs=[tradeoff], evidence=[f"trade-off: {what} for {quality}"]
            )
        status: Status = self.without_gain
        return RuleOutcome(
            status=status,
            data=data,
            tradeoffs=[tradeoff] if status == "needs_approval" else [],
            evidence=[
                f"{what} without a significant quality gain of at least {self.min_quality_gain_pts:g} pts: {quality}"
            ],
        )
