"""A short Markdown summary of a comparison, for a CI job summary or a pull-request comment."""

from __future__ import annotations

import re
from pathlib import Path

from promptlab._util.files import write_output
from promptlab.comparison import Comparison, pct, pts, pval, signed_pct
from promptlab.reports._html import _default_path
from promptlab.reports._inputs import ReportInputs, gather

__all__ = ["SUMMARY_FILE", "render_markdown", "write_markdown"]

SUMMARY_FILE = "summary.md"
_TOP = 5


def render_markdown(source: str | Path | Comparison | ReportInputs, *, top: int = _TOP) -> str:
    """Render a short Markdown summary: decision, headline numbers, regressed segments, top regressions."""
    inputs = source if isinstance(source, ReportInputs) else gather(source)
    cmp = inputs.comparison
    b_ref, c_ref = cmp.baseline.artifact.ref, cmp.candidate.artifact.ref
    level = f"{(1 - cmp.settings.alpha) * 100:g}%"
    out: list[str] = [f"## Prompt comparison: {_md(c_ref)} vs {_md(b_ref)}", ""]

    gate = inputs.gate
    if gate is None:
        out.append("**Gate:** not evaluated (no `gate.json`)")
    else:
        policy = f" — policy {_md(gate.policy_name)}" if gate.policy_name else ""
        stale = " (stale: evaluated for another comparison)" if gate.stale else ""
        out.append(f"**Gate: {gate.decision.upper()}**{policy}{stale}")
        flagged = [r for r in gate.rules if r.outcome != "pass"]
        if flagged:
            out.append("")
            out.extend(f"- `{r.name}`: **{r.outcome}** — {_md(r.message)}" for r in flagged)
        for a in gate.approvals:
            out.append(f"- approved: {_md(a)}")
    out.append("")
    if inputs.reviews:
        reviews = "; ".join(
            f"{r.layer}: {r.decision.replace('_', ' ')} by {_md(r.reviewer)}"
            + (" (other comparison)" if r.stale else "")
            for r in inputs.reviews
        )
        out.append(f"**Reviews:** {reviews}")
    else:
        out.append("**Reviews:** none yet")
    out.append("")

    o = cmp.overall
    ci = f"{level} CI {pts(o.ci_low)} to {pts(o.ci_high)}, p={pval(o.p_value)}"
    out += [
        f"| | {_cell(b_ref)} | {_cell(c_ref)} | change |",
        "|---|---:|---:|---|",
        f"| pass rate ({o.n} cases) | {pct(o.baseline_pass_rate)} | {pct(o.candidate_pass_rate)} | "
        f"{pts(o.delta)} ({ci}): {o.verdict.replace('_', ' ')} |",
    ]
    for name, label, unit in (
        ("latency_p95_s", "latency p95", "s"),
        ("cost_per_case_usd", "cost / case", "$"),
        ("total_cost_usd", "total cost", "$"),
    ):
        m = cmp.metric(name)
        if m is None or m.baseline is None or m.candidate is None:
            continue
        out.append(
            f"| {label} | {_amount(m.baseline, unit)} | {_amount(m.candidate, unit)} | {signed_pct(m.delta_pct)} |"
        )
    out.append("")

    verdicts = cmp.summary.segment_verdicts
    seg_line = (
        f"**Segments:** {verdicts.get('regressed', 0)} regressed, {verdicts.get('improved', 0)} improved, "
        f"{verdicts.get('no_significant_change', 0)} no significant change, "
        f"{verdicts.get('not_enough_data', 0)} not enough data"
    )
    regressed = [g for g in cmp.segments if g.verdict == "regressed"]
    if regressed:
        seg_line += ": " + ", ".join(
            f"**{_md(g.label)}** {pts(g.delta)} (n={g.n}, p_adj={pval(g.p_adjusted)})" for g in regressed
        )
    out.append("- " + seg_line)
    hard = ", ".join(
        f"{_md((g.value or g.label).split(':', 1)[-1])} "
        + (f"{pct(g.baseline_pass_rate)} → {pct(g.candidate_pass_rate)} (n={g.n})" if g.n else "no cases")
        for g in cmp.hard_negatives
    )
    out.append(f"- **Hard negatives:** {hard}")
    if cmp.regressions:
        shown = ", ".join(
            f"`{_code(r.case_id)}`"
            + (f" [risk {_md(r.risk)}]" if r.risk else "")
            + f" ({', '.join(_md(f.label) for f in r.flipped)})"
            for r in cmp.regressions[:top]
        )
        more = f" and {len(cmp.regressions) - top} more" if len(cmp.regressions) > top else ""
        out.append(f"- **Regressions (pass → fail): {len(cmp.regressions)}** — {shown}{more}")
    else:
        out.append("- **Regressions (pass → fail):** none")
    out.append(f"- **Improvements (fail → pass):** {len(cmp.improvements)}")
    undeclared = [b for b in cmp.behaviour.changes if b.status == "undeclared_change"]
    declared = [b for b in cmp.behaviour.changes if b.status == "declared_change"]

    def change(b: object) -> str:
        from promptlab.comparison import BehaviourChange

        assert isinstance(b, BehaviourChange)
        scope = " [" + ", ".join(f"{k}={v}" for k, v in b.scope.items()) + "]" if b.scope else ""
        size = signed_pct(b.delta_pct) if b.delta_pct is not None else pts(b.delta)
        return f"{_md(b.metric)}{_md(scope)} {size}"

    behaviour = f"**Behaviour:** {len(undeclared)} undeclared change(s)"
    if undeclared:
        behaviour += " (" + ", ".join(change(b) for b in undeclared[:top]) + ")"
    behaviour += f", {len(declared)} declared change(s) observed"
    if cmp.behaviour.declared_not_observed:
        behaviour += f", {len(cmp.behaviour.declared_not_observed)} declared but not observed"
    out.append("- " + behaviour)
    st = cmp.stability
    if st.baseline.n_flaky is None and st.candidate.n_flaky is None:
        out.append("- **Stability:** not measured (one repeat per case)")
    else:
        parts = [
            f"{side} {v.n_flaky}/{v.n_cases} flaky" if v.n_flaky is not None else f"{side} not measured"
            for side, v in (("baseline", st.baseline), ("candidate", st.candidate))
        ]
        out.append("- **Stability:** " + ", ".join(parts))
    out += ["", f"<sub>comparison `{inputs.comparison_hash}` · promptlab {_md(cmp.promptlab_version)}</sub>", ""]
    return "\n".join(out)


def write_markdown(source: str | Path | Comparison | ReportInputs, out: str | Path | None = None) -> Path:
    """Write the Markdown summary (default: `summary.md` in the comparison directory); return the path."""
    inputs = source if isinstance(source, ReportInputs) else gather(source)
    path = Path(out) if out is not None else _default_path(inputs, SUMMARY_FILE)
    return write_output(path, render_markdown(inputs))


_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: str | None) -> str:
    """Escape user text (labels, names) so it cannot turn into markup, links or HTML."""
    return _SPECIAL.sub(r"\\\1", text or "").replace("\n", " ")


def _amount(value: float, unit: str) -> str:
    return f"{value:.3g} s" if unit == "s" else f"${value:.3g}"


def _cell(text: str) -> str:
    return _md(text)


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")
