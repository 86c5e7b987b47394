"""Replaying recorded outcome events through a registry's canary checks, on the events' own clock, and the
per-window cohort view of the result (what the canary notebook shows).

Rollout sits below the registry, so the registry is reached through the small protocols here, never imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CanaryCheckRow", "ReplayClock", "cohort_chart", "cohort_windows", "replay_canary"]

COHORT_METRICS = ("escalation_rate", "fallback_rate", "manual_correction_rate", "p95_latency_s")
"""The per-window metrics of `cohort_windows`, in the order `cohort_chart` draws them."""


class _Event(Protocol):
    @property
    def at(self) -> float: ...


class _Stage(Protocol):
    @property
    def name(self) -> str: ...


class _Rollout(Protocol):
    @property
    def current_stage(self) -> _Stage: ...

    @property
    def status(self) -> str: ...


class _Report(Protocol):
    @property
    def verdict(self) -> str: ...


class _Check(Protocol):
    @property
    def rollout(self) -> _Rollout: ...

    @property
    def report(self) -> _Report | None: ...

    @property
    def action(self) -> str: ...

    @property
    def note(self) -> str: ...

    @property
    def exit_code(self) -> int: ...


class CanaryRegistry(Protocol):
    """What a replay needs from a registry (`promptlab.registry.Registry` has it)."""

    def record_outcomes(self, events: Any) -> int: ...

    def check_canary(self, name: str, *, actor: str) -> Any: ...


class ReplayClock:
    """A settable clock for a registry (`Registry(..., clock=ReplayClock(start))`): time moves only when told."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds`; return the new time."""
        self.now += seconds
        return self.now


@dataclass(frozen=True, kw_only=True)
class CanaryCheckRow:
    """One canary check of a replay: when it ran and what it found and did."""

    at: float
    """Epoch seconds on the replay clock."""
    stage: str
    status: str
    verdict: str
    """The analysis verdict, or `frozen` when the rollout was frozen before the check."""
    action: str
    exit_code: int
    note: str


def replay_canary(
    registry: CanaryRegistry,
    prompt: str,
    events: Iterable[_Event],
    *,
    clock: ReplayClock,
    every_s: float,
    actor: str = "cron",
) -> list[CanaryCheckRow]:
    """Feed `events` to the registry in time order, running the canary check every `every_s` seconds.

    Each step advances `clock` (the registry's clock) by `every_s`, records the events up to the new time and
    checks the canary, until every event is recorded.
    """
    if every_s <= 0:
        raise ValueError(f"every_s: expected a positive number of seconds, got {every_s}")
    ordered = sorted(events, key=lambda e: e.at)
    checks: list[CanaryCheckRow] = []
    i = 0
    while i < len(ordered):
        now = clock.advance(every_s)
        j = i
        while j < len(ordered) and ordered[j].at <= now:
            j += 1
        registry.record_outcomes(ordered[i:j])
        i = j
        result: _Check = registry.check_canary(prompt, actor=actor)
        checks.append(
            CanaryCheckRow(
                at=now,
                stage=result.rollout.current_stage.name,
                status=result.rollout.status,
                verdict=result.report.verdict if result.report else "frozen",
                action=result.action,
                exit_code=result.exit_code,
                note=result.note,
            )
        )
    return checks


def cohort_windows(frame: Any, *, baseline: str, candidate: str, window: str) -> Any:
    """Per-window, per-cohort request counts and outcome rates from `Registry.outcome_frame`.

    Args:
        frame: One row per served request (`version`, `at`, `request_id`, `escalation`, `fallback`,
            `manual_correction`, `latency_ms`).
        baseline: The control version.
        candidate: The version rolled out.
        window: A pandas frequency, e.g. `10min`.

    Returns:
        A DataFrame with `window`, `cohort` (`candidate <v>` / `control <v>`), `requests` and `COHORT_METRICS`.
    """
    frame = frame.copy()
    frame["cohort"] = frame["version"].map({candidate: f"candidate {candidate}", baseline: f"control {baseline}"})
    frame["window"] = frame["at"].dt.floor(window)
    return (
        frame.groupby(["window", "cohort"])
        .agg(
            requests=("request_id", "size"),
            escalation_rate=("escalation", "mean"),
            fallback_rate=("fallback", "mean"),
            manual_correction_rate=("manual_correction", "mean"),
            p95_latency_s=("latency_ms", lambda s: s.quantile(0.95) / 1000),
        )
        .reset_index()
    )


def cohort_chart(
    per_window: Any, *, baseline: str, candidate: str, changes: Sequence[tuple[Any, str]] = (), title: str = ""
) -> Any:
    """One panel per metric of `cohort_windows`, candidate against control, with a dashed line at each change.

    Args:
        per_window: What `cohort_windows` returns.
        baseline: The control version.
        candidate: The version rolled out.
        changes: (time, label) of rollout events to mark, e.g. `froze` or `advanced`.
        title: The figure's title.
    """
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = list(COHORT_METRICS)
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels, vertical_spacing=0.06)
    colors: Mapping[str, str] = {f"candidate {candidate}": "#d62728", f"control {baseline}": "#1f77b4"}
    for row, metric in enumerate(panels, 1):
        for cohort, part in per_window.groupby("cohort"):
            fig.add_trace(
                go.Scatter(
                    x=part["window"],
                    y=part[metric],
                    mode="lines+markers",
                    name=cohort,
                    line={"color": colors.get(cohort)},
                    legendgroup=cohort,
                    showlegend=row == 1,
                ),
                row=row,
                col=1,
            )
    for at, label in changes:
        fig.add_vline(x=pd.Timestamp(at).timestamp() * 1000, line_dash="dash", line_color="grey")
        fig.add_annotation(x=pd.Timestamp(at), y=1.02, yref="paper", text=label, showarrow=False)
    fig.update_layout(height=900, title=title, margin={"t": 90})
    return fig
