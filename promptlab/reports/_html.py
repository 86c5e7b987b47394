"""The standalone HTML report of a comparison: decision first, then the evidence, with interactive charts.

The page embeds plotly.js once (the partial bundle of `_plotly.py`) and loads nothing from the network. The same
inputs give byte-identical output: element ids derive from section names and case ids, and the only timestamps
are those in the inputs (gate decision, review sign-offs), so the report can be signed inside a bundle.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from promptlab._util.files import write_output
from promptlab.comparison import Comparison, pct, pts, pval, signed_pct
from promptlab.reports._charts import charts
from promptlab.reports._inputs import ReportInputs, gather
from promptlab.reports._plotly import check_trace_types, plotly_js

__all__ = ["REPORT_FILE", "render_html", "write_html"]

REPORT_FILE = "report.html"
TOP_REGRESSIONS = 10
TOP_IMPROVEMENTS = 10


def render_html(source: str | Path | Comparison | ReportInputs, *, top: int = TOP_REGRESSIONS) -> str:
    """Render the standalone HTML report of a comparison directory (or an in-memory comparison).

    A directory's `gate.json` and `reviews/*.json` are included when present.
    """
    inputs = source if isinstance(source, ReportInputs) else gather(source)
    cmp = inputs.comparison
    from markupsafe import Markup

    # Chart markup and plotly.js come from plotly itself (its JSON escapes `<`); everything else is escaped.
    figures = charts(cmp)
    check_trace_types(figures.values())
    chart_html = {key: Markup(_chart_div(key, fig)) for key, fig in figures.items()}
    behaviour_order = {"undeclared_change": 0, "declared_change": 1, "no_change": 2, "descriptive": 3}
    context: dict[str, Any] = {
        "title": f"{cmp.candidate.artifact.ref} vs {cmp.baseline.artifact.ref}",
        "cmp": cmp,
        "cmp_hash": inputs.comparison_hash,
        "level": f"{(1 - cmp.settings.alpha) * 100:g}%",
        "gate": inputs.gate,
        "reviews": inputs.reviews,
        "charts": chart_html,
        "groups": [cmp.overall, *cmp.segments],
        "regressions": cmp.regressions[:top],
        "improvements": cmp.improvements[:TOP_IMPROVEMENTS],
        "behaviour": sorted(cmp.behaviour.changes, key=lambda b: behaviour_order.get(b.status, 9)),
        "stability": [("baseline", cmp.stability.baseline), ("candidate", cmp.stability.candidate)],
        "baseline_ref": cmp.baseline.artifact.ref,
        "candidate_ref": cmp.candidate.artifact.ref,
        "plotly_js": Markup(plotly_js()),
    }
    return str(_environment().get_template("report.html").render(context))


def write_html(
    source: str | Path | Comparison | ReportInputs, out: str | Path | None = None, *, top: int = TOP_REGRESSIONS
) -> Path:
    """Render the report and write it (default: `report.html` in the comparison directory); return the path."""
    inputs = source if isinstance(source, ReportInputs) else gather(source)
    path = Path(out) if out is not None else _default_path(inputs, REPORT_FILE)
    return write_output(path, render_html(inputs, top=top))


def _default_path(inputs: ReportInputs, name: str) -> Path:
    from promptlab.errors import InputError

    if inputs.directory is None:
        raise InputError(f"the comparison was not read from a directory: give an output path for {name}")
    return inputs.directory / name


def _chart_div(key: str, fig: Any) -> str:
    import plotly.io as pio

    html = pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        div_id=f"chart-{key}",
        config={"displaylogo": False, "responsive": True},
        validate=True,
    )
    return f'<div class="chart" data-chart="{key}">{html}</div>'


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("promptlab.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=pct,
        pts=pts,
        pval=pval,
        signed_pct=signed_pct,
        num=_num,
        words=lambda s: str(s).replace("_", " "),
        scope=lambda m: ", ".join(f"{k}={v}" for k, v in m.items()) if m else "all cases",
        slug=_slug,
    )
    return env


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _slug(text: str) -> str:
    base = re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-")[:40] or "x"
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"
