"""Shared test fixtures: small artifacts, datasets and a CLI runner."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptlab.cli import main

ARTIFACT_YAML = textwrap.dedent(
    """\
    name: triage
    version: v1
    owner: support-ml@example.com
    messages:
      - role: system
        content: |
          You triage support tickets for {{ company }}.
          Answer as JSON.
      - role: user
        content: "{{ message }}"
    model:
      provider: openai
      name: gpt-4o-mini
      temperature: 0.2
      input_price_per_mtok: 0.15
      output_price_per_mtok: 0.6
    tools:
      schema_version: "1"
      functions:
        - function:
            name: lookup_order
            description: Look up an order.
            parameters:
              type: object
              properties:
                order_id: {type: string}
              required: [order_id]
    response_format:
      type: object
      properties:
        category: {type: string}
        reply: {type: string}
      required: [category, reply]
      additionalProperties: false
    known_limitations:
      - English only
    """
)


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    """A valid artifact file."""
    path = tmp_path / "v1.yaml"
    path.write_text(ARTIFACT_YAML)
    return path


@dataclass
class CliResult:
    """What a CLI invocation printed and returned."""

    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `promptlab ARGS...` in-process and capture exit code and output."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = exc.value.code
        return CliResult(code=code if isinstance(code, int) else 1, out=captured.out, err=captured.err)

    return invoke
