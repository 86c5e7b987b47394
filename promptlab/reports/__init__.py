"""Shareable reports of a comparison: a standalone HTML page and a short Markdown summary."""

from promptlab.reports._charts import (
    behaviour_chart,
    charts,
    hard_negatives_chart,
    latency_cost_chart,
    segments_chart,
)
from promptlab.reports._html import REPORT_FILE, render_html, write_html
from promptlab.reports._inputs import GateView, ReportInputs, ReviewView, RuleView, gather
from promptlab.reports._markdown import SUMMARY_FILE, render_markdown, write_markdown
from promptlab.reports._plotly import plotly_js

__all__ = [
    "GateView",
    "REPORT_FILE",
    "ReportInputs",
    "ReviewView",
    "RuleView",
    "SUMMARY_FILE",
    "behaviour_chart",
    "charts",
    "gather",
    "hard_negatives_chart",
    "latency_cost_chart",
    "plotly_js",
    "render_html",
    "render_markdown",
    "segments_chart",
    "write_html",
    "write_markdown",
]
