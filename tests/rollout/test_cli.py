"""`promptlab rollout ...`, `promptlab rollback` and `promptlab canary check|record` end to end on a SQLite file."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptlab.errors import ConcurrentChangeError
from promptlab.registry import Registry, RequestContext
from tests._support.registry import make_artifact
from tests.conftest import CliResult

POLICY = """\
rules:
  - min_pass_rate: 0.5
rollback:
  min_sample_per_cohort: 100
  metrics:
    escalation_rate: {max_abs_increase: 0.03}
"""

PLAN = """\
policy: policy.yaml
stages:
  - {name: internal, internal: true}
  - {name: half, percent: 50, min_duration: 1h}
  - {name: everyone}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., CliResult]) -> Path:
    """v1 and v2 published, v1 on staging, plan and policy files written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", f"sqlite:///{tmp_path / 'reg.db'}")
    monkeypatch.setenv("PROMPTLAB_ACTOR", "alice")
    for v in ("v1", "v2"):
        (tmp_path / f"{v}.yaml").write_text(yaml.safe_dump(make_artifact(v).model_dump(mode="json")))
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert run_cli("registry", "publish", "v1.yaml", "v2.yaml").code == 0
    assert run_cli("registry", "label", "triage", "v1", "--label", "staging", "--reason", "baseline").code == 0
    return tmp_path


def _start(run_cli: Callable[..., CliResult]) -> CliResult:
    return run_cli(
        "rollout",
        "start",
        "triage",
        "--candidate",
        "v2",
        "--plan",
        "plan.yaml",
        "--label",
        "staging",
        "--reason",
        "try v2",
    )


def _events(env: Path, n: int, every: dict[str, int], *, seed: int = 0) -> Path:
    """Serve `n` requests through the registry and write them as an outcome-events JSONL file; every `every[v]`-th
    request served by version v escalates (exact rates, so the verdicts do not depend on sampling luck)."""
    rng = random.Random(seed)
    served = dict.fromkeys(every, 0)
    lines = []
    with Registry(watch=False) as reg:
        for i in range(n):
            ctx = RequestContext(user_id=f"u{rng.randrange(10_000)}", internal=rng.random() < 0.4)
            res = reg.resolve("triage", ctx, label="staging")
            served[res.version] += 1
            lines.append(
                {
                    "request_id": f"r{seed}-{i}",
                    "at": time.time(),
                    "name": "triage",
                    "version": res.version,
                    "label": "staging",
                    "segment": ctx.segment(),
                    "escalation": served[res.version] % every[res.version] == 0,
                }
            )
    path = env / f"events-{seed}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_rollout_lifecycle_from_the_command_line(env: Path, run_cli: Callable[..., CliResult]) -> None:
    started = _start(run_cli)
    assert started.code == 0 and "rollout #1 of triage on 'staging': v1 -> v2, active" in started.out
    status = run_cli("rollout", "status", "triage", "--label", "staging", "--json")
    assert status.code == 0 and json.loads(status.out)["rollout"]["stage_name"] == "internal"
    assert run_cli("rollout", "advance", "triage", "--label", "staging", "--reason", "widen").code == 0
    early = run_cli("rollout", "advance", "triage", "--label", "staging", "--reason", "again")
    assert early.code == 2 and "may not advance yet: ran 0s of 1h" in early.err
    frozen = run_cli("rollout", "freeze", "triage", "--label", "staging", "--reason", "looks odd")
    assert frozen.code == 0 and "frozen" in frozen.out
    resumed = run_cli("rollout", "resume", "triage", "--label", "staging", "--reason", "fine after all")
    assert resumed.code == 0 and "active" in resumed.out
    aborted = run_cli("rollout", "abort", "triage", "--label", "staging", "--reason", "stop")
    assert aborted.code == 0 and "aborted" in aborted.out
    history = run_cli("registry", "history", "triage", "--label", "staging").out
    for action in ("rollout_start", "rollout_advance", "rollout_freeze", "rollout_resume", "rollout_abort"):
        assert action in history


def test_rollback_command_is_immediate_and_audited(env: Path, run_cli: Callable[..., CliResult]) -> None:
    run_cli("registry", "label", "triage", "v2", "--label", "staging", "--reason", "ship v2")
    result = run_cli("rollback", "triage", "--label", "staging", "--reason", "escalations up")
    assert result.code == 0 and "rollback staging -> v1 (was v2) - escalations up" in result.out
    resolved = json.loads(run_cli("registry", "resolve", "triage", "--label", "staging", "--json").out)
    assert resolved["version"] == "v1"
    missing = run_cli("rollback", "triage", "--label", "staging")
    assert missing.code == 2 and "Missing option '--reason'" in missing.err


def test_canary_check_exit_codes(env: Path, run_cli: Callable[..., CliResult]) -> None:
    _start(run_cli)
    thin = _events(env, 60, {"v1": 20, "v2": 20}, seed=1)
    assert run_cli("canary", "record", thin).code == 0
    assert run_cli("canary", "check", "triage", "--label", "staging").code == 3  # inconclusive: holds
    healthy = _events(env, 800, {"v1": 20, "v2": 20}, seed=2)
    recorded = run_cli("canary", "record", healthy)
    assert recorded.code == 0 and "800 events, 800 new requests" in recorded.out
    advanced = run_cli("canary", "check", "triage", "--label", "staging")
    assert advanced.code == 0 and "advanced: advanced to stage 'half'" in advanced.out
    bad = _events(env, 1500, {"v1": 20, "v2": 4}, seed=3)
    run_cli("canary", "record", bad)
    dry = run_cli("canary", "check", "triage", "--label", "staging", "--dry-run")
    assert dry.code == 1 and "dry run: would freeze" in dry.out
    breach = run_cli("canary", "check", "triage", "--label", "staging", "--json")
    data = json.loads(breach.out)
    assert breach.code == 1 and data["action"] == "froze" and data["rollout"]["status"] == "frozen"
    assert data["report"]["metrics"][0]["status"] == "breach"
    resolved = json.loads(
        run_cli("registry", "resolve", "triage", "--label", "staging", "--internal", "--user", "u1", "--json").out
    )
    assert resolved["version"] == "v1"


def test_bad_outcome_lines_are_rejected_naming_the_field_and_the_rest_is_kept(
    env: Path, run_cli: Callable[..., CliResult]
) -> None:
    path = env / "bad.jsonl"
    now = time.time()
    lines = [
        {"request_id": "a", "at": now, "name": "triage", "version": "v1", "label": "staging"},
        {"request_id": "b", "at": "2024-06-01T10:00:00", "escalation": True},
        {"request_id": "a", "at": now, "latency_ms": -5},
        {"request_id": "a", "at": 1e300},
        {"request_id": "a", "at": now, "error": "yes"},
        {"request_id": "a", "at": now, "escalation": True},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"request_id": "a", "at": NaN}\n')
    result = run_cli("canary", "record", path)
    assert result.code == 2 and f"{path}: 2 events, 1 new requests, 5 lines rejected" in result.out
    errors = result.err.strip().splitlines()
    assert len(errors) == 5 and "Traceback" not in result.err
    assert errors[0].startswith(f"rejected: {path}:2: at: value error, expected a timestamp with a timezone")
    assert errors[1].startswith(f"rejected: {path}:3: latency_ms:")
    assert errors[2].startswith(f"rejected: {path}:4: at:") and "2000-01-01 and 2100-01-01" in errors[2]
    assert errors[3].startswith(f"rejected: {path}:5: error:")
    assert errors[4].startswith(f"rejected: {path}:7: at") and "NaN" in errors[4]
    with Registry(watch=False) as reg:
        frame = reg.outcome_frame("triage", label="staging")
    assert len(frame) == 1 and bool(frame["escalation"].iloc[0])
    broken = env / "broken.jsonl"
    broken.write_text('{"request_id": "a",\n')
    assert f"rejected: {broken}: line 1: malformed JSON" in run_cli("canary", "record", broken).err


def test_canary_check_exits_5_when_the_store_is_corrupt(env: Path, run_cli: Callable[..., CliResult]) -> None:
    _start(run_cli)
    (env / "reg.db").write_bytes(b"this is not a database" * 100)
    for wal in env.glob("reg.db-*"):
        wal.unlink()
    result = run_cli("canary", "check", "triage", "--label", "staging")
    assert result.code == 5 and result.err.startswith("error: could not measure (exit 5, nothing decided)")
    assert "Traceback" not in result.err


def test_canary_check_exits_5_when_the_store_is_unreachable(
    env: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", "postgresql://postgres@127.0.0.1:1/promptlab")
    result = run_cli("canary", "check", "triage", "--label", "staging")
    assert result.code == 5 and "could not measure" in result.err and "unreachable" in result.err


def test_canary_check_retries_a_lost_race_and_exits_5_when_it_keeps_losing(
    env: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(run_cli)
    calls = []
    real = Registry.check_canary

    def racing(self: Registry, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= losses:
            raise ConcurrentChangeError("rollout #1 of triage changed meanwhile (now frozen at stage 'internal')")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "check_canary", racing)
    losses = 1
    assert run_cli("canary", "check", "triage", "--label", "staging").code == 3  # decided on the second try
    calls.clear()
    losses = 99
    lost = run_cli("canary", "check", "triage", "--label", "staging")
    assert lost.code == 5 and len(calls) == 3 and "changed meanwhile" in lost.err


def test_bad_policy_or_missing_criteria_exit_2(env: Path, run_cli: Callable[..., CliResult]) -> None:
    (env / "policy.yaml").write_text(POLICY.replace("max_abs_increase", "max_increase"))
    bad = _start(run_cli)
    assert bad.code == 2 and bad.err.startswith(f"error: {Path('policy.yaml')}: rollback.metrics.escalation_rate.")
    (env / "plan.yaml").write_text(PLAN.replace("policy: policy.yaml\n", ""))
    none = _start(run_cli)
    assert none.code == 2 and "no rollback criteria: pass --policy FILE" in none.err


def test_canary_check_without_a_rollout_exits_2(env: Path, run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("canary", "check", "triage", "--label", "staging")
    assert result.code == 2 and result.err.startswith("error: no rollout of triage is live on 'staging'")
