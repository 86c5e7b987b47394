"""State shared by the comparison's section builders (private)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptlab.comparison._model import ComparisonSettings
from promptlab.comparison._sides import Side
from promptlab.comparison._stats import bootstrap_mean_ci, paired_test, rng_for

__all__ = [
    "CaseMeta",
    "Context",
    "LatencyRows",
    "finite",
    "mean",
    "passed",
    "per_case",
    "rel_change",
    "row_cost",
]


def passed(row: Mapping[str, Any]) -> bool:
    """Whether a result row passed."""
    return row.get("outcome") == "pass"


def mean(values: Sequence[float]) -> float | None:
    """Mean, or None when empty."""
    return float(sum(values) / len(values)) if values else None


def finite(x: float | None) -> float | None:
    """None for missing or NaN values (JSON has no NaN)."""
    return None if x is None or math.isnan(x) else float(x)


@dataclass(kw_only=True)
class CaseMeta:
    """Segment and tags of one compared case."""

    case_id: str
    segment: dict[str, str]
    tags: list[str]


@dataclass(kw_only=True)
class Context:
    """Everything the section builders share."""

    base: Side
    cand: Side
    ids: list[str]
    meta: list[CaseMeta]
    settings: ComparisonSettings
    base_rate: np.ndarray[Any, Any]
    cand_rate: np.ndarray[Any, Any]
    binary: bool
    """True when every compared case ran exactly once under both versions (0/1 per case: McNemar applies)."""

    def rng(self, key: str) -> np.random.Generator:
        """The generator for one quantity."""
        return rng_for(self.settings.seed, key)

    def ci(self, differences: np.ndarray[Any, Any], key: str) -> tuple[float | None, float | None]:
        """Bootstrap interval of the mean difference."""
        interval = bootstrap_mean_ci(
            differences, rng=self.rng("ci:" + key), n_boot=self.settings.n_boot, alpha=self.settings.alpha
        )
        return (None, None) if interval is None else interval

    def test(self, b: np.ndarray[Any, Any], c: np.ndarray[Any, Any], *, binary: bool, key: str) -> tuple[float, str]:
        """The paired test for per-case values."""
        return paired_test(
            b, c, binary=binary, rng=self.rng("test:" + key), n_permutations=self.settings.n_permutations
        )


@dataclass(kw_only=True)
class LatencyRows:
    """Per version, the latencies used: values and the index of their case, and a description of the source."""

    values: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]
    source: dict[str, str]


def row_cost(side: Side, row: Mapping[str, Any]) -> float:
    """A row's cost; a cache hit recorded at zero cost is priced from its tokens (what serving it would cost)."""
    cost = float(row.get("cost_usd") or 0.0)
    if row.get("cached") and cost == 0.0:
        return side.run.artifact.model.cost(int(row.get("input_tokens") or 0), int(row.get("output_tokens") or 0))
    return cost


def per_case(side: Side, ids: Sequence[str], value: Any) -> np.ndarray[Any, Any]:
    """Per-case mean over repeats of `value(row)`, NaN where no row gives a value."""
    out = np.full(len(ids), np.nan)
    for i, cid in enumerate(ids):
        vals = [v for v in (value(r) for r in side.by_case[cid]) if v is not None]
        if vals:
            out[i] = float(np.mean(vals))
    return out


def rel_change(b: float | None, c: float | None) -> float | None:
    """Relative change in percent of `b`, or None when undefined."""
    if b is None or c is None or b == 0:
        return None
    return (c - b) / abs(b) * 100.0
