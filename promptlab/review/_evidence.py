"""The evidence for each checklist item, drawn from the comparison and (when available) both runs' result rows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from promptlab.comparison import BehaviourChange, Comparison, EvaluatorRate, GroupResult, pct, pts, signed_pct
from promptlab.review._items import CHECKLIST_ITEMS, ChecklistItem, CoverageRow, Layer
from promptlab.review._runs import Rows

__all__ = ["checklist_items"]


def checklist_items(
    layer: Layer,
    *,
    comparison: Comparison,
    coverage: list[CoverageRow],
    baseline_rows: Rows | None,
    candidate_rows: Rows | None,
) -> list[ChecklistItem]:
    """The items of one layer, each with its evidence and whether it needs the reviewer's attention."""
    ev = _Evidence(comparison=comparison, coverage=coverage, baseline_rows=baseline_rows, candidate_rows=candidate_rows)
    items = []
    for definition in CHECKLIST_ITEMS[layer]:
        evidence, attention = getattr(ev, definition.id)()
        items.append(ChecklistItem(definition=definition, evidence=evidence, attention=attention))
    return items


@dataclass(kw_only=True)
class _Evidence:
    """One method per checklist item id, returning (evidence lines, attention)."""

    comparison: Comparison
    coverage: list[CoverageRow]
    baseline_rows: Rows | None
    candidate_rows: Rows | None

    def _behaviour(self, family: str) -> list[BehaviourChange]:
        return [b for b in self.comparison.behaviour.changes if b.behaviour == family and b.status != "descriptive"]

    def _evaluators(self, pattern: str) -> list[EvaluatorRate]:
        rx = re.compile(pattern, re.IGNORECASE)
        return [e for e in self.comparison.evaluator_rates if rx.search(e.label)]

    def tone(self) -> tuple[list[str], bool]:
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

    def policy_alignment(self) -> tuple[list[str], bool]:
        lines, attention = [], False
        for b in self._behaviour("refusal_rate"):
            lines.append(_behaviour_line(b))
            attention |= b.status == "undeclared_change"
        for e in self._evaluators(r"refus|policy|safety|pii|harm|allowed|jailbreak|inject"):
            lines.append(_evaluator_line(e))
            attention |= (e.delta or 0) < 0 or e.n_pass_to_fail > 0
        adversarial = next((r for r in self.coverage if r.category == "hard-negative:adversarial"), None)
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

    def user_value(self) -> tuple[list[str], bool]:
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

    def determinism(self) -> tuple[list[str], bool]:
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

    def schema_compliance(self) -> tuple[list[str], bool]:
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

    def failure_handling(self) -> tuple[list[str], bool]:
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
        tool = next((r for r in self.coverage if r.category == "hard-negative:tool-failure"), None)
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
            if r.error:
                s.errors += 1
                s.error_kinds[str(r.error_kind)] += 1
            if r.tool_failed:
                s.tool_failure_results += 1
                s.tool_failure_passed += r.passed
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
