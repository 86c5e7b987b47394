"""`RunOptions`: one options value for `run` and `arun`; keyword arguments still work and override it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, get_type_hints

import pytest

from promptlab.errors import InputError
from promptlab.runner import RunDir, RunOptions, run
from promptlab.runner._options import RunOptionsArgs
from tests._support.fake_openai import FakeOpenAI
from tests.runner._project import Project


def test_every_option_is_also_a_keyword_argument() -> None:
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    assert set(get_type_hints(RunOptionsArgs)) == fields


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency: expected at least 1, got 0"),
        ({"repeats": 0}, "repeats: expected at least 1, got 0"),
        ({"max_retries": -1}, "retries: expected 0 or more, got -1"),
        ({"timeout_s": 0}, "timeout: expected a positive number of seconds, got 0"),
        ({"max_turns": 0}, "max_turns: expected at least 1, got 0"),
    ],
)
def test_bad_options_are_refused_when_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RunOptions(**options)


def test_keywords_override_the_options_value(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    options = RunOptions(provider=provider_for, progress=False, backoff_s=0.01, repeats=3)
    summary = run(p.artifact, p.suite, p.out(), options=options, repeats=2)
    assert (summary.rows, summary.expected_rows) == (12, 12)
    assert RunDir.open(p.out()).manifest.repeats == 2
    assert options.repeats == 3  # the caller's value is not changed


def test_a_bad_keyword_override_is_refused_before_any_call(
    project: Callable[..., Project], provider_for: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    p = project()
    with pytest.raises(InputError, match="concurrency: expected at least 1"):
        run(p.artifact, p.suite, p.out(), options=RunOptions(provider=provider_for), concurrency=0)
    assert fake_openai.count() == 0 and not p.out().exists()
