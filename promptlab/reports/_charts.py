"""Plotly charts of a comparison, shared by the HTML report and the notebooks.

Every chart is a pure function of the comparison: same comparison, same figure (no random ids, no timestamps).
"""

from __future__ import annotations

from html import escape
from typing import Any

from promptlab.comparison import Comparison, GroupResult

__all__ = [
    "behaviour_chart",
    "charts",
    "hard_negatives_chart",
    "latency_cost_chart",
    "segments_chart",
]

VERDICT_COLOURS = {
    "improved": "#1a7f37",
    "regressed": "#cf222e",
    "no_significant_change": "#57606a",
    "not_enough_data": "#afb8c1",
}
VERDICT_LABELS = {
    "improved": "improved",
    "regressed": "regressed",
    "no_significant_change": "no significant change",
    "not_enough_data": "not enough data",
}
STATUS_COLOURS = {
    "declared_change": "#0969da",
    "undeclared_change": "#bc4c00",
    "no_change": "#afb8c1",
    "descriptive": "#8c959f",
}
# Below the plot, measured from the bottom of the whole figure so it never overlaps the axis title.
_LEGEND = {"orientation": "h", "yref": "container", "y": 0.01, "yanchor": "bottom", "x": 0}
_BASE_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    "margin": {"l": 10, "r": 20, "t": 50, "b": 80},
    "hoverlabel": {"align": "left"},
}


def _figure(data: list[Any], layout: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    return go.Figure(data=data, layout={**_BASE_LAYOUT, **layout})


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f} pts"


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _group_hover(g: GroupResult) -> str:
    ci = f"[{_pts(g.ci_low)}, {_pts(g.ci_high)}]" if g.ci_low is not None and g.ci_high is not None else "n/a"
    p_adj = "n/a" if g.p_adjusted is None else f"{g.p_adjusted:.3g}"
    return (
        f"<b>{escape(g.label)}</b><br>n={g.n}<br>"
        f"pass rate {_rate(g.baseline_pass_rate)} → {_rate(g.candidate_pass_rate)}<br>"
        f"delta {_pts(g.delta)} CI {ci}<br>p_adj {p_adj}<br>{VERDICT_LABELS[g.verdict]}"
    )


def segments_chart(cmp: Comparison) -> Any:
    """Paired pass-rate delta of every segment and tag group (overall first), with its interval, coloured by verdict.

    Groups with too few cases are drawn hollow and grey ("not enough data"), not as wins or losses.
    """
    groups = [cmp.overall, *cmp.segments]
    traces = []
    for verdict in ("regressed", "improved", "no_significant_change", "not_enough_data"):
        members = [g for g in groups if g.verdict == verdict]
        if not members:
            continue
        xs = [None if g.delta is None else g.delta * 100 for g in members]
        plus = [None if g.ci_high is None or g.delta is None else (g.ci_high - g.delta) * 100 for g in members]
        minus = [None if g.ci_low is None or g.delta is None else (g.delta - g.ci_low) * 100 for g in members]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": VERDICT_LABELS[verdict],
                "x": xs,
                "y": [f"{escape(g.label)} (n={g.n})" for g in members],
                "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "thickness": 1.5},
                "marker": {
                    "color": VERDICT_COLOURS[verdict],
                    "size": 10,
                    "symbol": "circle-open" if verdict == "not_enough_data" else "circle",
                },
                "hovertext": [_group_hover(g) for g in members],
                "hoverinfo": "text",
            }
        )
    order = [f"{escape(g.label)} (n={g.n})" for g in groups]
    level = f"{(1 - cmp.settings.alpha) * 100:g}%"
    return _figure(
        traces,
        {
            "title": {"text": f"Pass-rate change by segment (candidate minus baseline, {level} paired CI)"},
            "xaxis": {"title": {"text": "percentage points"}, "zeroline": True, "zerolinewidth": 2},
            "yaxis": {"categoryorder": "array", "categoryarray": list(reversed(order)), "automargin": True},
            "height": max(260, 60 + 26 * len(groups)),
            "legend": _LEGEND,
        },
    )


def hard_negatives_chart(cmp: Comparison) -> Any:
    """Baseline and candidate pass rate of each hard-negative category, with its case count."""
    cats = cmp.hard_negatives
    labels = [f"{escape((g.value or g.label).split(':', 1)[-1])} (n={g.n})" for g in cats]

    def rates(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v * 100 for v in values]

    traces = [
        {
            "type": "bar",
            "name": f"baseline {escape(cmp.baseline.artifact.ref)}",
            "x": labels,
            "y": rates([g.baseline_pass_rate for g in cats]),
            "marker": {"color": "#8c959f"},
            "hovertext": [_group_hover(g) for g in cats],
            "hoverinfo": "text",
        },
        {
            "type": "bar",
            "name": f"candidate {escape(cmp.candidate.artifact.ref)}",
            "x": labels,
            "y": rates([g.candidate_pass_rate for g in cats]),
            "marker": {"color": [VERDICT_COLOURS[g.verdict] if g.verdict == "regressed" else "#0969da" for g in cats]},
            "hovertext": [_group_hover(g) for g in cats],
            "hoverinfo": "text",
        },
    ]
    return _figure(
        traces,
        {
            "title": {"text": "Hard-negative categories: pass rate"},
            "barmode": "group",
            "yaxis": {"title": {"text": "pass rate (%)"}, "range": [0, 105]},
            "height": 340,
            "legend": _LEGEND,
        },
    )


def latency_cost_chart(cmp: Comparison) -> Any:
    """Relative change of each latency, token and cost figure, with its interval where there is one."""
    metrics = [m for m in cmp.latency_cost.metrics if m.delta_pct is not None]
    xs: list[float] = []
    plus: list[float | None] = []
    minus: list[float | None] = []
    colours: list[str] = []
    hover: list[str] = []
    for m in metrics:
        assert m.delta_pct is not None
        xs.append(m.delta_pct)
        base = m.baseline
        if m.ci_low is not None and m.ci_high is not None and base:
            plus.append((m.ci_high - (m.delta or 0.0)) / abs(base) * 100)
            minus.append(((m.delta or 0.0) - m.ci_low) / abs(base) * 100)
        else:
            plus.append(None)
            minus.append(None)
        colours.append("#cf222e" if m.delta_pct > 0 else "#1a7f37" if m.delta_pct < 0 else "#57606a")
        hover.append(
            f"<b>{escape(m.metric)}</b><br>{_num(m.baseline)} → {_num(m.candidate)} {m.unit}<br>"
            f"delta {_num(m.delta)} {m.unit} ({m.delta_pct:+.1f}%)<br>n={m.n}"
        )
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": xs,
        "y": [escape(m.metric) for m in metrics],
        "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
        "marker": {"color": colours},
        "hovertext": hover,
        "hoverinfo": "text",
        "name": "relative change",
    }
    return _figure(
        [trace],
        {
            "title": {"text": "Latency, tokens and cost: change vs baseline"},
            "xaxis": {"title": {"text": "% of baseline"}, "zeroline": True, "zerolinewidth": 2},
            "yaxis": {"autorange": "reversed", "automargin": True},
            "height": max(240, 60 + 28 * len(metrics)),
            "showlegend": False,
        },
    )


def behaviour_chart(cmp: Comparison) -> Any:
    """Relative change of each tested behaviour metric, coloured by declared / undeclared / no change."""
    rows = [b for b in cmp.behaviour.changes if b.status != "descriptive" and (b.delta_pct is not None or b.delta)]
    traces = []
    for status, name in (
        ("undeclared_change", "undeclared change"),
        ("declared_change", "declared change"),
        ("no_change", "no significant change"),
    ):
        members = [b for b in rows if b.status == status]
        if not members:
            continue
        scope = [escape(", ".join(f"{k}={v}" for k, v in b.scope.items())) for b in members]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": name,
                "x": [b.delta_pct if b.delta_pct is not None else (b.delta or 0.0) * 100 for b in members],
                "y": [escape(b.metric) + (f" [{s}]" if s else "") for b, s in zip(members, scope, strict=True)],
                "marker": {"color": STATUS_COLOURS[status]},
                "hovertext": [
                    f"<b>{b.behaviour}: {escape(b.metric)}</b><br>{_num(b.baseline)} → {_num(b.candidate)}<br>"
                    f"p_adj {'n/a' if b.p_adjusted is None else f'{b.p_adjusted:.3g}'}<br>{escape(b.declaration or '')}"
                    for b in members
                ],
                "hoverinfo": "text",
            }
        )
    return _figure(
        traces,
        {
            "title": {"text": "Behaviour changes (relative change; declared vs undeclared)"},
            "xaxis": {"title": {"text": "% of baseline"}, "zeroline": True, "zerolinewidth": 2},
            "yaxis": {"autorange": "reversed", "automargin": True},
            "height": max(240, 60 + 26 * len(rows)),
            "legend": _LEGEND,
        },
    )


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def charts(cmp: Comparison) -> dict[str, Any]:
    """The report's charts by stable key (the key is also the chart's element id suffix)."""
    out = {"segments": segments_chart(cmp), "hard-negatives": hard_negatives_chart(cmp)}
    if any(m.delta_pct is not None for m in cmp.latency_cost.metrics):
        out["latency-cost"] = latency_cost_chart(cmp)
    if any(b.status != "descriptive" for b in cmp.behaviour.changes):
        out["behaviour"] = behaviour_chart(cmp)
    return out
