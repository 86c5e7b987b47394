"""The HTML report opened in headless Chromium with the network cut off."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlab.reports import write_html
from tests._support.browser import open_offline, require_chromium

pytestmark = pytest.mark.browser


def test_report_renders_every_chart_offline_without_errors(reviewed_comparison: Path, tmp_path: Path) -> None:
    require_chromium()
    path = write_html(reviewed_comparison, tmp_path / "report.html")
    page = open_offline(path, screenshot="report.png")
    page.assert_clean(min_charts=4)
    assert set(page.charts) == {"chart-segments", "chart-hard-negatives", "chart-latency-cost", "chart-behaviour"}
    assert page.title == "triage@v2 vs triage@v1"
    assert "Release decision" in page.text and "block" in page.text
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000


def test_offline_check_catches_a_page_that_needs_the_network(tmp_path: Path) -> None:
    """The guard itself: a chart loading plotly.js from a CDN must fail the check."""
    require_chromium()
    import plotly.graph_objects as go
    import plotly.io as pio

    page_file = tmp_path / "cdn.html"
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    page_file.write_text(pio.to_html(fig, include_plotlyjs="cdn", full_html=True, div_id="cdn-chart"))
    page = open_offline(page_file, screenshot="cdn-guard.png", timeout_s=0.5)
    assert page.network_requests and page.network_requests[0].startswith("https://cdn.plot.ly/")
    assert page.unrendered_charts == ["cdn-chart"]
    with pytest.raises(AssertionError, match="attempted network requests"):
        page.assert_clean()


def test_hostile_segment_label_is_shown_as_text_not_markup(reviewed_comparison: Path, tmp_path: Path) -> None:
    require_chromium()
    from promptlab.comparison import load_comparison
    from promptlab.reports import render_html
    from tests._support.browser import chromium

    cmp = load_comparison(reviewed_comparison)
    label = "</script><b>bold</b> & <a href='javascript:alert(1)'>x</a>"
    cmp.segments[0].label = label
    path = tmp_path / "hostile.html"
    path.write_text(render_html(cmp), encoding="utf-8")
    with chromium() as browser:
        page = open_offline(path, screenshot="report-hostile-label.png", browser=browser)
        page.assert_clean(min_charts=4)
        view = browser.new_page()
        view.goto(path.as_uri())
        view.wait_for_selector("#chart-segments svg.main-svg")
        ticks = view.eval_on_selector_all("#chart-segments .ytick text", "els => els.map(e => e.textContent)")
        links = view.eval_on_selector_all("#chart-segments a", "els => els.length")
    assert f"{label} (n={cmp.segments[0].n})" in ticks
    assert links == 0
