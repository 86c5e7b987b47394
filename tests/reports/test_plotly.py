"""The vendored partial plotly.js bundle: intact, recorded, and able to draw every chart the report makes."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

from promptlab.comparison import load_comparison
from promptlab.reports._charts import charts
from promptlab.reports._plotly import check_trace_types, manifest, plotly_js


def test_manifest_records_package_version_licence_and_digest_of_the_vendored_file() -> None:
    meta = manifest()
    assert meta["package"] == "plotly.js-basic-dist-min" and meta["license"] == "MIT"
    assert "Permission is hereby granted" in meta["license_text"]
    raw = resources.files("promptlab.reports").joinpath("_vendor", meta["file"]).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == meta["sha256"]
    assert f"v{meta['version']}" in plotly_js()[:200]  # the bundle's own banner names its version


def test_vendored_bundle_has_the_same_major_version_as_the_plotly_package() -> None:
    """Figures are serialised by the Python package; a different plotly.js major may not draw them."""
    from plotly.offline import get_plotlyjs_version

    assert manifest()["version"].split(".")[0] == get_plotlyjs_version().split(".")[0]


def test_vendored_bundle_is_a_quarter_of_the_full_plotly_js() -> None:
    from plotly.offline import get_plotlyjs

    assert len(plotly_js()) * 4 < len(get_plotlyjs())


def test_every_report_chart_uses_a_trace_type_the_bundle_draws(reviewed_comparison: Path) -> None:
    figures = charts(load_comparison(reviewed_comparison))
    assert len(figures) == 4
    check_trace_types(figures.values())
    kinds = {t["type"] for fig in figures.values() for t in fig.to_dict()["data"]}
    assert kinds <= set(manifest()["trace_types"])


def test_a_trace_type_outside_the_bundle_is_refused() -> None:
    import plotly.graph_objects as go

    with pytest.raises(ValueError, match=r"'heatmap' is not in the vendored plotly\.js bundle"):
        check_trace_types([go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))])
