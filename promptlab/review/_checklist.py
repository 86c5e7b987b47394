"""The two-layer review checklist: items with evidence from the comparison, hard-negative coverage, failing cases,
and a sign-off builder that validates before anything is saved.

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

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from promptlab._util.canonical import sha256_hex
from promptlab.compare import BehaviourChange, CaseChange, Comparison, EvaluatorRate, GroupResult, load_comparison
from promptlab.compare._format import pct, pts, signed_pct
from promptlab.datasets import HARD_NEGATIVE_TAGS
from promptlab.errors import InputError, PromptlabError
from promptlab.review._signoff import ChecklistAnswer, ReviewSignoff, save_signoff

__all__ = [
    "Attempt",
    "CHECKLIST_ITEMS",
    "CaseDetail",
    "Checklist",
    "ChecklistItem",
    "CoverageRow",
    "FailingCase",
    "ItemDefinition",
    "LAYERS",
    "Review",
    "build_signoff",
    "parse_answer",
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
    coverage: list[CoverageRow]
    notes: list[str] = field(default_factory=list)

    def item(self, item_id: str) -> ChecklistItem:
        """The item with this id."""
        for it in self.items:
            if it.id == item_id:
                return it
        known = ", ".join(i.id for i in self.items)
        raise InputError(f"unknown checklist item '{item_id}' for the {self.layer} review (expected: {known})")


Answer = bool | ChecklistAnswer | str


def parse_answer(text: str) -> ChecklistAnswer:
    """Parse a command-line answer: `yes`, `no`, or either followed by `: note`."""
    head, _, note = text.partition(":")
    word = head.strip().lower()
    if word in {"yes", "y", "true", "1", "ok"}:
        return ChecklistAnswer(checked=True, note=note.strip())
    if word in {"no", "n", "false", "0"}:
        return ChecklistAnswer(checked=False, note=note.strip())
    raise InputError(f"checklist answer {text!r}: expected yes or no, optionally followed by ': note'")


def build_signoff(
    checklist: Checklist,
    *,
    reviewer: str,
    decision: str | None,
    answers: Mapping[str, Answer | None],
    comments: str = "",
    notes: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ReviewSignoff:
    """Validate a reviewer's answers and build the sign-off.

    Rules: a reviewer name is required; the decision is `approve` or `request_changes`; every required item is
    answered (yes or no; `None` means unanswered); an approval confirms every required item; a request for changes
    says why in `comments`.

    Raises:
        InputError: one line listing every problem, so nothing is saved half-right.
    """
    problems: list[str] = []
    name = (reviewer or "").strip()
    if not name:
        problems.append("reviewer name is required")
    elif not re.search(r"[A-Za-z0-9]", name):
        problems.append(f"reviewer {reviewer!r}: expected a name with at least one letter or digit")
    if decision not in ("approve", "request_changes"):
        problems.append(f"decision: expected approve or request_changes, got {decision!r}")
    known = {it.id: it for it in checklist.items}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        problems.append(
            f"unknown checklist item '{unknown[0]}' for the {checklist.layer} review (expected: {', '.join(known)})"
        )
    extra_notes = notes or {}
    bad_notes = sorted(set(extra_notes) - set(known))
    if bad_notes:
        problems.append(f"note for unknown checklist item '{bad_notes[0]}'")
    parsed: dict[str, ChecklistAnswer] = {}
    unreadable: set[str] = set()
    for item_id, raw in answers.items():
        if item_id not in known or raw is None:
            continue
        try:
            answer = _answer(raw)
        except InputError as exc:
            problems.append(f"{item_id}: {exc}")
            unreadable.add(item_id)
            continue
        note = extra_notes.get(item_id, "").strip()
        if note and not answer.note:
            answer = ChecklistAnswer(checked=answer.checked, note=note)
        parsed[item_id] = answer
    missing = [
        it.id for it in checklist.items if it.definition.required and it.id not in parsed and it.id not in unreadable
    ]
    if missing:
        problems.append("not answered: " + ", ".join(missing))
    if decision == "approve":
        unconfirmed = [i for i, a in parsed.items() if known[i].definition.required and not a.checked]
        if unconfirmed:
            problems.append(
                f"cannot approve with unconfirmed items ({', '.join(unconfirmed)}): confirm them or request changes"
            )
    if decision == "request_changes" and not comments.strip():
        problems.append("request_changes needs a comment saying what to change")
    if problems:
        raise InputError(f"{checklist.layer} review not saved: " + "; ".join(problems))
    return ReviewSignoff(
        layer=checklist.layer,
        reviewer=name,
        decision=decision,
        checklist=parsed,
        comments=comments.strip(),
        signed_at=(now or datetime.now(UTC)).replace(microsecond=0),
        comparison_hash=checklist.comparison_hash,
    )


def _answer(raw: Answer) -> ChecklistAnswer:
    if isinstance(raw, ChecklistAnswer):
        return raw
    if isinstance(raw, bool):
        return ChecklistAnswer(checked=raw)
    if isinstance(raw, str):
        return parse_answer(raw)
    raise InputError(f"expected yes or no, got {raw!r}")


Rows = dict[str, list[dict[str, Any]]]


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
    def open(cls, source: str | Path | Comparison, *, min_cases: int | None = None) -> Review:
        """Open a comparison directory (or wrap a comparison) and, when possible, both run directories."""
        # load_comparison records where it read from (a directory or its comparison.json) as `path`.
        cmp = source if isinstance(source, Comparison) else load_comparison(source)
        directory = Path(cmp.path) if cmp.path else None
        notes: list[str] = []
        base = _rows_of(cmp.baseline.run_dir, cmp.baseline.files, "baseline", notes)
        cand = _rows_of(cmp.candidate.run_dir, cmp.candidate.files, "candidate", notes)
        if base is None or cand is None:
            base = cand = None
        threshold = min_cases if min_cases is not None else _policy_min_cases(directory) or DEFAULT_MIN_CASES
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
        builders: dict[str, Callable[[], tuple[list[str], bool]]] = {
            "tone": self._tone,
            "policy_alignment": self._policy,
            "user_value": self._user_value,
            "determinism": self._determinism,
            "schema_compliance": self._schema,
            "failure_handling": self._failures,
        }
        items = []
        for definition in CHECKLIST_ITEMS[layer]:
            evidence, attention = builders[definition.id]()
            items.append(ChecklistItem(definition=definition, evidence=evidence, attention=attention))
        return Checklist(
            layer=layer,
            comparison_hash=self.hash,
            items=items,
            coverage=self.coverage(),
            notes=list(self.notes),
        )

    def _behaviour(self, family: str) -> list[BehaviourChange]:
        return [b for b in self.comparison.behaviour.changes if b.behaviour == family and b.status != "descriptive"]

    def _evaluators(self, pattern: str) -> list[EvaluatorRate]:
        rx = re.compile(pattern, re.IGNORECASE)
        return [e for e in self.comparison.evaluator_rates if rx.search(e.label)]

    def _tone(self) -> tuple[list[str], bool]:
        lines, attention = [], False
        for b in self._behaviour("verbosity"):
            lines.append(_behaviour_line(b))
            attention |= b.status == "undeclared_change"
        for e in self._evaluators(r"tone|style|polite|empath|friendl|register|concise"):
            lines.append(_evaluator_line(e))
            attention |= (e.delta or 0) < 0
        cmp = self.comparison
        lines.append(
            f"read the outputs side by side: {len(cmp.regressions)} regressions, {len(cmp.improvements)} improvements "
            f"(failing-case browser)"
        )
        return lines, attention

    def _policy(self) -> tuple[list[str], bool]:
        lines, attention = [], False
        for b in self._behaviour("refusal_rate"):
            lines.append(_behaviour_line(b))
            attention |= b.status == "undeclared_change"
        for e in self._evaluators(r"refus|policy|safety|pii|harm|allowed|jailbreak|inject"):
            lines.append(_evaluator_line(e))
            attention |= (e.delta or 0) < 0 or e.n_pass_to_fail > 0
        adversarial = next((r for r in self.coverage() if r.category == "hard-negative:adversarial"), None)
        if adversarial is not None:
            lines.append("adversarial " + adversarial.line().split(": ", 1)[1])
            attention |= not adversarial.covered or (adversarial.delta or 0) < 0
        undeclared = [b for b in self.comparison.behaviour.changes if b.status == "undeclared_change"]
        if undeclared:
            lines.append(
                f"{len(undeclared)} undeclared behaviour change(s): "
                + ", ".join(f"{b.metric}{_scope(b.scope)} {_size(b)}" for b in undeclared[:6])
            )
            attention = True
        else:
            lines.append("no undeclared behaviour changes")
        return lines, attention

    def _user_value(self) -> tuple[list[str], bool]:
        cmp = self.comparison
        o = cmp.overall
        lines = [
            f"overall pass rate {pct(o.baseline_pass_rate)} -> {pct(o.candidate_pass_rate)} ({pts(o.delta)}, CI "
            f"{pts(o.ci_low)} to {pts(o.ci_high)}): {o.verdict.replace('_', ' ')}"
        ]
        regressed = [g for g in cmp.segments if g.verdict == "regressed"]
        improved = [g for g in cmp.segments if g.verdict == "improved"]
        lines += [f"segment regressed: {_group_line(g)}" for g in regressed]
        lines += [f"segment improved: {_group_line(g)}" for g in improved]
        if not regressed:
            lines.append("no segment regressed significantly")
        top = ", ".join(r.case_id for r in cmp.regressions[:5])
        lines.append(
            f"{len(cmp.regressions)} cases pass -> fail"
            + (f" (top: {top})" if top else "")
            + f", {len(cmp.improvements)} fail -> pass"
        )
        for d in cmp.behaviour.declared_not_observed:
            lines.append(f"declared but not observed: {d.behaviour} {d.direction} ({d.observed})")
        return lines, o.verdict == "regressed" or bool(regressed)

    def _determinism(self) -> tuple[list[str], bool]:
        st = self.comparison.stability
        if st.baseline.n_flaky is None and st.candidate.n_flaky is None:
            return ["not measured: each case ran once; run both versions with repeats >= 2"], True
        lines = []
        for side, v in (("baseline", st.baseline), ("candidate", st.candidate)):
            if v.n_flaky is None:
                lines.append(f"{side}: not measured")
                continue
            shown = ", ".join(v.case_ids[:8]) + (" ..." if len(v.case_ids) > 8 else "")
            lines.append(
                f"{side}: {v.n_flaky}/{v.n_cases} cases flip between {v.repeats} repeats ({pct(v.flaky_rate)})"
                + (f": {shown}" if shown else "")
            )
        new = sorted(set(st.candidate.case_ids) - set(st.baseline.case_ids))
        if new:
            lines.append(f"{len(new)} newly flaky under the candidate: {', '.join(new[:8])}")
        worse = (st.candidate.flaky_rate or 0) > (st.baseline.flaky_rate or 0)
        return lines, worse or st.candidate.n_flaky is None

    def _schema(self) -> tuple[list[str], bool]:
        lines, attention = [], False
        for e in self._evaluators(r"json|schema|format|field"):
            lines.append(_evaluator_line(e))
            attention |= (e.delta or 0) < 0 or (e.candidate_pass_rate is not None and e.candidate_pass_rate < 1)
        for b in self._behaviour("output_format"):
            lines.append(_behaviour_line(b))
            worse = (b.metric == "json_valid_rate" and (b.delta or 0) < 0) or (
                b.metric == "code_fence_rate" and (b.delta or 0) > 0
            )
            attention |= worse or b.status == "undeclared_change"
        if not lines:
            lines.append("no schema or format evaluator ran and no output format was measured")
            attention = True
        return lines, attention

    def _failures(self) -> tuple[list[str], bool]:
        lines, attention = [], False
        if self.baseline_rows is not None and self.candidate_rows is not None:
            stats = {
                side: _failure_stats(rows)
                for side, rows in (("baseline", self.baseline_rows), ("candidate", self.candidate_rows))
            }
            for side, s in stats.items():
                kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.error_kinds.items()))
                lines.append(
                    f"{side}: model-call errors {s.errors}/{s.results} ({pct(s.error_rate)})"
                    + (f" [{kinds}]" if kinds else "")
                )
            for side, s in stats.items():
                if s.tool_failure_results:
                    lines.append(
                        f"{side}: answers after a failed tool call pass {s.tool_failure_passed}/"
                        f"{s.tool_failure_results} ({pct(s.tool_failure_pass_rate)})"
                    )
            b, c = stats["baseline"], stats["candidate"]
            attention |= (c.error_rate or 0) > (b.error_rate or 0)
            if b.tool_failure_pass_rate is not None and c.tool_failure_pass_rate is not None:
                attention |= c.tool_failure_pass_rate < b.tool_failure_pass_rate
        else:
            lines.append("run directories not available: error and tool-failure rates from the runs are not shown")
            attention = True
        tool = next((r for r in self.coverage() if r.category == "hard-negative:tool-failure"), None)
        if tool is not None:
            lines.append("partial tool failure " + tool.line().split(": ", 1)[1])
            attention |= not tool.covered or (tool.delta or 0) < 0
        errors = [e for e in self.comparison.evaluator_rates if e.baseline_errors or e.candidate_errors]
        for e in errors:
            lines.append(f"evaluator {e.label} raised: baseline {e.baseline_errors}, candidate {e.candidate_errors}")
            attention |= e.candidate_errors > e.baseline_errors
        if not errors:
            lines.append("no evaluator errors")
        return lines, attention

    # -- failing cases --------------------------------------------------------------------------------------------

    def failing_cases(self, *, category: str | None = None) -> list[FailingCase]:
        """Cases failing under the candidate: regressions first (by severity), then flaky, then still failing.

        Args:
            category: Only cases with this tag (e.g. `hard-negative:adversarial`).
        """
        cmp = self.comparison
        rank = {r.case_id: r.rank for r in cmp.regressions}
        out: list[FailingCase] = []
        if self.baseline_rows is not None and self.candidate_rows is not None:
            for case_id, rows in self.candidate_rows.items():
                if all(_passed(r) for r in rows):
                    continue
                base = self.baseline_rows.get(case_id, [])
                b_rate = _rate(base)
                c_rate = _rate(rows) or 0.0
                if case_id in rank:
                    kind: Literal["regression", "still_failing", "flaky"] = "regression"
                elif 0 < c_rate < 1:
                    kind = "flaky"
                else:
                    kind = "still_failing" if (b_rate or 0) < 0.5 else "regression"
                failed = next(r for r in rows if not _passed(r))
                labels, reason = _failure_of(failed)
                out.append(
                    FailingCase(
                        case_id=case_id,
                        kind=kind,
                        segment=dict(failed.get("segment") or {}),
                        tags=list(failed.get("tags") or []),
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

    def case(self, case_id: str) -> CaseDetail:
        """Both versions' attempts at one case, for reading side by side."""
        if self.baseline_rows is not None and self.candidate_rows is not None:
            base = self.baseline_rows.get(case_id)
            cand = self.candidate_rows.get(case_id)
            if base is None and cand is None:
                raise InputError(f"case '{case_id}' is not in the compared runs")
            first = (cand or base or [{}])[0]
            return CaseDetail(
                case_id=case_id,
                segment=dict(first.get("segment") or {}),
                tags=list(first.get("tags") or []),
                vars=dict(first.get("vars") or {}),
                baseline=[_attempt(r) for r in base or []],
                candidate=[_attempt(r) for r in cand or []],
                source="runs",
            )
        change = next(
            (c for c in [*self.comparison.regressions, *self.comparison.improvements] if c.case_id == case_id), None
        )
        if change is None:
            raise InputError(
                f"case '{case_id}' has no recorded outputs in the comparison (its run directories are not available)"
            )
        return _detail_from_change(change)

    def to_markdown(self, layers: Sequence[str] = LAYERS) -> str:
        """The checklists with their evidence and the hard-negative coverage, as Markdown (for exports and PRs)."""
        cmp = self.comparison
        out = [
            f"**{_md(cmp.candidate.artifact.ref)}** vs **{_md(cmp.baseline.artifact.ref)}**, comparison `{self.hash}`",
            "",
        ]
        out += [f"> {_md(n)}" for n in self.notes]
        for layer in layers:
            checklist = self.checklist(layer)
            out += ["", f"### {layer.capitalize()} review", ""]
            for it in checklist.items:
                flag = " — **look at this**" if it.attention else ""
                out.append(f"- **{it.title}**: {_md(it.definition.question)}{flag}")
                out += [f"    - {_md(line)}" for line in it.evidence]
        out += ["", f"### Hard-negative coverage (covered: at least {self.min_cases} cases)", ""]
        out += [f"- {_md(row.line())}" for row in self.coverage()]
        return "\n".join(out) + "\n"

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


# -- helpers ------------------------------------------------------------------------------------------------------


def _rows_of(run_dir: str, files: Mapping[str, str], side: str, notes: list[str]) -> Rows | None:
    from promptlab.runner import read_results

    path = Path(run_dir) / "results.jsonl"
    if not path.is_file():
        notes.append(f"{side} run directory {run_dir} is not available: evidence comes from the comparison only")
        return None
    try:
        data = path.read_bytes()
        if "sha256:" + sha256_hex(data) != files.get("results.jsonl"):
            notes.append(f"{side} results changed since the comparison ({path}): evidence comes from the comparison")
            return None
        rows = read_results(path)
    except (OSError, PromptlabError) as exc:
        notes.append(f"{side} results could not be read ({exc}): evidence comes from the comparison only")
        return None
    by_case: Rows = {}
    for row in rows:
        by_case.setdefault(str(row["case_id"]), []).append(row)
    for case_rows in by_case.values():
        case_rows.sort(key=lambda r: int(r.get("repeat", 0)))
    return by_case


def _policy_min_cases(directory: Path | None) -> int | None:
    """The gate policy's hard-negative `min_cases`, when the comparison was gated with such a rule."""
    if directory is None:
        return None
    from promptlab.gate import load_gate

    try:
        decision = load_gate(directory)
    except PromptlabError:
        return None
    if decision is None:
        return None
    for rule in decision.rules:
        if rule.rule == "hard_negative_coverage":
            spec = rule.spec if isinstance(rule.spec, dict) else {}
            args = spec.get("hard_negative_coverage")
            if isinstance(args, dict) and isinstance(args.get("min_cases"), int):
                return int(args["min_cases"])
            return DEFAULT_MIN_CASES
    return None


def _passed(row: Mapping[str, Any]) -> bool:
    return row.get("outcome") == "pass"


def _rate(rows: Sequence[Mapping[str, Any]]) -> float | None:
    return sum(_passed(r) for r in rows) / len(rows) if rows else None


def _failure_of(row: Mapping[str, Any]) -> tuple[list[str], str]:
    error = row.get("error")
    if error:
        return [f"error:{error.get('kind', 'error')}"], str(error.get("message", ""))
    labels, reason = [], ""
    for label, ev in sorted((row.get("evaluations") or {}).items()):
        if ev.get("error"):
            labels.append(f"{label} (evaluator error)")
            reason = reason or str(ev["error"])
        elif ev.get("passed") is False:
            labels.append(label)
            reason = reason or str(ev.get("reason") or "")
    return labels, reason


def _attempt(row: Mapping[str, Any]) -> Attempt:
    failed = []
    for label, ev in sorted((row.get("evaluations") or {}).items()):
        if ev.get("error"):
            failed.append((label, f"evaluator error: {ev['error']}"))
        elif ev.get("passed") is False:
            failed.append((label, str(ev.get("reason") or "")))
    calls = []
    for c in row.get("tool_calls") or []:
        result = f"error: {c['error']}" if c.get("error") else _short(c.get("result"))
        calls.append(f"{c.get('name')}({c.get('arguments', '')}) -> {result}")
    error = row.get("error")
    return Attempt(
        repeat=int(row.get("repeat", 0)),
        outcome=str(row.get("outcome")),
        output=row.get("output"),
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


@dataclass(kw_only=True)
class _FailureStats:
    results: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    tool_failure_results: int = 0
    tool_failure_passed: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.results if self.results else None

    @property
    def tool_failure_pass_rate(self) -> float | None:
        return self.tool_failure_passed / self.tool_failure_results if self.tool_failure_results else None


def _failure_stats(rows: Rows) -> _FailureStats:
    s = _FailureStats()
    for case_rows in rows.values():
        for r in case_rows:
            s.results += 1
            if r.get("error"):
                s.errors += 1
                s.error_kinds[str(r["error"].get("kind", "error"))] += 1
            if any(c.get("error") for c in r.get("tool_calls") or []):
                s.tool_failure_results += 1
                s.tool_failure_passed += _passed(r)
    return s


def _behaviour_line(b: BehaviourChange) -> str:
    status = {"declared_change": "declared", "undeclared_change": "UNDECLARED", "no_change": "no significant change"}
    return (
        f"{b.metric}{_scope(b.scope)}: {_num(b.baseline)} -> {_num(b.candidate)} ({_size(b)}), "
        f"{status.get(b.status, b.status)}" + (f" ({b.declaration})" if b.declaration else "")
    )


def _evaluator_line(e: EvaluatorRate) -> str:
    return (
        f"evaluator {e.label}: pass rate {pct(e.baseline_pass_rate)} -> {pct(e.candidate_pass_rate)} "
        f"({pts(e.delta)}), {e.n_pass_to_fail} pass -> fail"
    )


def _group_line(g: GroupResult) -> str:
    return (
        f"{g.label} (n={g.n}) {pct(g.baseline_pass_rate)} -> {pct(g.candidate_pass_rate)} ({pts(g.delta)}, p_adj="
        f"{'n/a' if g.p_adjusted is None else f'{g.p_adjusted:.3g}'})"
    )


def _scope(scope: Mapping[str, str]) -> str:
    return "" if not scope else " [" + ", ".join(f"{k}={v}" for k, v in scope.items()) + "]"


def _size(b: BehaviourChange) -> str:
    return signed_pct(b.delta_pct) if b.delta_pct is not None else pts(b.delta)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<|])", r"\\\1", text)
