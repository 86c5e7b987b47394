"""The aggregations behind the harvest notebook's charts: failures per day and detector, the day's failure rate,
and failure rates by intent and served version (plain DataFrames; the notebook only draws them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["failure_rates_by_segment", "failures_by_day", "traffic_frame"]


def traffic_frame(timeline: Sequence[Sequence[Any]]) -> Any:
    """`HarvestReport.timeline` ((day, version, intent, records) tuples) as a DataFrame with those columns."""
    import pandas as pd

    return pd.DataFrame(list(timeline), columns=["day", "version", "intent", "records"])


def failures_by_day(failures: Any, traffic: Any) -> tuple[Any, Any]:
    """Failures per UTC day and detector, and each day's failure rate (failures / harvested responses).

    Args:
        failures: `HarvestReport.failures_frame()` (non-empty), with a tz-aware `timestamp` and `detector`.
        traffic: `traffic_frame(report.timeline)`.

    Returns:
        (`day`, `detector`, `failures`) rows, and a Series of rates indexed by day (0 for a day without traffic).
    """
    day = failures["timestamp"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").rename("day")
    per_day = failures.groupby([day, failures["detector"]]).size().rename("failures").reset_index()
    requests = traffic.groupby("day")["records"].sum()
    rate = (failures.groupby(day).size() / requests).fillna(0)
    return per_day, rate


def failure_rates_by_segment(failures: Any, traffic: Any, *, column: str = "segment.intent") -> Any:
    """Failures, harvested responses and failure rate per intent and served version.

    Args:
        failures: `HarvestReport.failures_frame()`, with `column` and `version`.
        traffic: `traffic_frame(report.timeline)` (its `intent` is matched against `column`).
        column: The failures' intent column.

    Returns:
        Rows with `column`, `version`, `failures`, `intent`, `records` and `failure_rate`.
    """
    counts = failures.groupby([column, "version"]).size().rename("failures").reset_index()
    volume = traffic.groupby(["intent", "version"])["records"].sum().reset_index()
    rates = counts.merge(volume, left_on=[column, "version"], right_on=["intent", "version"])
    rates["failure_rate"] = rates["failures"] / rates["records"]
    return rates
