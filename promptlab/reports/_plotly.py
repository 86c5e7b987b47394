"""The partial plotly.js bundle that the report and the exported notebook embed, so they work offline and stay small.

The charts use only bar and scatter traces, so the full plotly.js (4.8 MB) is replaced by plotly's own "basic"
distribution (bar, scatter, pie; 1.2 MB), vendored from npm in `_vendor/` with a manifest recording its package,
version, licence and sha256. `.ci/vendor_plotly.py` fetches it again with npm and checks the digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["MANIFEST", "check_trace_types", "manifest", "plotly_js"]

MANIFEST = "plotly-basic.json"


@cache
def manifest() -> dict[str, Any]:
    """The vendored bundle's manifest: package, version, license, file, source, sha256, trace_types."""
    text = resources.files("promptlab.reports").joinpath("_vendor", MANIFEST).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def plotly_js() -> str:
    """The vendored plotly.js source, checked against the manifest's sha256 (a damaged install fails loudly)."""
    meta = manifest()
    raw = resources.files("promptlab.reports").joinpath("_vendor", meta["file"]).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != meta["sha256"]:
        raise RuntimeError(
            f"promptlab/reports/_vendor/{meta['file']}: sha256 {digest} does not match the manifest's {meta['sha256']}"
        )
    return raw.decode("utf-8")


def check_trace_types(figures: Iterable[Any]) -> None:
    """Refuse a chart whose trace type the partial bundle cannot draw (it would be blank in the report)."""
    supported = set(manifest()["trace_types"])
    for fig in figures:
        data = fig.to_dict()["data"] if hasattr(fig, "to_dict") else dict(fig).get("data", [])
        for trace in data:
            kind = trace.get("type", "scatter")
            if kind not in supported:
                raise ValueError(
                    f"chart trace type {kind!r} is not in the vendored plotly.js bundle "
                    f"({', '.join(sorted(supported))}); use one of those or vendor a larger bundle"
                )
