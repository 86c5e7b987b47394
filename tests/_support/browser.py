"""Open a local HTML page in headless Chromium with the network cut off, and report what rendered.

Uses Playwright's Python package with Debian's `/usr/bin/chromium` (Playwright cannot download browsers here).
Every request that is not for a local file is aborted and recorded, so a test can fail when a page tries to reach
the network; console errors and uncaught page errors are recorded too; each plotly chart div is checked for the
SVG plotly draws once it has rendered; a full-page screenshot goes to `test-artifacts/`.

    from tests._support.browser import open_offline, require_chromium

    def test_report_renders(tmp_path):
        require_chromium()
        page = open_offline(tmp_path / "report.html", screenshot="report.png")
        page.assert_clean()
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Where screenshots go (gitignored); CI can keep the folder as a build artifact."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

# Counts chart divs and those holding plotly's drawn SVG.
_CHART_STATE_JS = """(selector) => {
  const divs = Array.from(document.querySelectorAll(selector));
  return divs.map(d => ({id: d.id, rendered: d.querySelector('svg.main-svg') !== null}));
}"""


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None when the machine has none."""
    for candidate in (os.environ.get("PROMPTLAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_chromium() -> str:
    """Return the Chromium binary, or skip the test with the reason when it is missing."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "no Chromium binary (/usr/bin/chromium); install Debian's chromium package (see .ci/system-deps.sh)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright)")
    return path


@dataclass(kw_only=True)
class PageCheck:
    """What happened when a page was opened offline."""

    url: str
    title: str = ""
    network_requests: list[str] = field(default_factory=list)
    """Non-local requests the page attempted (all were aborted)."""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    """Uncaught JavaScript exceptions."""
    charts: dict[str, bool] = field(default_factory=dict)
    """Chart div id -> whether plotly drew its SVG."""
    screenshot: Path | None = None
    text: str = ""
    """The page's visible text."""

    @property
    def unrendered_charts(self) -> list[str]:
        """Ids of chart divs without a drawn SVG."""
        return [cid for cid, ok in self.charts.items() if not ok]

    def assert_clean(self, *, min_charts: int = 1) -> None:
        """Fail unless the page stayed offline, logged no errors and drew every chart (at least `min_charts`)."""
        problems = []
        if self.network_requests:
            problems.append(f"attempted network requests: {self.network_requests}")
        if self.console_errors:
            problems.append(f"console errors: {self.console_errors}")
        if self.page_errors:
            problems.append(f"uncaught page errors: {self.page_errors}")
        if len(self.charts) < min_charts:
            problems.append(f"expected at least {min_charts} charts, found {len(self.charts)}")
        if self.unrendered_charts:
            problems.append(f"charts without a drawn SVG: {self.unrendered_charts}")
        assert not problems, f"{self.url}: " + "; ".join(problems) + f" (screenshot: {self.screenshot})"


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (Playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_offline(
    path: str | Path,
    *,
    screenshot: str | None = None,
    browser: Any = None,
    chart_selector: str = ".plotly-graph-div",
    timeout_s: float = 20.0,
) -> PageCheck:
    """Open a local HTML file with every non-file request aborted; wait for charts to draw; take a screenshot.

    Args:
        path: The HTML file.
        screenshot: File name under `test-artifacts/` (default: the page's file name with `.png`).
        browser: A browser from `chromium()` to reuse; one is launched when omitted.
        chart_selector: CSS selector of the chart containers.
        timeout_s: How long charts may take to draw before they count as not rendered.
    """
    if browser is None:
        with chromium() as own:
            return open_offline(
                path, screenshot=screenshot, browser=own, chart_selector=chart_selector, timeout_s=timeout_s
            )
    file = Path(path).resolve()
    check = PageCheck(url=file.as_uri())
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    try:

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(_LOCAL_SCHEMES):
                route.continue_()
            else:
                check.network_requests.append(url)
                route.abort("internetdisconnected")

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", lambda msg: check.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: check.page_errors.append(str(exc)))
        page.goto(check.url, wait_until="load")
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        # A timeout is not an error here: charts still missing their SVG are reported as unrendered.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                """(selector) => Array.from(document.querySelectorAll(selector))
                     .every(d => d.querySelector('svg.main-svg') !== null)""",
                arg=chart_selector,
                timeout=timeout_s * 1000,
            )
        check.charts = {
            (item["id"] or f"#{i}"): bool(item["rendered"])
            for i, item in enumerate(page.evaluate(_CHART_STATE_JS, chart_selector))
        }
        check.title = page.title()
        check.text = page.inner_text("body")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / (screenshot or file.with_suffix(".png").name)
        page.screenshot(path=str(shot), full_page=True)
        check.screenshot = shot
    finally:
        context.close()
    return check
