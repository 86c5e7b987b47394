"""What a review consists of: the checklist items of both layers and the values a review shows (items with their
evidence, hard-negative coverage, failing cases and their attempts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from promptlab.comparison import pct, pts
from promptlab.errors import InputError

__all__ = [
    "Attempt",
    "CHECKLIST_ITEMS",
    "CaseDetail",
    "Checklist",
    "ChecklistItem",
    "CoverageRow",
    "DEFAULT_MIN_CASES",
    "FailingCase",
    "ItemDefinition",
    "LAYERS",
    "Layer",
]


Layer = Literal["product", "technical"]
LAYERS: tuple[Layer, ...] = ("product", "technical")
DEFAULT_MIN_CASES = 5
"""Hard-negative cases per category below which a category counts as not covered (unless the gate policy says)."""


@dataclass(kw_only=True, frozen=True)
class ItemDefinition:
    """A checklist item: what the reviewer confirms."""

    id: str
    layer: Layer
    title: str
    question: str
    required: bool = True


CHECKLIST_ITEMS: dict[Layer, tuple[ItemDefinition, ...]] = {
    "product": (
        ItemDefinition(
            id="tone",
            layer="product",
            title="Tone",
            question="The candidate's answers have the right tone for customers (register, warmth, length).",
        ),
        ItemDefinition(
            id="policy_alignment",
            layer="product",
            title="Policy alignment",
            question="It refuses what it must, does not over-refuse, and stays within policy on adversarial input.",
        ),
        ItemDefinition(
            id="user_value",
            layer="product",
            title="User value",
            question="Users are served at least as well overall, and no segment is left clearly worse.",
        ),
    ),
    "technical": (
        ItemDefinition(
            id="determinism",
            layer="technical",
            title="Determinism",
            question="Outcomes are stable across repeats: no new flaky cases.",
        ),
        ItemDefinition(
            id="schema_compliance",
            layer="technical",
            title="Schema compliance",
            question="Outputs follow the response schema and format (valid JSON, allowed fields, no stray fences).",
        ),
        ItemDefinition(
            id="failure_handling",
            layer="technical",
            title="Failure handling",
            question="Model errors, tool failures and evaluator errors are handled no worse than before.",
        ),
    ),
}


@dataclass(kw_only=True)
class ChecklistItem:
    """A checklist item with the evidence for it."""

    definition: ItemDefinition
    evidence: list[str]
    """Evidence lines, most important first."""
    attention: bool
    """The evidence suggests a problem the reviewer should look at before confirming."""

    @property
    def id(self) -> str:
        """The item id (the key of its answer in the sign-off)."""
        return self.definition.id

    @property
    def title(self) -> str:
        """Short title."""
        return self.definition.title


@dataclass(kw_only=True, frozen=True)
class CoverageRow:
    """Hard-negative coverage of one category."""

    category: str
    """The tag, e.g. `hard-negative:adversarial`."""
    n: int
    baseline_pass_rate: float | None
    candidate_pass_rate: float | None
    delta: float | None
    verdict: str
    covered: bool
    """At least the minimum number of cases."""

    @property
    def name(self) -> str:
        """The category without its prefix (`adversarial`)."""
        return self.category.split(":", 1)[-1]

    def line(self) -> str:
        """One line for humans."""
        if self.n == 0:
            return f"{self.name}: no cases (not covered)"
        cover = "" if self.covered else " (not covered: too few cases)"
        return (
            f"{self.name}: {self.n} cases, pass rate {pct(self.baseline_pass_rate)} -> "
            f"{pct(self.candidate_pass_rate)} ({pts(self.delta)}){cover}"
        )


@dataclass(kw_only=True, frozen=True)
class FailingCase:
    """A case that fails under the candidate (in at least one repeat)."""

    case_id: str
    kind: Literal["regression", "still_failing", "flaky"]
    """regression: passed under the baseline; still_failing: failed under both; flaky: the candidate passes in
    some repeats only."""
    segment: dict[str, str]
    tags: list[str]
    baseline_pass_rate: float | None
    candidate_pass_rate: float
    failed_evaluators: list[str]
    """Evaluators (or `error:<kind>`) that failed under the candidate."""
    reason: str
    """The first failing evaluator's reason or the error message."""

    def label(self) -> str:
        """A one-line label for a list or a dropdown."""
        seg = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        failed = ", ".join(self.failed_evaluators) or "failed"
        return f"{self.case_id} [{self.kind.replace('_', ' ')}] {seg} - {failed}"


@dataclass(kw_only=True, frozen=True)
class Attempt:
    """One repeat of a case under one version."""

    repeat: int
    outcome: str
    output: str | None
    error: str | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(evaluator, reason) of the evaluators that failed."""
    tool_calls: list[str] = field(default_factory=list)
    """Tool calls as `name(arguments) -> result or error`."""


@dataclass(kw_only=True, frozen=True)
class CaseDetail:
    """A case with both versions' attempts, side by side."""

    case_id: str
    segment: dict[str, str]
    tags: list[str]
    vars: dict[str, Any]
    baseline: list[Attempt]
    candidate: list[Attempt]
    source: Literal["runs", "comparison"]
    """Where the attempts come from: both run directories, or the comparison's recorded outputs only."""


@dataclass(kw_only=True)
class Checklist:
    """One layer's checklist for one comparison."""

    layer: Layer
    comparison_hash: str
    items: list[ChecklistItem]
    comparison_parts: dict[str, str] = field(default_factory=dict)
    coverage: list[CoverageRow]
    notes: list[str] = field(default_factory=list)

    def item(self, item_id: str) -> ChecklistItem:
        """The item with this id."""
        for it in self.items:
            if it.id == item_id:
                return it
        known = ", ".join(i.id for i in self.items)
        raise InputError(f"unknown checklist item '{item_id}' for the {self.layer} review (expected: {known})")
