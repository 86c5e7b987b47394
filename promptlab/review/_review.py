"""A comparison opened for review: the checklists with evidence, hard-negative coverage, failing cases and signing.

Product review asks about tone, policy alignment and user value; technical review about determinism (stability
across repeats), schema compliance and failure handling. Each item carries the evidence a reviewer needs, pulled
from the comparison (and, when they are still on disk and unchanged, from both run directories)::

    review = Review.open("out/compare")
    checklist = review.checklist("technical")
    for item in checklist.items:
        print(item.title, item.attention, item.evidence)
    review.sign("technical", reviewer="Ana", decision="approve",
                answers={"determinism": True, "schema_compliance": True, "failure_handling": True})

The widgets in `promptlab.review._widgets` only present this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from promptlab.comparison import Comparison, load_comparison
from promptlab.datasets import HARD_NEGATIVE_TAGS
from promptlab.errors import InputError
from promptlab.review._browser import case_detail, failing_cases
from promptlab.review._evidence import checklist_items
from promptlab.review._items import (
    DEFAULT_MIN_CASES,
    LAYERS,
    CaseDetail,
    Checklist,
    CoverageRow,
    FailingCase,
)
from promptlab.review._markdown import review_markdown
from promptlab.review._runs import Rows, rows_of
from promptlab.review._signing import Answer, build_signoff
from promptlab.review._signoff import ReviewSignoff, save_signoff

__all__ = ["GateDecisionLike", "Review"]


@dataclass(kw_only=True)
class Review:
    """A comparison opened for review: checklists, coverage, failing cases and signing."""

    comparison: Comparison
    directory: Path | None
    baseline_rows: Rows | None = None
    """Result rows by case from the baseline run directory, when it is on disk and unchanged."""
    candidate_rows: Rows | None = None
    min_cases: int = DEFAULT_MIN_CASES
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        source: str | Path | Comparison,
        *,
        min_cases: int | None = None,
        gate: GateDecisionLike | None = None,
    ) -> Review:
        """Open a comparison directory (or wrap a comparison) and, when possible, both run directories.

        Args:
            source: A comparison directory, its `comparison.json`, or a loaded comparison.
            min_cases: Hard-negative cases a category needs to count as covered. Default: the
                `hard_negative_coverage` rule's `min_cases` in `gate`, else 5.
            gate: The comparison's gate decision, when the caller has one (review never reads the gate itself,
                so the gate can depend on review and not the other way round).
        """
        # load_comparison records where it read from (a directory or its comparison.json) as `path`.
        cmp = source if isinstance(source, Comparison) else load_comparison(source)
        directory = Path(cmp.path) if cmp.path else None
        notes: list[str] = []
        base = rows_of(cmp.baseline.run_dir, cmp.baseline.files, "baseline", notes)
        cand = rows_of(cmp.candidate.run_dir, cmp.candidate.files, "candidate", notes)
        if base is None or cand is None:
            base = cand = None
        threshold = min_cases if min_cases is not None else policy_min_cases(gate) or DEFAULT_MIN_CASES
        return cls(
            comparison=cmp,
            directory=directory,
            baseline_rows=base,
            candidate_rows=cand,
            min_cases=threshold,
            notes=notes,
        )

    @property
    def hash(self) -> str:
        """The comparison's hash (what a sign-off refers to)."""
        return self.comparison.hash

    # -- coverage -------------------------------------------------------------------------------------------------

    def coverage(self) -> list[CoverageRow]:
        """Hard-negative coverage: for each category, case count and both pass rates."""
        groups = {g.value or g.label: g for g in self.comparison.hard_negatives}
        rows = []
        for tag in HARD_NEGATIVE_TAGS:
            g = groups.get(tag)
            n = g.n if g is not None else 0
            rows.append(
                CoverageRow(
                    category=tag,
                    n=n,
                    baseline_pass_rate=g.baseline_pass_rate if g else None,
                    candidate_pass_rate=g.candidate_pass_rate if g else None,
                    delta=g.delta if g else None,
                    verdict=g.verdict if g else "not_enough_data",
                    covered=n >= self.min_cases,
                )
            )
        return rows

    # -- checklists -----------------------------------------------------------------------------------------------

    def checklist(self, layer: str) -> Checklist:
        """The checklist of one layer (`product` or `technical`) with evidence for every item."""
        if layer not in LAYERS:
            raise InputError(f"layer: expected product or technical, got {layer!r}")
        coverage = self.coverage()
        items = checklist_items(
            layer,
            comparison=self.comparison,
            coverage=coverage,
            baseline_rows=self.baseline_rows,
            candidate_rows=self.candidate_rows,
        )
        return Checklist(
            layer=layer,
            comparison_hash=self.hash,
            comparison_parts=self.comparison.identity_parts(),
            items=items,
            coverage=coverage,
            notes=list(self.notes),
        )

    # -- failing cases --------------------------------------------------------------------------------------------

    def failing_cases(self, *, category: str | None = None) -> list[FailingCase]:
        """Cases failing under the candidate: regressions first (by severity), then flaky, then still failing.

        Args:
            category: Only cases with this tag (e.g. `hard-negative:adversarial`).
        """
        return failing_cases(
            self.comparison,
            baseline_rows=self.baseline_rows,
            candidate_rows=self.candidate_rows,
            category=category,
        )

    def case(self, case_id: str) -> CaseDetail:
        """Both versions' attempts at one case, for reading side by side."""
        return case_detail(
            self.comparison, case_id, baseline_rows=self.baseline_rows, candidate_rows=self.candidate_rows
        )

    def to_markdown(self, layers: Sequence[str] = LAYERS) -> str:
        """The checklists with their evidence and the hard-negative coverage, as Markdown (for exports and PRs)."""
        return review_markdown(self, layers)

    # -- signing --------------------------------------------------------------------------------------------------

    def signoff(
        self,
        layer: str,
        *,
        reviewer: str,
        decision: str | None,
        answers: Mapping[str, Answer | None],
        comments: str = "",
        notes: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> ReviewSignoff:
        """Validate and build a sign-off for one layer (see `build_signoff`)."""
        return build_signoff(
            self.checklist(layer),
            reviewer=reviewer,
            decision=decision,
            answers=answers,
            comments=comments,
            notes=notes,
            now=now,
        )

    def sign(
        self,
        layer: str,
        *,
        reviewer: str,
        decision: str | None,
        answers: Mapping[str, Answer | None],
        comments: str = "",
        notes: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> Path:
        """Validate, build and save a sign-off into the comparison directory; return the file written."""
        if self.directory is None:
            raise InputError("the comparison was not opened from a directory: there is nowhere to save a sign-off")
        signoff = self.signoff(
            layer, reviewer=reviewer, decision=decision, answers=answers, comments=comments, notes=notes, now=now
        )
        return save_signoff(self.directory, signoff)


class GateRuleLike(Protocol):
    """The part of a gate rule result review reads (`promptlab.gate.RuleResult`)."""

    @property
    def rule(self) -> str: ...

    @property
    def spec(self) -> Any: ...


class GateDecisionLike(Protocol):
    """The part of a gate decision review reads (`promptlab.gate.GateDecision`)."""

    @property
    def rules(self) -> Sequence[GateRuleLike]: ...


def policy_min_cases(gate: GateDecisionLike | None) -> int | None:
    """The gate policy's hard-negative `min_cases`, when the comparison was gated with such a rule."""
    if gate is None:
        return None
    for rule in gate.rules:
        if rule.rule == "hard_negative_coverage":
            spec = rule.spec if isinstance(rule.spec, dict) else {}
            args = spec.get("hard_negative_coverage")
            if isinstance(args, dict) and isinstance(args.get("min_cases"), int):
                return int(args["min_cases"])
            return DEFAULT_MIN_CASES
    return None
