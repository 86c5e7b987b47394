"""Committed registry changes tell people: canary freezes, rollbacks, label moves and rollout stage changes post
signed webhook events (to a loopback receiver here); a failed delivery only warns and never undoes the change."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from promptlab.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from promptlab.registry import ForcedPromotionWarning, Registry
from promptlab.rollout import RolloutPlan
from tests._support.registry import ManualClock, make_artifact, plant_traffic, rollback_criteria
from tests.conftest import CliResult
from tests.notify._receiver import Receiver, serve_receiver

PLAN = {"stages": [{"name": "internal", "internal": True}, {"name": "everyone"}]}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A loopback webhook receiver; deliveries to it are signed with the secret in HOOK_SECRET."""
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    with serve_receiver() as state:
        yield state


def _target(receiver: Receiver) -> str:
    return f"{{url: '{receiver.url}', secret_env: HOOK_SECRET, backoff_s: 0.01}}"


def _signed_events(receiver: Receiver) -> list[dict[str, object]]:
    events = []
    for request in receiver.requests:
        stamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
        assert verify_signature("s3cret", request.body, timestamp=stamp, signature=signature)
        events.append(request.json)
    return events


@pytest.fixture
def sqlite_registry(sqlite_url: str, open_registry: Callable[..., Registry]) -> Registry:
    reg = open_registry(sqlite_url)
    for v in ("v1", "v2"):
        reg.publish(make_artifact(v), actor="alice")
    return reg


def test_a_canary_freeze_posts_a_signed_event_to_the_policy_notify_targets(
    sqlite_registry: Registry, clock: ManualClock, receiver: Receiver
) -> None:
    reg = sqlite_registry
    with pytest.warns(ForcedPromotionWarning):
        reg.label("triage", "v1", actor="alice", reason="baseline", force=True)
    criteria = rollback_criteria(on_breach={"notify": [_target(receiver)]})
    with pytest.warns(ForcedPromotionWarning):
        reg.start_rollout(
            "triage", "v2", RolloutPlan.model_validate(PLAN), criteria=criteria, actor="a", reason="r", force=True
        )
    plant_traffic(reg, n=1500, rates={"v1": 0.05, "v2": 0.20}, at=clock.advance(60))
    assert reg.check_canary("triage").action == "froze"
    [event] = _signed_events(receiver)
    assert event["event"] == "canary.freeze" and event["subject"] == "triage" and event["status"] == "frozen"
    assert "escalation_rate" in str(event["summary"]) and event["data"]["candidate"] == "v2"  # type: ignore[index]


def test_a_rollback_and_a_label_move_post_signed_events_after_they_commit(
    sqlite_registry: Registry, receiver: Receiver
) -> None:
    reg = sqlite_registry
    reg.label("triage", "v1", label="staging", actor="alice", reason="baseline", notify=[_target(receiver)])
    reg.label("triage", "v2", label="staging", actor="alice", reason="ship v2")
    reg.rollback("triage", label="staging", actor="bob", reason="escalations up", notify=[_target(receiver)])
    moved, rolled = _signed_events(receiver)
    assert (moved["event"], moved["data"]["version"]) == ("registry.label_move", "v1")  # type: ignore[index]
    assert rolled["event"] == "registry.rollback" and rolled["status"] == "rolled_back"
    assert "from v2 to v1: escalations up" in str(rolled["summary"])


def test_a_failed_webhook_only_warns_and_the_rollback_stays_applied(
    sqlite_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = sqlite_registry
    reg.label("triage", "v1", label="staging", actor="alice", reason="baseline")
    reg.label("triage", "v2", label="staging", actor="alice", reason="ship v2")
    refused = "{url: 'http://127.0.0.1:9/hook', retries: 0, timeout_s: 1}"
    entry = reg.rollback("triage", label="staging", actor="bob", reason="bad", notify=[refused, "no-such-channel"])
    assert entry.version == "v1" and reg.resolve("triage", label="staging").version == "v1"
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "no-such-channel" in err


def test_rollout_stage_changes_notify_the_plans_targets(sqlite_registry: Registry, receiver: Receiver) -> None:
    reg = sqlite_registry
    reg.label("triage", "v1", label="staging", actor="alice", reason="baseline")
    plan = RolloutPlan.model_validate({**PLAN, "notify": [_target(receiver)]})
    criteria = rollback_criteria()
    reg.start_rollout("triage", "v2", plan, criteria=criteria, label="staging", actor="a", reason="try v2")
    reg.freeze_rollout("triage", label="staging", actor="a", reason="look closer")
    reg.resume_rollout("triage", label="staging", actor="a", reason="fine")
    reg.abort_rollout("triage", label="staging", actor="a", reason="not now")
    events = _signed_events(receiver)
    assert [e["event"] for e in events] == ["rollout.stage_change"] * 4
    assert [e["status"] for e in events] == ["active", "frozen", "active", "aborted"]
    assert "aborted; 'staging' serves v1: not now" in str(events[-1]["summary"])


def test_rollback_and_label_commands_take_notify_targets(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., CliResult],
    receiver: Receiver,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTLAB_REGISTRY_URL", f"sqlite:///{tmp_path / 'reg.db'}")
    monkeypatch.setenv("PROMPTLAB_ACTOR", "alice")
    for v in ("v1", "v2"):
        (tmp_path / f"{v}.yaml").write_text(yaml.safe_dump(make_artifact(v).model_dump(mode="json")))
    assert run_cli("registry", "publish", "v1.yaml", "v2.yaml").code == 0
    for v in ("v1", "v2"):
        args = ("registry", "label", "triage", v, "--label", "staging", "--reason", f"ship {v}")
        assert run_cli(*args, "--notify", _target(receiver)).code == 0
    result = run_cli("rollback", "triage", "--label", "staging", "--reason", "bad", "--notify", _target(receiver))
    assert result.code == 0
    kinds = [json.loads(r.body)["event"] for r in receiver.requests]
    assert kinds == ["registry.label_move", "registry.label_move", "registry.rollback"]
