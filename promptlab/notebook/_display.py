"""Showing charts in a notebook so that they render in JupyterLab and in the offline HTML export alike."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["show"]

_PLOTLY_MIME = "application/vnd.plotly.v1+json"
_state = {"plotlyjs_shown": False}


def show(fig: Any, *, div_id: str | None = None) -> None:
    """Display a plotly figure as plotly's own MIME type (interactive in JupyterLab) plus an HTML fallback.

    The HTML fallback is what an exported notebook shows; plotly.js is embedded once per kernel (the same partial
    bundle as the report, never from a CDN, never MathJax), so the export works offline and stays small.
    """
    import plotly.io as pio
    from IPython.display import display

    if not _state["plotlyjs_shown"]:
        from promptlab.reports import plotly_js

        display({"text/html": f"<script>{plotly_js()}</script>"}, raw=True)  # type: ignore[no-untyped-call]
        _state["plotlyjs_shown"] = True
    fig_dict = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    html = pio.to_html(
        fig_dict,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )
    plain = json.loads(pio.to_json(fig_dict, validate=False, remove_uids=True))
    plain["config"] = {"displaylogo": False}
    display({_PLOTLY_MIME: plain, "text/html": html}, raw=True)  # type: ignore[no-untyped-call]
