"""Prompt templates render in Jinja2's immutable sandbox: payloads run no code and end as one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from promptlab.artifacts import PromptArtifact
from promptlab.errors import TemplateError
from tests.conftest import ARTIFACT_YAML, CliResult


def _artifact(tmp_path: Path, content: str) -> Path:
    data = yaml.safe_load(ARTIFACT_YAML)
    data["messages"] = [{"role": "user", "content": content}]
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _payloads(marker: Path) -> list[str]:
    command = f"touch {marker}"
    return [
        "{{ cycler.__init__.__globals__.os.popen('" + command + "').read() }}",
        "{{ joiner.__init__.__globals__.os.system('" + command + "') }}",
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
        "{{ c(['touch', '" + str(marker) + "']) }}{% endif %}{% endfor %}",
        "{{ lipsum.__globals__['os'].popen('" + command + "').read() }}",
    ]


@pytest.mark.parametrize("index", range(4))
def test_render_refuses_payloads_with_one_line_naming_the_file(tmp_path: Path, index: int) -> None:
    marker = tmp_path / "pwned"
    path = _artifact(tmp_path, _payloads(marker)[index])
    artifact = PromptArtifact.from_file(path)
    with pytest.raises(TemplateError) as exc:
        artifact.render({})
    assert not marker.exists()
    assert str(exc.value).startswith(f"{path}: messages[0].content: ")
    assert "\n" not in str(exc.value)


def test_templates_cannot_mutate_the_values_they_are_given(tmp_path: Path) -> None:
    path = _artifact(tmp_path, "{{ items.append(4) }}{{ items }}")
    items = [1, 2, 3]
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        PromptArtifact.from_file(path).render({"items": items})
    assert items == [1, 2, 3]


def test_a_template_raising_an_error_is_a_template_error_not_a_crash(tmp_path: Path) -> None:
    path = _artifact(tmp_path, "{{ 1 / n }}")
    with pytest.raises(TemplateError, match=r"template failed: ZeroDivisionError"):
        PromptArtifact.from_file(path).render({"n": 0})


def test_cli_render_of_a_payload_exits_2_without_traceback(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    marker = tmp_path / "pwned"
    path = _artifact(tmp_path, _payloads(marker)[0])
    r = run_cli("artifact", "render", path, "--vars", "{}")
    assert r.code == 2
    assert not marker.exists()
    assert "Traceback" not in r.out + r.err
    assert r.err.count("\n") == 1 and r.err.startswith(f"error: {path}: messages[0].content: template refused")
