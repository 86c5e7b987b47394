"""`promptlab ci` and the shipped CI examples (examples/ci/), driven by running their commands."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from promptlab.notebook import COMMENT_MARKER
from tests.cli._forge import TOKEN, serve_forge
from tests.conftest import CliResult
from tests.notify._receiver import serve_receiver

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-triage"
CI = REPO / "examples" / "ci"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _ci_args(out: Path, policy: Path = EXAMPLE / "gate-policy.yaml", *extra: str) -> list[str]:
    return [
        "ci", "--baseline", str(EXAMPLE / "v1.yaml"), "--candidate", str(EXAMPLE / "v2.yaml"),
        "--suite", str(EXAMPLE / "suite.yaml"), "--policy", str(policy), "--out", str(out),
        "--cache-mode", "read-only", *extra,
    ]  # fmt: skip


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The parts of the repository the CI examples use, copied, so their outputs land in the temporary directory."""
    root = tmp_path / "repo"
    for part in ("examples/support-triage", "examples/ci", "regression_cases"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__", ".promptlab"))
    return root


@pytest.fixture
def ci_env(tmp_path: Path) -> dict[str, str]:
    """An environment where `promptlab` and `python` are this tree's, as after `pip install -e .` in CI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in (("promptlab", f'"{sys.executable}" -m promptlab'), ("python", f'"{sys.executable}"')):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        shim.chmod(0o755)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "GITLAB_", "PROMPTLAB_"))}
    return {**keep, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def _bash(script: str, *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # GitHub's and GitLab's default shell for `run:` / `script:` on Linux: bash, exit on the first failure.
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _expand(text: str, values: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda m: values[m.group(1)], text)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.slow
def test_github_workflow_blocks_the_example_summarises_and_keeps_one_comment(
    repo_copy: Path, ci_env: dict[str, str], tmp_path: Path
) -> None:
    workflow = yaml.safe_load((CI / "github-workflow.yml").read_text())
    job = workflow["jobs"]["gate"]
    steps = {s.get("name"): s for s in job["steps"]}
    output, step_summary = tmp_path / "github_output", tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    env = {**ci_env, **job["env"], "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(step_summary)}

    gate = _bash(steps["Release check"]["run"], env=env, cwd=repo_copy)
    assert gate.returncode == 0, gate.stderr  # a decision is not a broken step; the last step enforces it
    assert _outputs(output)["exit_code"] == "1"
    assert "decision: block (exit 1) for support-triage@v2 vs support-triage@v1" in gate.stdout
    assert "  blocked by no_segment_regression: " in gate.stdout
    summary = step_summary.read_text()
    assert summary.startswith("earlier step\n## Prompt comparison: support-triage@v2 vs support-triage@v1")
    assert "**Gate: BLOCK**" in summary
    out = repo_copy / job["env"]["PROMPTLAB_OUT"]
    comment = (out / "comment.md").read_text()
    assert comment.startswith(COMMENT_MARKER + "\n## Prompt comparison")
    assert "**Gate: BLOCK**" in comment and "promptlab gate: **block** (exit 1)" in comment
    upload = steps["Keep the report and the signed bundle"]["with"]["path"].split()
    assert all((repo_copy / p).is_file() for p in upload), [p for p in upload if not (repo_copy / p).is_file()]

    post = steps["Comment on the pull request"]
    values = {"secrets.GITHUB_TOKEN": TOKEN, "github.event.pull_request.number": "7"}
    with serve_forge() as forge:
        forge.add("github:acme/support#7", "an unrelated review comment")
        post_env = {**env, **{k: _expand(v, values) for k, v in post["env"].items()}}
        post_env |= {"GITHUB_API_URL": forge.url, "GITHUB_REPOSITORY": "acme/support"}
        first = _bash(post["run"], env=post_env, cwd=repo_copy)
        second = _bash(post["run"], env=post_env, cwd=repo_copy)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith("created comment 1002 on acme/support#7")
    assert second.stdout.startswith("updated comment 1002 on acme/support#7")
    assert forge.writes() == ["POST", "PATCH"]
    bodies = [c["body"] for c in forge.comments("github:acme/support#7")]
    assert bodies == ["an unrelated review comment", comment]

    enforce = _expand(steps["Enforce the gate decision"]["run"], {"steps.gate.outputs.exit_code": "1"})
    assert _bash(enforce, env=env, cwd=repo_copy).returncode == 1


@pytest.mark.slow
def test_gitlab_job_blocks_the_example_and_updates_its_one_note(repo_copy: Path, ci_env: dict[str, str]) -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["prompt-gate"]
    assert job["allow_failure"] == {"exit_codes": [3]}
    script = "\n".join(line for line in job["script"] if "pip install" not in line)
    with serve_forge() as forge:
        env = {**ci_env, **job["variables"], "GITLAB_TOKEN": TOKEN, "CI_API_V4_URL": f"{forge.url}/api/v4"}
        env |= {"CI_PROJECT_ID": "acme/support", "CI_MERGE_REQUEST_IID": "7"}
        runs = [_bash(script, env=env, cwd=repo_copy) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1], runs[0].stderr
    assert "created note 1001 on !7" in runs[0].stdout and "updated note 1001 on !7" in runs[1].stdout
    assert forge.writes() == ["POST", "PUT"]
    assert all(call.startswith(("GET /api/v4/projects/acme%2Fsupport/", "POST /api/v4/projects/acme%2Fsupport/",
                                "PUT /api/v4/projects/acme%2Fsupport/")) for call in forge.calls)  # fmt: skip
    [note] = forge.comments("gitlab:acme%2Fsupport!7")
    assert note["body"].startswith(COMMENT_MARKER) and "**Gate: BLOCK**" in note["body"]
    assert all((repo_copy / p).is_file() for p in job["artifacts"]["paths"])


def _poster() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_promptlab_post_comment", CI / "post_comment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_poster_finds_its_comment_on_a_later_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "comment.md"
    body.write_text(f"{COMMENT_MARKER}\nnew summary\n")
    with serve_forge() as forge:
        for i in range(150):
            forge.add("github:acme/support#3", f"{COMMENT_MARKER}\nold summary" if i == 120 else f"comment {i}")
        monkeypatch.setenv("GITHUB_API_URL", forge.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/support")
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        code = _poster().main(["github", "--body-file", str(body), "--number", "3"])
    assert code == 0, capsys.readouterr().err
    assert forge.writes() == ["PATCH"]
    assert "GET /repos/acme/support/issues/3/comments" in forge.calls[1]  # the second page was read
    assert forge.comments("github:acme/support#3")[120]["body"] == body.read_text()


def test_poster_without_a_token_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "comment.md"
    body.write_text("x")
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/support")
    assert _poster().main(["github", "--body-file", str(body), "--number", "3"]) == 2
    assert capsys.readouterr().err == "error: GITHUB_TOKEN is not set\n"


def test_poster_reports_a_refusing_api_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "comment.md"
    body.write_text("x")
    with serve_forge() as forge:
        monkeypatch.setenv("CI_API_V4_URL", f"{forge.url}/api/v4")
        monkeypatch.setenv("CI_PROJECT_ID", "42")
        monkeypatch.setenv("GITLAB_TOKEN", "wrong")
        assert _poster().main(["gitlab", "--body-file", str(body), "--number", "9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: GET ") and "HTTP 401" in err and len(err.splitlines()) == 1


def test_ci_exits_with_the_decision_and_notifies_it(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example.com/acme/support/-/jobs/5")
    # Only the cost rule: v2 costs 60% more, which needs a named approval.
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - cost_budget: {max_increase_pct: 100, approval_above_pct: 25}\n")
    with serve_receiver() as hook, serve_receiver() as broken:
        broken.default = 500
        broken_spec = json.dumps({"url": broken.url, "retries": 1, "backoff_s": 0.01})
        result = run_cli(*_ci_args(tmp_path / "out", policy, "--notify", hook.url, "--notify", broken_spec))
    assert result.code == 3, result.err
    first, second = result.out.splitlines()[:2]
    assert first == "decision: needs_approval (exit 3) for support-triage@v2 vs support-triage@v1"
    assert re.fullmatch(
        r"  needs approval by cost_budget: cost_budget:cost_per_case_usd \(cost per case \+\d+\.\d%\)", second
    )
    assert "step summary" not in result.out
    assert len(broken.requests) == 2
    assert result.err.count("\n") == 1 and "gave up after 2 attempts: HTTP 500" in result.err
    [sent] = hook.requests
    event: dict[str, Any] = sent.json
    assert event["event"] == "gate.decision" and event["status"] == "needs_approval"
    assert event["data"]["exit_code"] == 3 and event["url"] == "https://gitlab.example.com/acme/support/-/jobs/5"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["decision"] == "needs_approval" and results["comment"] == "comment.md"
    comment = (tmp_path / "out" / "comment.md").read_text()
    assert "[details](https://gitlab.example.com/acme/support/-/jobs/5)" in comment

    approved = run_cli(*_ci_args(tmp_path / "out", policy, "--approve", "Maria (finance): worth the quality"))
    assert approved.code == 0, approved.err
    assert approved.out.startswith("decision: approved (exit 0)")
    assert "  approved trade-off of cost_budget by Maria (finance): " in approved.out


def test_ci_rejects_bad_input_in_one_line_before_running(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    missing = run_cli(*_ci_args(tmp_path / "a", tmp_path / "nope.yaml"))
    assert missing.code == 2 and missing.err == f"error: {tmp_path / 'nope.yaml'}: policy file not found\n"
    bad_target = run_cli(*_ci_args(tmp_path / "b", EXAMPLE / "gate-policy.yaml", "--notify", "ftp://x/y"))
    assert bad_target.code == 2
    assert bad_target.err == "error: notify[0]: url: expected an http(s) URL, got 'ftp://x/y'\n"
    passphrase = run_cli(*_ci_args(tmp_path / "c", EXAMPLE / "gate-policy.yaml", "--key-passphrase-env", "NO_SUCH_VAR"))
    assert passphrase.code == 2 and "environment variable NO_SUCH_VAR is not set" in passphrase.err
    assert not any((tmp_path / d).exists() for d in "abc")
