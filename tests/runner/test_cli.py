"""`promptlab run`: the summary paragraph, one-line errors with exit code 2 for bad provider set-ups, and exit code 4
when too many cases could not be evaluated."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptlab.runner import RunDir
from tests._support.fake_openai import FakeOpenAI, Fault, fake_openai
from tests.conftest import CliResult
from tests.runner._project import Project, simple_cases, write_project

__all__ = ["fake_openai"]


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return write_project(tmp_path / "p", simple_cases(4), cache="cache")


def args(p: Project, *extra: str) -> list[str]:
    return ["run", "--artifact", str(p.artifact), "--suite", str(p.suite), "--out", str(p.out()), *extra]


def one_error_line(result: CliResult) -> str:
    assert result.code == 2, result
    assert result.out == "" and "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def test_run_prints_a_one_paragraph_summary(
    run_cli: Callable[..., CliResult], proj: Project, fake_openai: FakeOpenAI
) -> None:
    provider = f"{{openai: {{base_url: '{fake_openai.base_url}'}}}}"
    result = run_cli(*args(proj, "--provider", provider, "--concurrency", "2", "--repeats", "2", "--no-progress"))
    assert result.code == 0, result.err
    assert result.out.startswith(f"Run complete: 8 rows written to {proj.out()}; pass rate 50.0% (4 pass, 4 fail, ")
    assert "cache hits 0/8; 8 provider calls (0 retries); wall time " in result.out
    assert result.out.count("\n") == 1
    manifest = RunDir.open(proj.out()).manifest
    assert (manifest.repeats, manifest.concurrency, manifest.cache_mode) == (2, 2, "read-write")


def test_read_only_replay_from_the_suite_cache_needs_no_key_nor_server(
    run_cli: Callable[..., CliResult], proj: Project, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    provider = f"{{openai: {{base_url: '{fake_openai.base_url}'}}}}"
    assert run_cli(*args(proj, "--provider", provider)).code == 0
    replay = run_cli(
        "run",
        "--artifact",
        str(proj.artifact),
        "--suite",
        str(proj.suite),
        "--out",
        str(tmp_path / "replay"),
        "--cache-mode",
        "read-only",
    )
    assert replay.code == 0, replay.err
    assert "cache hits 4/4; 0 provider calls" in replay.out and fake_openai.count() == 4


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("nope", "error: unknown provider 'nope' (known: openai, python)"),
        ("python:no_such_module_xyz:respond", "error: provider 'python:no_such_module_xyz:respond': cannot import"),
        ("python:just_a_module", "error: provider 'python:just_a_module': expected python:package.module:function"),
        (
            "{openai: {base_url: https://api.example.invalid/v1}}",
            "error: provider 'openai': no API key for https://api.example.invalid/v1: set OPENAI_API_KEY",
        ),
        ("{openai: {api_key: sk-x}}", "error: provider 'openai': unknown argument 'api_key'"),
    ],
)
def test_bad_provider_configuration_is_one_line_and_exit_2(
    run_cli: Callable[..., CliResult], proj: Project, provider: str, message: str
) -> None:
    line = one_error_line(run_cli(*args(proj, "--provider", provider, "--cache-mode", "off")))
    assert line.startswith(message)
    assert not proj.out().exists()


def test_the_artifacts_own_remote_provider_without_a_key_is_exit_2(
    run_cli: Callable[..., CliResult], proj: Project
) -> None:
    line = one_error_line(run_cli(*args(proj)))
    assert line.startswith("error: provider 'openai': no API key for https://api.openai.com/v1")


def test_malformed_inline_provider_yaml_is_exit_2(run_cli: Callable[..., CliResult], proj: Project) -> None:
    result = run_cli(*args(proj, "--provider", "{openai: [unclosed"))
    assert result.code == 2 and "--provider" in result.err and "Traceback" not in result.err


def test_read_only_miss_names_the_case_and_exits_2(run_cli: Callable[..., CliResult], proj: Project) -> None:
    line = one_error_line(run_cli(*args(proj, "--cache-mode", "read-only")))
    assert line.startswith("error: no cached response for case 'c00' (sample 0, key sha256:")
    assert "(and 3 more) in read-only cache" in line


def test_resume_into_a_different_run_is_exit_2(
    run_cli: Callable[..., CliResult], proj: Project, fake_openai: FakeOpenAI
) -> None:
    provider = f"{{openai: {{base_url: '{fake_openai.base_url}'}}}}"
    assert run_cli(*args(proj, "--provider", provider)).code == 0
    line = one_error_line(run_cli(*args(proj, "--provider", provider, "--repeats", "3", "--resume")))
    assert "cannot resume: the run's repeats is 1 but this run's is 3" in line


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_run_where_every_call_failed_exits_4_with_errors_by_kind(
    run_cli: Callable[..., CliResult], proj: Project
) -> None:
    provider = f"{{openai: {{base_url: 'http://127.0.0.1:{closed_port()}/v1'}}}}"
    result = run_cli(*args(proj, "--provider", provider, "--retries", "0", "--cache-mode", "off", "--no-progress"))
    assert result.code == 4, result
    assert result.out.startswith("Run complete: 4 rows written") and "Traceback" not in result.err
    (line,) = result.err.strip().splitlines()
    assert line == (
        "error: 4 of 4 rows are errors (connection_error 4): error rate 100.0% exceeds --max-error-rate 0.0%; "
        f"the rows are kept in {proj.out()}"
    )
    assert len(RunDir.open(proj.out()).rows()) == 4


def test_errors_within_max_error_rate_exit_0_and_are_summarised_by_kind(
    run_cli: Callable[..., CliResult], proj: Project, fake_openai: FakeOpenAI
) -> None:
    fake_openai.always("c02", Fault.malformed(b'{"choices": [{"message": {"content": 42}}]}'))
    provider = f"{{openai: {{base_url: '{fake_openai.base_url}'}}}}"
    common = ("--provider", provider, "--retries", "0", "--cache-mode", "off", "--no-progress")
    result = run_cli(*args(proj, *common, "--max-error-rate", "0.5"))
    assert result.code == 0, result
    assert result.err.strip() == "warning: 1 of 4 rows are errors (malformed_response 1)"
    strict = run_cli(*args(proj, *common, "--resume"))  # the default, 0, allows none
    assert strict.code == 4 and "1 of 4 rows are errors (malformed_response 1): error rate 25.0%" in strict.err


def test_failed_evaluations_are_not_errors_for_the_exit_code(
    run_cli: Callable[..., CliResult], proj: Project, fake_openai: FakeOpenAI
) -> None:
    provider = f"{{openai: {{base_url: '{fake_openai.base_url}'}}}}"
    result = run_cli(*args(proj, "--provider", provider, "--cache-mode", "off"))
    assert result.code == 0 and "pass rate 50.0% (2 pass, 2 fail" in result.out and result.err == ""
