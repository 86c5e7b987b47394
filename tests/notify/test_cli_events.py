"""`promptlab gate --notify` and `promptlab review sign --notify` tell a webhook after the decision is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests._support.comparisons import POLICY_YAML, planted_comparison
from tests.notify._receiver import Receiver


def test_gate_notify_posts_the_decision_after_writing_gate_json(
    tmp_path: Path, receiver: Receiver, run_cli: Any
) -> None:
    cmp_dir = planted_comparison(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_YAML)
    result = run_cli("gate", cmp_dir, "--policy", policy, "--notify", receiver.url)
    assert result.code == 1 and (cmp_dir / "gate.json").is_file()
    [event] = [r.json for r in receiver.requests]
    assert event["event"] == "gate.decision" and event["status"] == "block"
    assert event["data"]["exit_code"] == 1


def test_review_sign_notify_posts_the_approval(tmp_path: Path, receiver: Receiver, run_cli: Any) -> None:
    cmp_dir = planted_comparison(tmp_path)
    result = run_cli(
        "review", "sign", cmp_dir, "--layer", "technical", "--reviewer", "Ana", "--decision", "approve",
        "--check", "determinism=yes", "--check", "schema_compliance=yes", "--check", "failure_handling=yes",
        "--notify", receiver.url,
    )  # fmt: skip
    assert result.code == 0, result.err
    [event] = [r.json for r in receiver.requests]
    assert event["event"] == "review.approval" and event["status"] == "approved"
    assert event["data"]["layer"] == "technical" and event["data"]["reviewer"] == "Ana"


def test_a_failing_webhook_never_changes_the_gate_exit_code(tmp_path: Path, receiver: Receiver, run_cli: Any) -> None:
    receiver.default = 500
    cmp_dir = planted_comparison(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_YAML)
    result = run_cli("gate", cmp_dir, "--policy", policy, "--notify", receiver.url)
    assert result.code == 1
    assert "warning" in result.err.lower()
