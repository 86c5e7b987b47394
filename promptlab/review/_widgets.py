"""The review checklists as ipywidgets: they only present `promptlab.review.Review` and call it on Save.

Callbacks are guarded: a mistake the reviewer can fix (`InputError`, e.g. a missing name) is shown in the status
line; anything else is recorded in `callback_errors`, shown, and re-raised. ipywidgets itself swallows callback
exceptions into a log, so tests assert `callback_errors` is empty (and notebooks show the error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from promptlab.comparison import Comparison
from promptlab.errors import InputError
from promptlab.review._items import LAYERS, CaseDetail
from promptlab.review._review import GateDecisionLike, Review

__all__ = ["ReviewPanel", "ReviewWidgets", "review_widgets"]

_ALL = "__all__"


class ReviewPanel:
    """One layer's checklist: a checkbox and a note per item with its evidence, hard-negative coverage, a
    failing-case browser, reviewer name, decision, comments and a Save button."""

    def __init__(
        self,
        review: Review,
        layer: str,
        *,
        on_save: Callable[[Path], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        import ipywidgets as w

        self.review = review
        self.layer = layer
        self.checklist = review.checklist(layer)
        self.on_save = on_save
        self.clock = clock
        self.callback_errors: list[BaseException] = []
        """Unexpected exceptions raised inside widget callbacks (tests assert this stays empty)."""
        self.saved: list[Path] = []
        """Sign-off files written by this panel."""

        self.checks: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        item_boxes = []
        for item in self.checklist.items:
            check = w.Checkbox(value=False, description=item.title, indent=False)
            note = w.Textarea(placeholder="note (optional)", layout=w.Layout(width="98%", height="48px"))
            self.checks[item.id] = check
            self.notes[item.id] = note
            flag = ' <span style="color:#bc4c00;font-weight:600">look at this</span>' if item.attention else ""
            evidence = "".join(f"<li>{escape(line)}</li>" for line in item.evidence)
            item_boxes.append(
                w.VBox(
                    [
                        check,
                        w.HTML(
                            f"<div style='margin-left:4px'><i>{escape(item.definition.question)}</i>{flag}"
                            f"<ul style='margin:2px 0'>{evidence}</ul></div>"
                        ),
                        note,
                    ],
                    layout=w.Layout(border="1px solid #d1d9e0", padding="4px 8px", margin="4px 0"),
                )
            )

        self.coverage = w.HTML(_coverage_html(self.checklist.coverage, review.min_cases))
        categories = [(f"{row.name} ({row.n})", row.category) for row in self.checklist.coverage if row.n]
        self.case_filter = w.Dropdown(
            options=[("all categories", _ALL), *categories], value=_ALL, description="Category"
        )
        self.case_picker = w.Dropdown(options=[], description="Case", layout=w.Layout(width="98%"))
        self.case_view = w.HTML()
        self.reviewer = w.Text(description="Reviewer", placeholder="your name")
        self.decision = w.ToggleButtons(
            options=[("approve", "approve"), ("request changes", "request_changes")],
            value=None,
            description="Decision",
        )
        self.comments = w.Textarea(
            description="Comments", placeholder="required when requesting changes", layout=w.Layout(width="98%")
        )
        self.save_button = w.Button(description=f"Save {layer} sign-off", button_style="primary", icon="check")
        self.status = w.HTML()

        self.case_filter.observe(self._guard(self._on_filter), names="value")
        self.case_picker.observe(self._guard(self._on_pick), names="value")
        self.save_button.on_click(self._guard(self._on_save))
        self._fill_cases(None)

        notes = "".join(f"<li>{escape(n)}</li>" for n in self.checklist.notes)
        self.widget = w.VBox(
            [
                w.HTML(f"<h3>{escape(layer.capitalize())} review</h3>" + (f"<ul>{notes}</ul>" if notes else "")),
                *item_boxes,
                w.HTML("<h4>Hard-negative coverage</h4>"),
                self.coverage,
                w.HTML("<h4>Failing cases</h4>"),
                w.HBox([self.case_filter]),
                self.case_picker,
                self.case_view,
                w.HTML("<h4>Sign-off</h4>"),
                self.reviewer,
                self.decision,
                self.comments,
                self.save_button,
                self.status,
            ]
        )

    # -- callbacks ------------------------------------------------------------------------------------------------

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(*args: Any) -> None:
            try:
                fn(*args)
            except InputError as exc:
                self.status.value = f"<span style='color:#cf222e'>{escape(str(exc))}</span>"
            except Exception as exc:
                self.callback_errors.append(exc)
                self.status.value = (
                    f"<span style='color:#cf222e'>internal error in {escape(fn.__name__)}: "
                    f"{escape(type(exc).__name__)}: {escape(str(exc))}</span>"
                )
                raise

        return run

    def _on_filter(self, change: dict[str, Any]) -> None:
        value = change["new"]
        self._fill_cases(None if value == _ALL else value)

    def _on_pick(self, change: dict[str, Any]) -> None:
        case_id = change["new"]
        self.case_view.value = "" if case_id is None else case_html(self.review.case(case_id))

    def _on_save(self, _button: Any = None) -> None:
        answers = {item_id: box.value for item_id, box in self.checks.items()}
        notes = {item_id: box.value for item_id, box in self.notes.items() if box.value.strip()}
        path = self.review.sign(
            self.layer,
            reviewer=self.reviewer.value,
            decision=self.decision.value,
            answers=answers,
            comments=self.comments.value,
            notes=notes,
            now=self.clock() if self.clock is not None else None,
        )
        self.saved.append(path)
        self.status.value = f"<span style='color:#1a7f37'>saved {escape(str(path))}</span>"
        if self.on_save is not None:
            self.on_save(path)

    def _fill_cases(self, category: str | None) -> None:
        cases = self.review.failing_cases(category=category)
        self.case_picker.options = [(c.label(), c.case_id) for c in cases]
        self.case_picker.value = cases[0].case_id if cases else None
        if not cases:
            self.case_view.value = "<i>no failing cases</i>"

    # -- convenience ----------------------------------------------------------------------------------------------

    def save(self) -> None:
        """Click Save (as a reviewer would)."""
        self.save_button.click()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _bundle(self.widget, f"{self.layer} review checklist (interactive: open the notebook in Jupyter)")


class ReviewWidgets:
    """Both review layers in tabs, with a header naming the comparison and its gate decision."""

    def __init__(self, review: Review, *, layers: tuple[str, ...] = LAYERS, **panel_options: Any) -> None:
        import ipywidgets as w

        self.review = review
        self.panels = {layer: ReviewPanel(review, layer, **panel_options) for layer in layers}
        cmp = review.comparison
        header = (
            f"<b>{escape(cmp.candidate.artifact.ref)}</b> vs <b>{escape(cmp.baseline.artifact.ref)}</b> "
            f"&middot; {cmp.summary.n_cases} cases &middot; comparison <code>{escape(review.hash[:19])}</code>"
            f"<br>{escape(cmp.summary.headline)}"
        )
        tabs = w.Tab(children=[p.widget for p in self.panels.values()])
        for i, layer in enumerate(self.panels):
            tabs.set_title(i, f"{layer} review")
        self.widget = w.VBox([w.HTML(header), tabs])

    @property
    def callback_errors(self) -> list[BaseException]:
        """Unexpected callback exceptions of every panel."""
        return [e for p in self.panels.values() for e in p.callback_errors]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _bundle(self.widget, "review checklists (interactive: open the notebook in Jupyter)")


def _bundle(widget: Any, text: str) -> Any:
    # The widget view for Jupyter, and a short line where widgets cannot render (HTML exports, terminals).
    data = widget._repr_mimebundle_()
    data["text/plain"] = text
    return data


def review_widgets(
    source: str | Path | Comparison | Review, *, gate: GateDecisionLike | None = None, **options: Any
) -> ReviewWidgets:
    """Open a comparison directory for review (with its gate decision, if given) and build both layers' widgets."""
    review = source if isinstance(source, Review) else Review.open(source, gate=gate)
    return ReviewWidgets(review, **options)


def case_html(detail: CaseDetail) -> str:
    """Both versions' attempts at a case, side by side (escaped HTML)."""
    seg = ", ".join(f"{k}={v}" for k, v in detail.segment.items())
    head = f"<b>{escape(detail.case_id)}</b> <span style='color:#59636e'>{escape(seg)}"
    if detail.tags:
        head += " &middot; " + escape(", ".join(detail.tags))
    head += "</span>"
    if detail.vars:
        head += (
            "<pre style='white-space:pre-wrap;margin:4px 0'>"
            + escape("\n".join(f"{k}: {v}" for k, v in detail.vars.items()))
            + "</pre>"
        )
    if detail.source == "comparison":
        head += "<div style='color:#59636e'>(run directories not available: recorded outputs only)</div>"

    def column(title: str, attempts: list[Any]) -> str:
        parts = [f"<div><b>{escape(title)}</b>"]
        for a in attempts:
            colour = "#1a7f37" if a.outcome == "pass" else "#cf222e"
            parts.append(f"<div>repeat {a.repeat}: <span style='color:{colour}'>{escape(a.outcome)}</span></div>")
            if a.error:
                parts.append(f"<div style='color:#cf222e'>{escape(a.error)}</div>")
            parts += [f"<div>&#8226; {escape(label)}: {escape(reason)}</div>" for label, reason in a.failed]
            parts += [f"<div><code>{escape(call)}</code></div>" for call in a.tool_calls]
            text = a.output if a.output is not None else "(no output)"
            parts.append(
                "<pre style='white-space:pre-wrap;background:#f6f8fa;border:1px solid #d1d9e0;padding:6px;"
                f"max-height:260px;overflow:auto'>{escape(text)}</pre>"
            )
        parts.append("</div>")
        return "".join(parts)

    grid = (
        "<div style='display:grid;grid-template-columns:1fr 1fr;gap:10px'>"
        + column("baseline", detail.baseline)
        + column("candidate", detail.candidate)
        + "</div>"
    )
    return head + grid


def _coverage_html(rows: list[Any], min_cases: int) -> str:
    def rate(x: float | None) -> str:
        return "n/a" if x is None else f"{x * 100:.1f}%"

    body = "".join(
        "<tr>"
        f"<td>{escape(r.name)}</td><td style='text-align:right'>{r.n}</td>"
        f"<td style='text-align:right'>{rate(r.baseline_pass_rate)}</td>"
        f"<td style='text-align:right'>{rate(r.candidate_pass_rate)}</td>"
        f"<td style='text-align:right'>{'n/a' if r.delta is None else f'{r.delta * 100:+.1f} pts'}</td>"
        f"<td>{'yes' if r.covered else '<b style=color:#cf222e>no</b>'}</td>"
        "</tr>"
        for r in rows
    )
    return (
        "<table style='border-collapse:collapse'><tr><th>category</th><th>cases</th><th>baseline</th>"
        f"<th>candidate</th><th>delta</th><th>covered (&ge; {min_cases})</th></tr>{body}</table>"
    )
