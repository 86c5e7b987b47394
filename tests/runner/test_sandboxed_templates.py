"""A template that reaches for Python internals is refused by the sandbox on the run path: the case's error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptlab.runner import RunDir, run
from tests._support.fake_openai import FakeOpenAI
from tests.runner._project import Project, simple_cases


def test_a_template_payload_is_the_cases_error_and_runs_no_code(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
    p = project(simple_cases(2), system=payload)
    run(p.artifact, p.suite, p.out(), provider=provider_for, progress=False, backoff_s=0.01)
    rows = RunDir.open(p.out()).rows()
    assert not marker.exists()
    assert [r["outcome"] for r in rows] == ["error", "error"]
    assert {r["error"]["kind"] for r in rows} == {"template_error"}
    message = rows[0]["error"]["message"]
    assert "refused by the sandbox" in message and str(p.artifact) in message and "\n" not in message
    assert fake_openai.count() == 0
