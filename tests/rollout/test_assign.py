"""Sticky, deterministic assignment: stable buckets, monotonic widening, segment filters."""

from __future__ import annotations

from collections import Counter

import pytest

from promptlab.rollout import (
    BUCKETS,
    RequestContext,
    RolloutPlan,
    Stage,
    StageRule,
    bucket,
    compile_stages,
    match_stage,
)


def test_bucket_is_stable_across_processes_and_releases() -> None:
    # Pinned values: a change to the hash would silently reshuffle every running rollout.
    assert bucket("triage:v2", "u1") == bucket("triage:v2", "u1")
    assert [bucket("triage:v2", f"u{i}") for i in range(3)] == [
        bucket("triage:v2", "u0"),
        bucket("triage:v2", "u1"),
        bucket("triage:v2", "u2"),
    ]
    assert (bucket("s", "u1"), bucket("s", "u2")) == (_expected("s", "u1"), _expected("s", "u2"))


def _expected(salt: str, key: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest(), "big") % 10_000


def test_buckets_are_spread_evenly() -> None:
    counts = Counter(bucket("salt", f"user-{i}") // 1000 for i in range(50_000))
    assert len(counts) == 10
    assert all(4500 < n < 5500 for n in counts.values()), counts


def test_different_salts_pick_different_cohorts() -> None:
    a = {i for i in range(5000) if bucket("triage:v2", str(i)) < 1000}
    b = {i for i in range(5000) if bucket("triage:v3", str(i)) < 1000}
    assert 0.05 < len(a & b) / len(a) < 0.2  # about 10% overlap, as for independent draws


@pytest.mark.parametrize(("low", "high"), [(1, 5), (5, 10), (10, 50), (50, 100), (0.01, 99.99)])
def test_widening_a_percentage_keeps_everyone_already_in(low: float, high: float) -> None:
    users = [RequestContext(user_id=f"u{i}") for i in range(20_000)]
    narrow = (StageRule.from_stage(Stage(name="a", percent=low)),)
    wide = (StageRule.from_stage(Stage(name="a", percent=high)),)
    before = {c.user_id for c in users if match_stage(narrow, c, salt="s", cohort_key="user_id")}
    after = {c.user_id for c in users if match_stage(wide, c, salt="s", cohort_key="user_id")}
    assert before <= after
    assert abs(len(after) / len(users) - high / 100) < 0.02


def test_later_stages_are_cumulative() -> None:
    plan = RolloutPlan.model_validate(
        {
            "stages": [
                {"name": "internal", "internal": True},
                {"name": "low-risk", "segments": {"intent": ["password_reset"]}},
                {"name": "de-tenant", "segments": {"geo": ["de"], "plan": ["enterprise"]}},
                {"name": "everyone"},
            ]
        }
    )
    rules = compile_stages(plan.stages[:3])
    hit = lambda **kw: match_stage(rules, RequestContext(**kw), salt="s", cohort_key="user_id")  # noqa: E731
    assert hit(internal=True, intent="legal").name == "internal"  # type: ignore[union-attr]
    assert hit(intent="password_reset").name == "low-risk"  # type: ignore[union-attr]
    assert hit(geo="de", attributes={"plan": "enterprise"}).name == "de-tenant"  # type: ignore[union-attr]
    assert hit(geo="de", attributes={"plan": "free"}) is None
    assert hit(geo="fr", intent="refund") is None


def test_a_request_without_its_cohort_key_only_enters_full_stages() -> None:
    rules = (StageRule.from_stage(Stage(name="half", percent=50)),)
    assert match_stage(rules, RequestContext(), salt="s", cohort_key="user_id") is None
    full = (StageRule.from_stage(Stage(name="all-de", segments={"geo": ["de"]})),)
    assert match_stage(full, RequestContext(geo="de"), salt="s", cohort_key="user_id") is not None


def test_tenant_cohort_key_keeps_a_whole_tenant_together() -> None:
    rules = (StageRule.from_stage(Stage(name="t", percent=30)),)
    for tenant in (f"t{i}" for i in range(200)):
        got = {
            match_stage(
                rules, RequestContext(user_id=f"{tenant}-u{j}", tenant_id=tenant), salt="s", cohort_key="tenant_id"
            )
            is not None
            for j in range(20)
        }
        assert len(got) == 1
    assert BUCKETS == 10_000
