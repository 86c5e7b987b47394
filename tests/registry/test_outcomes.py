"""Outcome events: receipt-time windows under clock skew, missing data, hostile values, and the schema upgrade."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlab.errors import InputError, PromptlabError
from promptlab.registry import OutcomeEvent, Registry, RequestContext, load_outcome_events
from promptlab.rollout import RolloutPlan
from tests._support.registry import ManualClock, make_artifact, rollback_criteria

PLAN = RolloutPlan.model_validate(
    {"stages": [{"name": "internal", "internal": True, "min_requests": 50}, {"name": "everyone"}]}
)
ERRORS = {"metrics": {"error_rate": {"max_abs_increase": 0.01}}, "min_sample_per_cohort": 200}


def _start(reg: Registry) -> None:
    reg.label("triage", "v1", label="staging", actor="alice", reason="baseline")
    reg.start_rollout(
        "triage", "v2", PLAN, criteria=rollback_criteria(**ERRORS), label="staging", actor="alice", reason="try v2"
    )


def _serve(reg: Registry, n: int, *, error_rate: dict[str, float], reported: dict[str, float], seed: int) -> None:
    """Serve `n` requests (40% internal users, so both cohorts fill) and record them with the given reported times."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        ctx = RequestContext(user_id=f"u{rng.randrange(5000)}", internal=rng.random() < 0.4)
        res = reg.resolve("triage", ctx, label="staging")
        events.append(
            OutcomeEvent.served(
                res,
                f"r{seed}-{i}",
                context=ctx,
                error=rng.random() < error_rate[res.version],
                at=reported[res.version],
            )
        )
    reg.record_outcomes(events)


def test_a_host_ten_minutes_behind_with_30_percent_errors_still_freezes(registry: Registry, clock: ManualClock) -> None:
    _start(registry)
    now = clock.advance(60)
    # The candidate's host reports times 10 minutes behind: before the stage even started by its own account.
    _serve(registry, 1200, error_rate={"v1": 0.01, "v2": 0.30}, reported={"v1": now, "v2": now - 600}, seed=1)
    clock.advance(3600)
    result = registry.check_canary("triage", label="staging")
    assert result.action == "froze" and result.exit_code == 1
    assert result.report is not None and [m.metric for m in result.report.breaches] == ["error_rate"]
    skew = result.report.skew
    assert skew is not None and skew.flagged and skew.behind == result.report.candidate.requests
    assert skew.ahead == 0 and math.isclose(skew.max_abs_s, 600)
    assert "windows use the receipt time" in result.report.to_dict()["clock_skew"]["note"]


def test_a_stage_without_candidate_data_holds_as_inconclusive_and_never_advances(
    registry: Registry, clock: ManualClock
) -> None:
    _start(registry)
    now = clock.advance(60)
    rng = random.Random(3)
    events = []
    for i in range(400):  # external users only: every request is control traffic
        res = registry.resolve("triage", RequestContext(user_id=f"u{rng.randrange(5000)}"), label="staging")
        events.append(OutcomeEvent.served(res, f"c{i}", at=now))
    registry.record_outcomes(events)
    clock.advance(3600)
    result = registry.check_canary("triage", label="staging")
    assert result.report is not None and result.report.verdict == "inconclusive" and result.exit_code == 3
    assert "no data from the candidate cohort" in result.report.summary()
    ro = registry.rollout("triage", label="staging")
    assert ro is not None and (ro.status, ro.stage) == ("active", 0)


def test_cohorts_are_grouped_by_the_plans_cohort_key(registry: Registry, clock: ManualClock) -> None:
    _start(registry)
    now = clock.advance(60)
    events = []
    for i in range(300):
        ctx = RequestContext(user_id=f"u{i % 30}", internal=i % 30 < 15)
        events.append(
            OutcomeEvent.served(registry.resolve("triage", ctx, label="staging"), f"r{i}", context=ctx, at=now)
        )
    registry.record_outcomes(events)
    report = registry.canary_report("triage", label="staging")
    assert (report.candidate.unit, report.candidate.units, report.candidate.requests) == ("user_id", 15, 150)
    assert report.control.units == 15


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"at": math.nan}, "at"),
        ({"at": math.inf}, "at"),
        ({"at": -1.0}, "at"),
        ({"at": 1e13}, "at"),
        ({"latency_ms": -3.0}, "latency_ms"),
        ({"latency_ms": math.inf}, "latency_ms"),
        ({"latency_ms": 1e12}, "latency_ms"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "a\x00b"}, "request_id"),
        ({"request_id": "x" * 201}, "request_id"),
        ({"outcomes": ("thumbs down",)}, "outcomes"),
        ({"segment": {"geo": "d\x00e"}}, "segment.geo"),
        ({"rollout_id": True}, "rollout_id"),
        ({"error": "yes"}, "error"),
    ],
)
def test_hostile_outcome_values_are_refused_naming_the_field(
    sqlite_url: str, open_registry: Callable[..., Registry], fields: dict[str, Any], named: str
) -> None:
    reg = open_registry(sqlite_url)
    reg.publish(make_artifact("v1"), actor="alice")
    data: dict[str, Any] = {"request_id": "r1", "name": "triage", "version": "v1", "at": 1_700_000_000.0} | fields
    with pytest.raises(InputError) as err:
        reg.record_outcomes([OutcomeEvent(**data)])
    message = str(err.value)
    assert f": {named}: expected" in message and "\n" not in message
    assert len(reg.outcome_frame("triage")) == 0


def test_a_store_from_before_receipt_times_is_upgraded_in_place(
    sqlite_url: str, open_registry: Callable[..., Registry], clock: ManualClock
) -> None:
    reg = open_registry(sqlite_url)
    reg.publish(make_artifact("v1"), actor="alice")
    reg.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE pl_requests DROP COLUMN received_at")
        raw.execute("ALTER TABLE pl_requests DROP COLUMN units")
        raw.execute("ALTER TABLE pl_outcomes DROP COLUMN received_at")
        raw.execute(
            "INSERT INTO pl_requests (request_id, name, label, version, rollout_id, at, segment) "
            "VALUES ('old', 'triage', 'production', 'v1', NULL, 1699999000, '{}')"
        )
    raw.close()
    reopened = open_registry(sqlite_url)
    reopened.record_outcome("new", name="triage", version="v1", error=True, at=clock.now)
    frame = reopened.outcome_frame("triage")
    assert sorted(frame["request_id"]) == ["new", "old"]
    with sqlite3.connect(path) as raw:
        rows = dict(raw.execute("SELECT request_id, received_at FROM pl_requests").fetchall())
    raw.close()
    assert rows == {"old": None, "new": clock.now}


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["2024-06-01T10:00:00Z", "2024-06-01T10:00:00", "1e400", "NaN", "\x00", "x" * 300]),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
_KEYS = st.sampled_from(
    [
        "request_id",
        "at",
        "name",
        "version",
        "label",
        "rollout_id",
        "segment",
        "user_id",
        "fallback",
        "escalation",
        "error",
        "latency_ms",
        "outcomes",
        "manual_correction",
        "bogus",
    ]
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=8), min_size=1, max_size=6))
def test_fuzzed_outcome_lines_end_as_events_or_one_line_rejections(tmp_path: Path, lines: list[dict[str, Any]]) -> None:
    path = tmp_path / "fuzz.jsonl"
    # Half the lines get a plausible core, so the fuzz also reaches the stored path and not only the parser.
    for i, line in enumerate(lines):
        if i % 2 == 0:
            line.setdefault("request_id", f"r{i}")
            line.setdefault("at", 1_700_000_000)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    rejected: list[str] = []
    events = load_outcome_events(path, rejected=rejected)
    assert len(events) + len(rejected) == len(lines)
    assert all(r.startswith(str(path)) and "\n" not in r for r in rejected)
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    with Registry(url, watch=False, snapshot_path=tmp_path / "snap.json", clock=lambda: 1_700_000_000.0) as reg:
        try:
            reg.record_outcomes(events)
        except PromptlabError as exc:  # e.g. a served line naming only a version: refused as a whole, one line
            assert "\n" not in str(exc)


def test_record_outcome_without_a_resolution_groups_requests_by_the_contexts_user(
    registry: Registry, clock: ManualClock
) -> None:
    _start(registry)
    now = clock.advance(60)
    for i in range(300):
        ctx = RequestContext(user_id=f"u{i % 30}", internal=i % 30 < 15)
        version = registry.resolve("triage", ctx, label="staging").version
        registry.record_outcome(f"r{i}", name="triage", version=version, label="staging", context=ctx, at=now)
    report = registry.canary_report("triage", label="staging")
    assert (report.candidate.units, report.candidate.requests) == (15, 150)
    assert report.control.units == 15
