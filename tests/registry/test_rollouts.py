"""Rollouts in the registry: stages, sticky cohorts, canary checks on planted traffic, freeze and route back."""

from __future__ import annotations

import pytest

from promptlab.errors import RegistryError
from promptlab.registry import ForcedPromotionWarning, Registry, RequestContext
from promptlab.rollout import RolloutPlan
from tests._support.registry import ManualClock, plant_traffic, rollback_criteria

PLAN = RolloutPlan.model_validate(
    {
        "stages": [
            {"name": "internal", "internal": True, "min_duration": "30m", "min_requests": 100},
            {"name": "low-risk", "segments": {"intent": ["password_reset", "order_status"]}, "min_requests": 100},
            {"name": "half", "percent": 50},
            {"name": "everyone"},
        ]
    }
)


@pytest.fixture
def rolling(registry: Registry) -> Registry:
    """v1 on staging and a rollout of v2 at its internal stage."""
    registry.label("triage", "v1", label="staging", actor="alice", reason="baseline")
    registry.start_rollout(
        "triage", "v2", PLAN, criteria=rollback_criteria(), label="staging", actor="alice", reason="try v2"
    )
    return registry


def test_internal_stage_serves_the_candidate_to_internal_users_only(rolling: Registry) -> None:
    inside = rolling.resolve("triage", RequestContext(user_id="u1", internal=True), label="staging")
    outside = rolling.resolve("triage", RequestContext(user_id="u1"), label="staging")
    assert (inside.version, inside.cohort) == ("v2", "candidate")
    assert (outside.version, outside.cohort) == ("v1", "control")
    assert inside.rollout_id == outside.rollout_id is not None


def test_advance_waits_for_duration_and_requests_unless_forced(rolling: Registry, clock: ManualClock) -> None:
    with pytest.raises(RegistryError, match=r"may not advance yet: ran 0s of 30m, 0 of 100 candidate requests"):
        rolling.advance_rollout("triage", label="staging", actor="alice", reason="go")
    ro = rolling.advance_rollout("triage", label="staging", actor="alice", reason="go", force=True)
    assert ro.current_stage.name == "low-risk"
    entry = rolling.history("triage")[-1]
    assert entry.action == "rollout_advance" and entry.forced
    assert entry.evidence is not None and entry.evidence["unmet"] == ["ran 0s of 30m", "0 of 100 candidate requests"]


def test_stages_are_cumulative_and_widening_keeps_everyone_already_in(rolling: Registry) -> None:
    rolling.advance_rollout("triage", label="staging", actor="a", reason="r", force=True)
    staff = RequestContext(user_id="u1", internal=True, intent="legal")
    low_risk = RequestContext(user_id="u2", intent="password_reset")
    assert rolling.resolve("triage", staff, label="staging").version == "v2"
    assert rolling.resolve("triage", low_risk, label="staging").version == "v2"
    users = [RequestContext(user_id=f"u{i}", intent="refund") for i in range(2000)]
    before = {c.user_id for c in users if rolling.resolve("triage", c, label="staging").version == "v2"}
    assert before == set()
    rolling.advance_rollout("triage", label="staging", actor="a", reason="r", force=True)
    after = {c.user_id for c in users if rolling.resolve("triage", c, label="staging").version == "v2"}
    assert 850 < len(after) < 1150  # 50% by sticky bucket
    assert rolling.resolve("triage", staff, label="staging").version == "v2"


def test_last_stage_completes_the_rollout_and_moves_the_label(rolling: Registry) -> None:
    for _ in range(3):
        ro = rolling.advance_rollout("triage", label="staging", actor="a", reason="r", force=True)
    assert ro.status == "completed"
    assert rolling.labels("triage")["staging"] == "v2"
    res = rolling.resolve("triage", RequestContext(user_id="u1"), label="staging")
    assert (res.version, res.cohort) == ("v2", None)
    assert rolling.history("triage")[-1].action == "rollout_complete"


def test_rollback_during_a_rollout_aborts_it_and_routes_everyone_back(rolling: Registry) -> None:
    convo = RequestContext(user_id="u1", internal=True, conversation_id="c1")
    assert rolling.resolve("triage", convo, label="staging").version == "v2"
    entry = rolling.rollback("triage", label="staging", actor="oncall", reason="complaints")
    assert entry.previous is not None and entry.previous["rollout"]["candidate"] == "v2"
    assert rolling.resolve("triage", convo, label="staging").version == "v1"
    ro = rolling.rollout("triage", label="staging")
    assert ro is not None and ro.status == "aborted"


def test_starting_a_second_rollout_or_moving_the_label_during_one_is_refused(rolling: Registry) -> None:
    with pytest.raises(RegistryError, match="is already active"):
        rolling.start_rollout(
            "triage", "v3", PLAN, criteria=rollback_criteria(), label="staging", actor="a", reason="r"
        )
    with pytest.raises(RegistryError, match="finish or abort it"):
        rolling.label("triage", "v3", label="staging", actor="a", reason="r")


@pytest.fixture
def production(registry: Registry) -> Registry:
    """v1 on production (forced: evidence is covered elsewhere) and v2 rolling out at the internal stage."""
    with pytest.warns(ForcedPromotionWarning):
        registry.label("triage", "v1", actor="alice", reason="baseline", force=True)
    return registry


def _start(reg: Registry, **criteria: object) -> None:
    with pytest.warns(ForcedPromotionWarning):
        reg.start_rollout(
            "triage", "v2", PLAN, criteria=rollback_criteria(**criteria), actor="alice", reason="canary", force=True
        )


def test_canary_breach_freezes_routes_back_and_records_the_evidence(production: Registry, clock: ManualClock) -> None:
    _start(production)
    plant_traffic(production, n=1500, rates={"v1": 0.05, "v2": 0.20}, at=clock.advance(60))
    result = production.check_canary("triage")
    assert result.action == "froze" and result.exit_code == 1
    assert result.report is not None and result.report.verdict == "breach"
    assert [m.metric for m in result.report.breaches] == ["escalation_rate"]
    assert result.rollout.status == "frozen"
    staff = production.resolve("triage", RequestContext(user_id="u1", internal=True))
    assert (staff.version, staff.cohort) == ("v1", "control") and "frozen" in staff.reason
    entry = production.history("triage")[-1]
    assert entry.action == "rollout_freeze" and entry.actor == "canary" and "escalation_rate" in entry.reason
    assert entry.evidence is not None
    evidence = entry.evidence["canary"]
    assert evidence["verdict"] == "breach" and evidence["candidate"]["version"] == "v2"
    assert evidence["metrics"][0]["p_value"] < 0.05
    # Later checks keep reporting the freeze for cron/CI.
    assert production.check_canary("triage").exit_code == 1


def test_healthy_canary_advances_once_duration_and_sample_are_met(production: Registry, clock: ManualClock) -> None:
    _start(production)
    plant_traffic(production, n=1500, rates={"v1": 0.05, "v2": 0.05}, at=clock.advance(60))
    early = production.check_canary("triage")
    assert early.action == "held" and early.exit_code == 0 and "holding stage 'internal'" in early.note
    clock.advance(30 * 60)
    done = production.check_canary("triage")
    assert done.action == "advanced" and done.exit_code == 0
    assert done.rollout.current_stage.name == "low-risk"
    entry = production.history("triage")[-1]
    assert entry.action == "rollout_advance" and entry.evidence is not None
    assert entry.evidence["canary"]["verdict"] == "healthy"


def test_thin_cohort_is_inconclusive_and_holds(production: Registry, clock: ManualClock) -> None:
    # A thin cohort without overwhelming evidence holds (an overwhelming one freezes early: tests/rollout).
    _start(production)
    plant_traffic(production, n=150, rates={"v1": 0.05, "v2": 0.08}, at=clock.advance(60))
    clock.advance(3600)
    result = production.check_canary("triage")
    assert result.report is not None and result.report.verdict == "inconclusive"
    assert result.action == "held" and result.exit_code == 3
    ro = production.rollout("triage")
    assert ro is not None and (ro.status, ro.stage) == ("active", 0)


def test_late_outcomes_count_towards_the_canary(production: Registry, clock: ManualClock) -> None:
    _start(production)
    late = plant_traffic(production, n=1500, rates={"v1": 0.05, "v2": 0.20}, at=clock.advance(60), late=True)
    assert late  # escalations arrive an hour after their responses
    result = production.check_canary("triage", apply=False)
    assert result.report is not None and result.report.verdict == "breach"
    assert result.report.candidate.events["escalation"] + result.report.control.events["escalation"] == len(late)
    assert result.action == "held" and "dry run" in result.note


def test_served_requests_stay_counted_against_the_version_actually_served(production: Registry) -> None:
    _start(production)
    res = production.resolve("triage", RequestContext(user_id="u1", internal=True))
    production.record_outcome("req-1", resolution=res, latency_ms=900)
    production.record_outcome("req-1", escalation=True)
    with pytest.raises(RegistryError, match=r"recorded as served by triage@v2"):
        production.record_outcome("req-1", name="triage", version="v1")
    frame = production.outcome_frame("triage")
    row = frame.set_index("request_id").loc["req-1"]
    assert row["version"] == "v2" and bool(row["escalation"]) and row["latency_ms"] == 900


def test_policy_without_route_back_pauses_in_place(production: Registry, clock: ManualClock) -> None:
    _start(production, on_breach={"freeze": True, "route_back": False})
    plant_traffic(production, n=1500, rates={"v1": 0.05, "v2": 0.20}, at=clock.advance(60))
    result = production.check_canary("triage")
    assert result.rollout.status == "paused" and result.exit_code == 1
    assert production.resolve("triage", RequestContext(user_id="u1", internal=True)).version == "v2"
    with pytest.raises(RegistryError, match="is frozen"):
        production.advance_rollout("triage", actor="a", reason="r", force=True)
    resumed = production.resume_rollout("triage", actor="lead", reason="false alarm: bad tracking")
    assert resumed.status == "active" and resumed.stage_started_at == clock.now


def test_advancing_beyond_internal_users_needs_evidence(registry: Registry, clock: ManualClock) -> None:
    with pytest.warns(ForcedPromotionWarning):
        registry.label("triage", "v1", actor="alice", reason="baseline", force=True)
    registry.start_rollout("triage", "v2", PLAN, criteria=rollback_criteria(), actor="alice", reason="internal only")
    plant_traffic(registry, n=1500, rates={"v1": 0.05, "v2": 0.05}, at=clock.advance(60))
    clock.advance(3600)
    result = registry.check_canary("triage")
    assert result.action == "held" and "goes beyond internal users" in result.note
    with pytest.raises(RegistryError, match="needs a verified evidence bundle"):
        registry.advance_rollout("triage", actor="alice", reason="widen")
