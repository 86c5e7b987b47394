"""Replaying recorded outcome events through canary checks, and the per-window cohort view (no kernel needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptlab.artifacts import load_artifact
from promptlab.gate import load_policy
from promptlab.registry import Registry, load_outcome_events
from promptlab.rollout import ReplayClock, cohort_chart, cohort_windows, load_plan, replay_canary

EXAMPLE = Path(__file__).parents[2] / "examples" / "support-triage" / "rollout"


@dataclass
class _Event:
    at: float


@dataclass
class _Stage:
    name: str = "internal"


@dataclass
class _Rollout:
    current_stage: _Stage = field(default_factory=_Stage)
    status: str = "active"


@dataclass
class _Check:
    rollout: _Rollout = field(default_factory=_Rollout)
    report: Any = None
    action: str = "held"
    note: str = ""
    exit_code: int = 0


@dataclass
class _Recorder:
    """A registry that only remembers which events each check saw, and when."""

    clock: ReplayClock
    batches: list[tuple[float, list[float]]] = field(default_factory=list)

    def record_outcomes(self, events: Any) -> int:
        self.batches.append((self.clock(), [e.at for e in events]))
        return len(events)

    def check_canary(self, name: str, *, actor: str) -> Any:
        return _Check()


def test_each_check_records_the_events_up_to_the_clock_in_time_order() -> None:
    clock = ReplayClock(100)
    registry = _Recorder(clock)
    checks = replay_canary(registry, "p", [_Event(at) for at in (125, 101, 110, 250)], clock=clock, every_s=50)
    assert registry.batches == [(150.0, [101, 110, 125]), (200.0, []), (250.0, [250])]
    assert [c.at for c in checks] == [150.0, 200.0, 250.0]
    assert {(c.verdict, c.stage) for c in checks} == {("frozen", "internal")}  # no report: the rollout was frozen


def test_a_replay_needs_a_positive_step() -> None:
    clock = ReplayClock(0)
    with pytest.raises(ValueError, match="every_s: expected a positive number of seconds, got 0"):
        replay_canary(_Recorder(clock), "p", [_Event(1)], clock=clock, every_s=0)


def test_the_example_canary_advances_then_freezes_on_a_breach(tmp_path: Path) -> None:
    plan = load_plan(EXAMPLE / "plan.yaml")
    criteria = load_policy(plan.policy_path(EXAMPLE / "plan.yaml")).rollback
    events = load_outcome_events(EXAMPLE / "canary.jsonl")
    clock = ReplayClock((min(e.at for e in events) // 60) * 60)
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}", watch=False, clock=clock, snapshot_path=tmp_path / "s.json")
    try:
        for version in ("v1", "v2"):
            reg.publish(load_artifact(EXAMPLE.parent / f"{version}.yaml"), actor="test")
        with pytest.warns(UserWarning, match="FORCED"):  # a replay labels and rolls out without a bundle
            reg.label("support-triage", "v1", actor="test", reason="replay", force=True)
            reg.start_rollout("support-triage", "v2", plan, criteria=criteria, actor="test", reason="r", force=True)
        checks = replay_canary(reg, "support-triage", events, clock=clock, every_s=600)
        actions = [c.action for c in checks]
        assert actions.index("advanced") < actions.index("froze")
        froze = checks[actions.index("froze")]
        assert (froze.verdict, froze.status, froze.exit_code) == ("breach", "frozen", 1)
        assert checks[-1].verdict == "frozen"

        frame = reg.outcome_frame("support-triage")
        per_window = cohort_windows(frame, baseline="v1", candidate="v2", window="10min")
        assert per_window["requests"].sum() == len(frame)
        assert set(per_window["cohort"]) == {"candidate v2", "control v1"}
        assert per_window["escalation_rate"].between(0, 1).all()
        changes = [(e.at, e.action) for e in reg.history("support-triage") if e.action.startswith("rollout_")]
        fig = cohort_chart(per_window, baseline="v1", candidate="v2", changes=changes, title="t")
        assert len(fig.data) == 4 * 2  # four panels, two cohorts each
        assert [a for _, a in changes] == ["rollout_start", "rollout_advance", "rollout_freeze"]
        assert len(fig.layout.shapes) == 4 * len(changes)  # a dashed line per change in every panel
    finally:
        reg.close()
