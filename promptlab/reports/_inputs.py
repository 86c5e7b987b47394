"""What a report shows, gathered from a comparison directory: the comparison, the gate decision, the sign-offs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promptlab.comparison import Comparison, load_comparison

if TYPE_CHECKING:
    from promptlab.gate import GateDecision

__all__ = ["GateView", "ReportInputs", "ReviewView", "RuleView", "gather"]


@dataclass(kw_only=True, frozen=True)
class RuleView:
    """One gate rule's outcome as the report shows it."""

    name: str
    outcome: str
    message: str
    evidence: list[str] = field(default_factory=list)


@dataclass(kw_only=True, frozen=True)
class GateView:
    """The gate decision as the report shows it."""

    decision: str
    rules: list[RuleView]
    approvals: list[str] = field(default_factory=list)
    policy_name: str | None = None
    policy_hash: str | None = None
    comparison_hash: str | None = None
    evaluated_at: str | None = None
    stale: bool = False
    """The gate was evaluated against a different comparison than the one reported."""
    adjusted: dict[str, str] = field(default_factory=dict)
    """Group key -> the interval the segment rule's verdict used (after Holm), in words."""


@dataclass(kw_only=True, frozen=True)
class ReviewView:
    """One review sign-off as the report shows it."""

    layer: str
    reviewer: str
    decision: str
    timestamp: str
    checklist: str
    """Answered items, e.g. `tone=yes, policy_alignment=yes, user_value=no`."""
    comment: str
    stale: bool = False
    """The sign-off was given for a different comparison."""


@dataclass(kw_only=True)
class ReportInputs:
    """Everything a report renders."""

    comparison: Comparison
    comparison_hash: str
    directory: Path | None = None
    gate: GateView | None = None
    reviews: list[ReviewView] = field(default_factory=list)


def gather(source: str | Path | Comparison) -> ReportInputs:
    """Read a comparison directory (comparison, `gate.json`, `reviews/`) or wrap an in-memory comparison.

    An in-memory comparison that was written to or read from a directory picks up that directory's gate and
    sign-offs too.
    """
    # load_comparison records where it read from (a directory or its comparison.json) as `path`.
    cmp = source if isinstance(source, Comparison) else load_comparison(source)
    directory = Path(cmp.path) if cmp.path else None
    cmp_hash = cmp.hash
    gate = _gate(directory, cmp_hash) if directory is not None else None
    reviews = _reviews(directory, cmp_hash) if directory is not None else []
    return ReportInputs(comparison=cmp, comparison_hash=cmp_hash, directory=directory, gate=gate, reviews=reviews)


def _gate(directory: Path, cmp_hash: str) -> GateView | None:
    from promptlab.gate import load_gate

    decision = load_gate(directory)
    return gate_view(decision, cmp_hash) if decision is not None else None


def gate_view(decision: GateDecision, cmp_hash: str) -> GateView:
    """The report's view of a gate decision."""
    rules = []
    for r in decision.rules:
        evidence = list(r.evidence[1:])
        for t in r.tradeoffs:
            who = f" (approved by {', '.join(t.approved_by)})" if t.approved_by else " (not approved)"
            evidence.append(f"trade-off {t.summary}{who}")
        rules.append(
            RuleView(name=r.rule, outcome=r.status, message=r.evidence[0] if r.evidence else "", evidence=evidence)
        )
    approvals = [
        f"{a.approver} ({a.approved_at}): {a.reason} — accepts {', '.join(a.summaries) or ', '.join(a.accepts)}"
        for a in decision.approvals
    ]
    name = decision.policy.get("name") if isinstance(decision.policy, dict) else None
    adjusted: dict[str, str] = {}
    for r in decision.rules:
        if r.rule != "no_segment_regression":
            continue
        for j in r.data.get("judged", []):
            low, high = j["interval_adjusted"]
            adjusted[j["key"]] = f"{low * 100:+.1f} to {high * 100:+.1f} pts (one-sided {(1 - j['level']) * 100:.3g}%)"
    return GateView(
        adjusted=adjusted,
        decision=decision.decision,
        rules=rules,
        approvals=approvals,
        policy_name=str(name) if name else None,
        policy_hash=decision.policy_hash,
        comparison_hash=decision.comparison_hash,
        evaluated_at=decision.evaluated_at,
        stale=decision.comparison_hash != cmp_hash,
    )


def _reviews(directory: Path, cmp_hash: str) -> list[ReviewView]:
    from promptlab.review import load_signoffs

    views = []
    for s in load_signoffs(directory):
        checklist = ", ".join(
            f"{item}={'yes' if answer.checked else 'no'}" + (f" ({answer.note})" if answer.note else "")
            for item, answer in sorted(s.checklist.items())
        )
        views.append(
            ReviewView(
                layer=s.layer,
                reviewer=s.reviewer,
                decision=s.decision,
                timestamp=s.signed_at.isoformat(),
                checklist=checklist,
                comment=s.comments,
                stale=s.comparison_hash != cmp_hash,
            )
        )
    return sorted(views, key=lambda v: (v.layer, v.reviewer.lower(), v.timestamp))
