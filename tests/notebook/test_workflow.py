from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptlab.bundles import generate_keys, key_id, load_private_key
from promptlab.errors import InputError
from promptlab.notebook import run_versions, signing_key, write_results


def test_signing_key_is_generated_once_then_reused(tmp_path: Path) -> None:
    private, public = signing_key("", tmp_path)
    assert private == tmp_path / "keys" / "signing.key" and public == tmp_path / "keys" / "signing.pub"
    first = key_id(load_private_key(private))
    again, _ = signing_key(None, tmp_path)
    assert key_id(load_private_key(again)) == first


def test_given_signing_key_is_used_as_is(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "mine")
    assert signing_key(str(pair.private_path), tmp_path / "out") == (pair.private_path, pair.public_path)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match=r"nope\.key: signing key not found"):
        signing_key(str(tmp_path / "nope.key"), tmp_path)


def test_results_paths_are_relative_to_the_output_dir(tmp_path: Path) -> None:
    path = write_results(tmp_path, {"report": tmp_path / "report.html", "other": Path("/elsewhere/x"), "n": 3})
    assert json.loads(path.read_text()) == {"n": 3, "other": "/elsewhere/x", "report": "report.html"}


def test_run_versions_refuses_to_replace_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    keep = tmp_path / "runs" / "baseline"
    keep.mkdir(parents=True)
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not a run directory; refusing to replace it"):
        run_versions("a.yaml", "b.yaml", "suite.yaml", tmp_path)
    assert (keep / "notes.txt").read_text() == "mine"


def _decision(tmp_path: Path, policy_text: str, *, approvals: tuple[str, ...] = ()) -> Any:
    from promptlab.gate import evaluate_gate
    from tests._support.comparisons import planted_comparison

    cmp_dir = tmp_path / "compare"
    if not (cmp_dir / "comparison.json").is_file():
        planted_comparison(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    return evaluate_gate(cmp_dir, policy, approvals=list(approvals))


NEEDS_APPROVAL = "rules:\n  - cost_budget: {max_increase_pct: 1000, approval_above_pct: -100}\n"


def test_decision_lines_name_pending_trade_offs_and_later_their_approvers(tmp_path: Path) -> None:
    from promptlab.notebook import decision_lines

    pending = _decision(tmp_path, NEEDS_APPROVAL)
    lines = decision_lines(pending, paths={"report": tmp_path / "r.html", "bundle": None})
    assert lines[0].startswith("decision: needs_approval (exit 3) for ")
    assert lines[1].startswith("  needs approval by cost_budget: cost_budget:cost_per_case_usd (cost per case ")
    assert lines[2] == '  approve on record with --approve "NAME: REASON" (or -p approve "NAME: REASON")'
    assert lines[3:] == [f"report: {tmp_path / 'r.html'}"]  # paths without a value are left out
    approved = _decision(tmp_path, NEEDS_APPROVAL, approvals=("Dana: fine",))
    assert decision_lines(approved)[1].startswith("  approved trade-off of cost_budget by Dana: ")


def test_conclude_prints_and_raises_only_when_asked_and_not_passing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from promptlab.errors import GateNotPassedError
    from promptlab.notebook import conclude

    blocked = _decision(tmp_path, "rules:\n  - min_pass_rate: 0.99\n")
    lines = conclude(blocked, tmp_path / "compare")
    assert capsys.readouterr().out.splitlines() == lines
    with pytest.raises(GateNotPassedError, match=r"^gate decision: block \(exit 1\)$"):
        conclude(blocked, tmp_path / "compare", fail_unless_pass=True)
    passed = _decision(tmp_path, "rules:\n  - min_pass_rate: 0.01\n")
    assert conclude(passed, tmp_path / "compare", fail_unless_pass=True)[1] == "  every rule passes (1 rules)"


def test_comment_body_carries_the_marker_and_step_summary_appends_only_when_set(tmp_path: Path) -> None:
    from promptlab.notebook import COMMENT_MARKER, append_step_summary, comment_body

    blocked = _decision(tmp_path, "rules:\n  - min_pass_rate: 0.99\n")
    body = comment_body("## Summary\n\ntext\n", blocked, details_url="https://ci/run/1")
    assert body.startswith(f"{COMMENT_MARKER}\n## Summary\n\ntext\n\n<sub>promptlab gate: **block** (exit 1).")
    assert "[details](https://ci/run/1)" in body
    assert append_step_summary("## Summary", env={}) is None
    target = tmp_path / "summary.md"
    target.write_text("before\n")
    assert append_step_summary("## Summary", env={"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "before\n## Summary\n\n"


def test_conclude_notifies_the_decision_and_a_failed_webhook_only_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from promptlab.notebook import conclude
    from tests.notify._receiver import serve_receiver

    blocked = _decision(tmp_path, "rules:\n  - min_pass_rate: 0.99\n")
    with serve_receiver() as hook, serve_receiver() as broken:
        broken.default = 503
        spec = {"url": broken.url, "retries": 0}
        conclude(blocked, tmp_path / "compare", notify=[f"slack+{hook.url}", spec])
    [sent] = hook.requests
    assert sent.json["text"].startswith(":no_entry: gate block for ") and sent.json["text"].endswith(": min_pass_rate")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].endswith("(gate.decision): gave up after 1 attempt: HTTP 503")
