"""Resume: an interrupted run (torn last line, Ctrl-C, SIGKILL) finishes without re-calling finished cases."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.errors import InputError
from promptlab.runner import RunDir, load_run, read_results, run
from tests._support.fake_openai import FakeOpenAI, Reply
from tests.runner._project import Project, simple_cases

FAST = {"progress": False, "backoff_s": 0.01}
COLUMNS = ["case_id", "repeat", "output", "outcome", "eval.contains.passed"]


def interrupt_after(out: Path, kept: int) -> list[str]:
    """Make `out` look like a run killed after `kept` rows, mid-way through writing the next one."""
    path = out / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:kept]) + lines[kept][: len(lines[kept]) // 2])
    manifest = orjson.loads((out / "run.json").read_bytes())
    manifest.update(status="running", finished_at=None)
    (out / "run.json").write_bytes(orjson.dumps(manifest))
    return [orjson.loads(line)["case_id"] for line in lines[:kept]]


def test_resume_calls_only_unfinished_pairs_and_matches_an_uninterrupted_run(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project(simple_cases(8))
    run(p.artifact, p.suite, p.out("whole"), provider=provider_for, repeats=2, **FAST)
    run(p.artifact, p.suite, p.out("cut"), provider=provider_for, repeats=2, **FAST)
    kept = interrupt_after(p.out("cut"), 5)
    fake_openai.reset()
    summary = run(p.artifact, p.suite, p.out("cut"), provider=provider_for, repeats=2, resume=True, **FAST)
    assert fake_openai.count() == 16 - 5 and summary.resumed == 5 and summary.rows == 16
    assert RunDir.open(p.out("cut")).manifest.status == "complete"
    whole, resumed = load_run(p.out("whole")), load_run(p.out("cut"))
    assert resumed[COLUMNS].equals(whole[COLUMNS])
    assert len(read_results(p.out("cut") / "results.jsonl")) == 16
    # the kept pairs were not asked again: at most the other repeat of those cases was
    asked = [r.user_text.split()[1] for r in fake_openai.requests]
    assert all(asked.count(case) <= 2 - kept.count(case) for case in set(kept))


def test_resuming_a_complete_run_calls_nothing(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, resume=True, **FAST)
    assert fake_openai.count() == 6 and summary.rows == 6 and summary.calls == 0


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("artifact", "artifact hash"),
        ("cases", "dataset hash"),
        ("evaluators", "evaluators hash"),
        ("repeats", "repeats"),
    ],
)
def test_resume_refuses_a_run_of_something_else(
    project: Callable[..., Project], provider_for: dict[str, Any], change: str, what: str
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    repeats = 1
    if change == "artifact":
        p.artifact.write_text(p.artifact.read_text().replace("You are a test model.", "You are another model."))
    elif change == "cases":
        (p.root / "cases.jsonl").write_bytes(b'{"id": "new", "vars": {"text": "x"}}\n')
    elif change == "evaluators":
        p.suite.write_text(p.suite.read_text().replace("apple", "pear"))
    else:
        repeats = 2
    with pytest.raises(InputError, match=f"cannot resume: the run's {what} is"):
        run(p.artifact, p.suite, p.out(), provider=provider_for, repeats=repeats, resume=True, **FAST)


def test_a_killed_subprocess_run_resumes_without_recalling_finished_cases(
    project: Callable[..., Project], fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = lambda request: Reply(content=f"apple {request.user_text}", delay_s=0.1)
    p = project(simple_cases(16))
    promptlab = Path(sys.executable).with_name("promptlab")
    provider = f'{{openai: {{base_url: "{fake_openai.base_url}"}}}}'
    args = [
        "--artifact",
        str(p.artifact),
        "--suite",
        str(p.suite),
        "--out",
        str(p.out()),
        "--provider",
        provider,
        "--concurrency",
        "2",
        "--no-progress",
    ]
    child = subprocess.Popen([str(promptlab), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = p.out() / "results.jsonl"
    deadline = time.monotonic() + 30
    while not (results.exists() and results.read_bytes().count(b"\n") >= 4):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run wrote no rows"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert RunDir.open(p.out()).manifest.status == "running"

    kept = {r["case_id"] for r in read_results(results)}
    assert 4 <= len(kept) < 16
    resumed_at = time.monotonic()
    done = subprocess.run([str(promptlab), "run", *args, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{len(kept)} rows kept from before (resumed)" in done.stdout

    asked_again = {r.user_text.split()[1] for r in fake_openai.requests if r.received_at >= resumed_at}
    assert asked_again == {f"c{i:02d}" for i in range(16)} - kept
    rows = read_results(results)
    assert sorted(r["case_id"] for r in rows) == [f"c{i:02d}" for i in range(16)]
    assert all(r["output"] == f"apple case {r['case_id']} wants {r['vars']['text'].split()[-1]}" for r in rows)
    assert RunDir.open(p.out()).manifest.status == "complete"


def test_ctrl_c_marks_the_run_interrupted_and_resume_finishes_it(
    project: Callable[..., Project], fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = lambda request: Reply(content="apple", delay_s=0.1)
    p = project(simple_cases(16))
    promptlab = Path(sys.executable).with_name("promptlab")
    provider = f'{{openai: {{base_url: "{fake_openai.base_url}"}}}}'
    args = [
        "--artifact",
        str(p.artifact),
        "--suite",
        str(p.suite),
        "--out",
        str(p.out()),
        "--provider",
        provider,
        "--concurrency",
        "2",
        "--no-progress",
    ]
    child = subprocess.Popen(
        [str(promptlab), "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as typed in a terminal
    )
    results = p.out() / "results.jsonl"
    deadline = time.monotonic() + 30
    while not (results.exists() and results.read_bytes().count(b"\n") >= 2):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run wrote no rows"
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=20)
    assert child.returncode == 130
    assert err.strip() == (
        f"interrupted: finished rows are kept in {p.out()}; continue with the same command plus --resume"
    )
    assert RunDir.open(p.out()).manifest.status == "interrupted"
    kept = len(read_results(results))
    fake_openai.reset()
    summary = run(
        p.artifact,
        p.suite,
        p.out(),
        provider={"openai": {"base_url": fake_openai.base_url}},
        concurrency=2,
        resume=True,
        **FAST,
    )
    assert summary.rows == 16 and summary.resumed == kept and fake_openai.count() == 16 - kept


def test_a_run_directory_being_written_by_another_process_is_refused(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    interrupt_after(p.out(), 2)
    torn = (p.out() / "results.jsonl").read_bytes()
    with (p.out() / "results.jsonl").open("ab") as other_writer:
        fcntl.flock(other_writer.fileno(), fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another promptlab run is writing to this directory"):
            run(p.artifact, p.suite, p.out(), provider=provider_for, resume=True, **FAST)
    assert (p.out() / "results.jsonl").read_bytes() == torn  # the other writer's half line was left alone
    assert run(p.artifact, p.suite, p.out(), provider=provider_for, resume=True, **FAST).rows == 6


def killed_before_the_manifest(out: Path, stage: str) -> None:
    """Leave `out` as a run killed at `stage` of creating its directory, before `run.json` was written.

    Built from a real run directory, cut back to what each earlier write had produced (the old code wrote the
    artifact, the cases, an empty results file, then the manifest; writes in progress leave torn files or
    atomic-write temporaries).
    """
    artifact, cases = (out / "artifact.json").read_bytes(), (out / "cases.jsonl").read_bytes()
    for path in out.iterdir():
        path.unlink()
    if stage == "empty-dir":
        return
    if stage == "torn-artifact":
        (out / "artifact.json").write_bytes(artifact[: len(artifact) // 2])
        return
    (out / "artifact.json").write_bytes(artifact)
    if stage == "torn-cases":
        (out / "cases.jsonl").write_bytes(cases[: len(cases) // 3])
        return
    (out / "cases.jsonl").write_bytes(cases)
    (out / "results.jsonl").touch()
    if stage == "manifest-temporary":
        (out / ".run.json.k3j2h1.tmp").write_bytes(b'{"format_version": 1, "run_')


KILL_STAGES = ["empty-dir", "torn-artifact", "torn-cases", "before-manifest", "manifest-temporary"]


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "plain-rerun"])
@pytest.mark.parametrize("stage", KILL_STAGES)
def test_a_run_killed_before_run_json_exists_starts_over_in_the_same_directory(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI, stage: str, resume: bool
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    expected = {name: (p.out() / name).read_bytes() for name in ("artifact.json", "cases.jsonl")}
    killed_before_the_manifest(p.out(), stage)
    summary = run(p.artifact, p.suite, p.out(), provider=provider_for, resume=resume, **FAST)
    assert (summary.rows, summary.resumed) == (6, 0)
    assert sorted(f.name for f in p.out().iterdir()) == ["artifact.json", "cases.jsonl", "results.jsonl", "run.json"]
    assert {name: (p.out() / name).read_bytes() for name in expected} == expected
    assert RunDir.open(p.out()).manifest.status == "complete" and len(read_results(p.out() / "results.jsonl")) == 6


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "plain-rerun"])
@pytest.mark.parametrize("extra", ["rows-without-manifest", "foreign-file", "subdirectory"])
def test_a_directory_without_run_json_that_holds_anything_else_is_refused_untouched(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI, extra: str, resume: bool
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    killed_before_the_manifest(p.out(), "before-manifest")
    if extra == "rows-without-manifest":  # never written by promptlab: results are never thrown away
        (p.out() / "results.jsonl").write_bytes(b'{"case_id": "c00"}\n')
    elif extra == "foreign-file":
        (p.out() / "notes.txt").write_text("mine")
    else:
        (p.out() / "data").mkdir()
    before = {path.name: path.read_bytes() for path in p.out().iterdir() if path.is_file()}
    with pytest.raises(InputError, match="exists and is not an empty directory"):
        run(p.artifact, p.suite, p.out(), provider=provider_for, resume=resume, **FAST)
    assert {path.name: path.read_bytes() for path in p.out().iterdir() if path.is_file()} == before


def test_a_half_created_run_directory_locked_by_its_creator_is_refused(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    killed_before_the_manifest(p.out(), "before-manifest")
    calls = fake_openai.count()
    with (p.out() / "results.jsonl").open("ab") as creator:  # a live process still creating the directory
        fcntl.flock(creator.fileno(), fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another promptlab run is writing to this directory"):
            run(p.artifact, p.suite, p.out(), provider=provider_for, **FAST)
    assert not (p.out() / "run.json").exists() and fake_openai.count() == calls
