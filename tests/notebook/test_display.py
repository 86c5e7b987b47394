from __future__ import annotations

from typing import Any

import pytest


def test_show_embeds_plotly_js_once_then_sends_figure_and_html_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display
    import plotly.graph_objects as go

    from promptlab.notebook import _display, show
    from promptlab.reports._plotly import plotly_js

    shown: list[dict[str, Any]] = []

    def record(data: dict[str, Any], raw: bool = False) -> None:
        assert raw
        shown.append(data)

    # What reaches the notebook is what `display` is given; record it instead of needing a running kernel.
    monkeypatch.setattr(IPython.display, "display", record)
    monkeypatch.setitem(_display._state, "plotlyjs_shown", False)
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    show(fig, div_id="first")
    show(fig, div_id="second")
    assert [sorted(d) for d in shown] == [
        ["text/html"],
        ["application/vnd.plotly.v1+json", "text/html"],
        ["application/vnd.plotly.v1+json", "text/html"],
    ]
    # The same partial bundle as the report, not the full plotly.js of the plotly package.
    assert shown[0]["text/html"] == f"<script>{plotly_js()}</script>"
    assert 'id="first"' in shown[1]["text/html"] and 'id="second"' in shown[2]["text/html"]
    for d in shown[1:]:
        assert "cdn.plot.ly" not in d["text/html"] and "mathjax" not in d["text/html"].lower()
        assert d["application/vnd.plotly.v1+json"]["data"][0]["type"] == "bar"
