"""The whole release loop on the example, through the CLI: evaluate, compare, gate, review, report, sign, verify,
publish, promote (refused on a blocked gate), force with an audit trail, roll back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-triage"

Cli = Callable[..., CliResult]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROMPTLAB_ACTOR", "release-bot")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # Nothing may leave the machine: a replay that missed the cache would fail on this closed port.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    return tmp_path


def test_release_loop_on_the_example_blocks_v2_and_keeps_every_step_auditable(run_cli: Cli, workdir: Path) -> None:
    runs = {}
    for version in ("v1", "v2"):
        out = workdir / version
        r = run_cli(
            "run", "--artifact", EXAMPLE / f"{version}.yaml", "--suite", EXAMPLE / "suite.yaml", "--out", out,
            "--cache-mode", "read-only", "--repeats", "3", "--no-progress",
        )  # fmt: skip
        assert r.code == 0, r.err
        assert "cache hits 735/735" in r.out
        runs[version] = out

    cmp_dir = workdir / "cmp"
    r = run_cli("compare", "--baseline", runs["v1"], "--candidate", runs["v2"], "--out", cmp_dir)
    assert r.code == 0, r.err
    summary = json.loads((cmp_dir / "comparison.json").read_text())["summary"]
    assert "intent=billing" in summary["regressed_groups"]

    policy = EXAMPLE / "gate-policy.yaml"
    r = run_cli("gate", cmp_dir, "--policy", policy)
    assert r.code == 1
    assert "[BLOCK] no_segment_regression" in r.out and "intent=billing" in r.out
    assert "[BLOCK] required_reviews" in r.out

    for layer, items in {
        "product": ("tone", "policy_alignment", "user_value"),
        "technical": ("determinism", "schema_compliance", "failure_handling"),
    }.items():
        checks = [arg for item in items for arg in ("--check", f"{item}=yes")]
        r = run_cli("review", "sign", cmp_dir, "--layer", layer, "--reviewer", f"{layer} lead", "--decision", "approve",
                    *checks)  # fmt: skip
        assert r.code == 0, r.err
    r = run_cli("gate", cmp_dir, "--policy", policy, "--approve", "Dana Ortiz: +60% cost accepted for v2's quality")
    assert r.code == 1, "reviews and approvals never lift a block"
    assert "[pass] required_reviews" in r.out
    gate = json.loads((cmp_dir / "gate.json").read_text())
    assert gate["decision"] == "block" and gate["approvals"][0]["approver"] == "Dana Ortiz"

    r = run_cli("report", cmp_dir)
    assert r.code == 0, r.err
    assert (cmp_dir / "report.html").stat().st_size > 100_000

    keys = workdir / "keys" / "release"
    keys.parent.mkdir()
    assert run_cli("keys", "generate", "--out", keys).code == 0
    bundle = workdir / "v2-evidence.tar.gz"
    r = run_cli("bundle", "export", cmp_dir, "--key", f"{keys}.key", "-o", bundle)
    assert r.code == 0, r.err
    r = run_cli("bundle", "verify", bundle, "--trusted-key", f"{keys}.pub")
    assert r.code == 0, r.err
    assert "decision: block" in r.out

    url = f"sqlite:///{workdir / 'registry.db'}"
    assert run_cli("registry", "publish", EXAMPLE / "v1.yaml", EXAMPLE / "v2.yaml", "--url", url).code == 0
    r = run_cli("registry", "label", "support-triage", "v1", "--reason", "initial production", "--force", "--url", url)
    assert r.code == 0, r.err
    r = run_cli("registry", "label", "support-triage", "v2", "--reason", "ship v2", "--bundle", bundle,
                "--trusted-key", f"{keys}.pub", "--url", url)  # fmt: skip
    assert r.code != 0, "a candidate whose gate blocked must not be promoted"
    assert "block" in r.err
    r = run_cli("registry", "resolve", "support-triage", "--url", url)
    assert r.code == 0 and "v1" in r.out

    r = run_cli("registry", "label", "support-triage", "v2", "--reason", "hotfix override", "--force", "--url", url)
    assert r.code == 0, r.err
    r = run_cli("rollback", "support-triage", "--reason", "billing misroutes in DE", "--url", url)
    assert r.code == 0, r.err
    r = run_cli("registry", "resolve", "support-triage", "--url", url)
    assert r.code == 0 and "v1" in r.out
    r = run_cli("registry", "history", "support-triage", "--url", url)
    assert r.code == 0
    for reason in ("initial production", "hotfix override", "billing misroutes in DE"):
        assert reason in r.out
