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
from promptlab.compare import Comparison, GroupResult, MetricDelta
from promptlab.compare._format import pct, pts, pval, signed_pct, usd
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


def _group_line(g: GroupResult, level: str) -> str:
    p = f"p_adj={pval(g.p_adjusted)}" if g.kind != "overall" else f"p={pval(g.p_value)}"
    return (
        f"{g.label}: n={g.n}, {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)} ({pts(g.delta)}, "
        f"{level} CI {pts(g.ci_low)} to {pts(g.ci_high)}), {p}"
    )


@gate_rules.register("min_pass_rate")
@dataclass(kw_only=True)
class MinPassRate(GateRule):
    """The candidate's overall pass rate must reach `min`."""

    min: float

    def __post_init__(self) -> None:
        _fraction("min", "min_pass_rate", self.min)

    def check(self, ctx: GateContext) -> RuleOutcome:
        o = ctx.comparison.overall
        rate = o.candidate_pass_rate
        ok = rate is not None and rate >= self.min - 1e-12
        line = (
            f"candidate pass rate {pct(rate)} {'>=' if ok else '<'} required {pct(self.min)} "
            f"(baseline {pct(o.baseline_pass_rate)}, n={o.n})"
        )
        return RuleOutcome(
            status="pass" if ok else "block",
            evidence=[line],
            data={"candidate_pass_rate": rate, "baseline_pass_rate": o.baseline_pass_rate, "min": self.min},
        )


@gate_rules.register("no_segment_regression")
@dataclass(kw_only=True)
class NoSegmentRegression(GateRule):
    """No group (overall, segment value or tag) with at least `min_n` cases may drop by more than `margin` with
    statistical confidence.

    A group blocks when its pass rate fell by more than `margin` (a fraction: 0.05 = 5 points) and the paired test's
    p-value is below `1 - confidence`. With `adjusted` (default) segment and tag groups use the comparison's
    multiple-comparison-adjusted p-values, so many segments do not produce false alarms.
    """

    min_n: int = 20
    margin: float = 0.0
    confidence: float = 0.95
    adjusted: bool = True
    include_tags: bool = True

    def __post_init__(self) -> None:
        _fraction("margin", "no_segment_regression", self.margin)
        if not 0.5 < self.confidence < 1:
            raise SpecError(
                f"gate rule 'no_segment_regression': argument 'confidence': expected a number between "
                f"0.5 and 1, got {self.confidence}"
            )
        if self.min_n < 1:
            raise SpecError("gate rule 'no_segment_regression': argument 'min_n': expected at least 1")

    def check(self, ctx: GateContext) -> RuleOutcome:
        c = ctx.comparison
        level = f"{(1 - c.settings.alpha) * 100:g}%"
        groups = [c.overall, *[g for g in c.segments if self.include_tags or g.kind != "tag"]]
        checked, small, dropped = [], [], []
        for g in groups:
            if g.n < self.min_n:
                small.append(g)
                continue
            checked.append(g)
            p = g.p_value if (g.kind == "overall" or not self.adjusted) else g.p_adjusted
            if g.delta is not None and p is not None and g.delta < -self.margin and p < 1 - self.confidence:
                dropped.append(g)
        criterion = (
            f"dropped more than {self.margin * 100:g} pts with {self.confidence * 100:g}% confidence "
            f"({'adjusted ' if self.adjusted else ''}p < {1 - self.confidence:g})"
        )
        small_text = (
            (
                f"; {len(small)} with n < {self.min_n} not judged: "
                + ", ".join(g.label for g in small[:8])
                + (" ..." if len(small) > 8 else "")
            )
            if small
            else ""
        )
        data = {
            "checked": [g.key for g in checked],
            "too_small": [g.key for g in small],
            "dropped": [
                {
                    "key": g.key,
                    "label": g.label,
                    "n": g.n,
                    "delta": g.delta,
                    "p_value": g.p_value,
                    "p_adjusted": g.p_adjusted,
                }
                for g in dropped
            ],
        }
        if dropped:
            head = f"{len(dropped)} of {len(checked)} groups {criterion}: " + ", ".join(g.label for g in dropped)
            return RuleOutcome(
                status="block", evidence=[head + small_text, *(_group_line(g, level) for g in dropped)], data=data
            )
        return RuleOutcome(
            status="pass", evidence=[f"none of {len(checked)} groups {criterion}{small_text}"], data=data
        )


@gate_rules.register("max_new_regressions")
@dataclass(kw_only=True)
class MaxNewRegressions(GateRule):
    """At most `k` cases may pass under the baseline and fail under the candidate."""

    k: int = 0

    def __post_init__(self) -> None:
        if self.k < 0:
            raise SpecError("gate rule 'max_new_regressions': argument 'k': expected 0 or more")

    def check(self, ctx: GateContext) -> RuleOutcome:
        regs = ctx.comparison.regressions
        ok = len(regs) <= self.k
        top = ", ".join(r.case_id + (f" [risk {r.risk}]" if r.risk else "") for r in regs[:5])
        line = f"{len(regs)} cases pass -> fail, {'within' if ok else 'over'} the limit of {self.k}"
        return RuleOutcome(
            status="pass" if ok else "block",
            evidence=[line + (f" (top: {top})" if top else "")],
            data={"count": len(regs), "k": self.k, "case_ids": [r.case_id for r in regs]},
        )


@gate_rules.register("hard_negative_coverage")
@dataclass(kw_only=True)
class HardNegativeCoverage(GateRule):
    """Each hard-negative category needs at least `min_cases` cases, and its pass rate must not be worse than the
    baseline's by more than `max_drop` (a fraction; 0 = not worse at all)."""

    min_cases: int = 5
    max_drop: float = 0.0
    categories: list[str] = field(default_factory=lambda: list(HARD_NEGATIVE_TAGS))

    def __post_init__(self) -> None:
        _fraction("max_drop", "hard_negative_coverage", self.max_drop)
        unknown = [c for c in self.categories if c not in HARD_NEGATIVE_TAGS]
        if unknown:
            raise SpecError(
                f"gate rule 'hard_negative_coverage': argument 'categories': unknown category "
                f"'{unknown[0]}' (expected: {', '.join(HARD_NEGATIVE_TAGS)})"
            )

    def check(self, ctx: GateContext) -> RuleOutcome:
        by_tag = {g.value: g for g in ctx.comparison.hard_negatives}
        lines, failures, data = [], [], {}
        for tag in self.categories:
            g = by_tag.get(tag)
            n = g.n if g else 0
            b = g.baseline_pass_rate if g else None
            c = g.candidate_pass_rate if g else None
            problems = []
            if n < self.min_cases:
                problems.append(f"only {n} cases (need {self.min_cases})")
            if b is not None and c is not None and c < b - self.max_drop - 1e-12:
                problems.append(f"pass rate worse ({pts(c - b)})")
            short = tag.split(":", 1)[1]
            lines.append(f"{short}: n={n}, {pct(b)} -> {pct(c)}" + (" - " + "; ".join(problems) if problems else ""))
            if problems:
                failures.append(short)
            data[tag] = {"n": n, "baseline_pass_rate": b, "candidate_pass_rate": c, "problems": problems}
        head = (
            f"hard-negative coverage fails for {', '.join(failures)}"
            if failures
            else f"every hard-negative category has >= {self.min_cases} cases and is not worse"
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
    if max_abs is not None and c > max_abs:
        return RuleOutcome(status="block", evidence=[f"{desc} exceeds the limit {fmt(max_abs)}"], data=data)
    if max_pct is not None and change is not None and change > max_pct:
        return RuleOutcome(status="block", evidence=[f"{desc}: increase over the limit of +{max_pct:g}%"], data=data)
    if approval_pct is not None and change is not None and change > approval_pct:
        t = Tradeoff(id=f"{rule}:{metric.metric}", summary=f"{label} {signed_pct(change)}")
        return RuleOutcome(
            status="needs_approval",
            data=data,
            tradeoffs=[t],
            evidence=[f"{desc}: above +{approval_pct:g}% needs approval"],
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
        lines, missing, rejected = [], [], []
        data: dict[str, Any] = {}
        for layer in self.layers:
            mine = [s for s in ctx.reviews if s.layer == layer]
            current = [s for s in mine if s.comparison_hash == current_hash]
            stale = [s for s in mine if s.comparison_hash != current_hash]
            approvers = [s.reviewer for s in current if s.decision == "approve"]
            objectors = [s.reviewer for s in current if s.decision == "request_changes"]
            stale_text = f"; {len(stale)} sign-off(s) of another comparison ignored" if stale else ""
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
