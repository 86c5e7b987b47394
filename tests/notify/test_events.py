from __future__ import annotations

from pathlib import Path

from promptlab.gate import evaluate_gate
from promptlab.notify import gate_event, render_body
from tests._support.comparisons import planted_comparison

POLICY = "rules:\n  - min_pass_rate: 0.99\n  - max_new_regressions: 1000\n"


def test_gate_event_names_the_decision_and_the_rules_that_decided_it(tmp_path: Path) -> None:
    cmp_dir = planted_comparison(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    decision = evaluate_gate(cmp_dir, policy)
    event = gate_event(decision, url="https://ci.example.com/run/1", paths={"report": "out/report.html"})
    assert decision.decision == "block"
    assert event.kind == "gate.decision" and event.status == "block"
    assert event.summary.endswith(": min_pass_rate")
    assert event.details[0].startswith("min_pass_rate: ")
    body = render_body(event, "json")
    assert body["data"]["exit_code"] == 1 and body["data"]["report"] == "out/report.html"
    assert body["data"]["rules"] == {"min_pass_rate": "block", "max_new_regressions": "pass"}
    slack = render_body(event, "slack")
    assert slack["text"].startswith(":no_entry: gate block for ")
    assert "<https://ci.example.com/run/1|details>" in slack["blocks"][-1]["elements"][0]["text"]
