"""The `python:` callable provider."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from pathlib import Path

import pytest

from promptlab.errors import ProviderError, SpecError
from promptlab.providers import BaseProvider, ChatRequest, ChatResponse, PythonProvider, build_provider

MODEL = textwrap.dedent(
    """\
    import asyncio, threading, time
    from promptlab.errors import ProviderError
    from promptlab.providers import ChatResponse, Usage

    def text(request):
        return "echo " + request.messages[-1]["content"] + " on " + threading.current_thread().name

    async def structured(request):
        return ChatResponse(text="ok", usage=Usage(input_tokens=3, output_tokens=1), latency_s=1.5)

    def boom(request):
        raise ValueError("model exploded")

    def limited(request):
        raise ProviderError("busy", kind="rate_limited", retryable=True, retry_after=2)

    def wrong(request):
        return 42

    def slow(request):
        time.sleep(1)
        return "late"

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "plmodel_fixture.py"
    path.write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def call(provider: BaseProvider, text: str = "hi") -> ChatResponse:
    async def go() -> ChatResponse:
        try:
            return await provider.complete(ChatRequest(model="m", messages=[{"role": "user", "content": text}]))
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_sync_callable_returning_text_runs_off_the_event_loop(model_file: Path) -> None:
    response = call(build_provider("python:plmodel_fixture:text"), "hi")
    assert response.text is not None and response.text.startswith("echo hi on ")
    assert threading.main_thread().name not in response.text
    assert response.latency_s > 0 and response.model == "m"


def test_async_callable_returning_a_response_keeps_its_latency(model_file: Path) -> None:
    response = call(build_provider("python:plmodel_fixture:structured"))
    assert (response.text, response.usage.input_tokens, response.latency_s) == ("ok", 3, 1.5)


def test_file_path_form_is_found_next_to_the_artifact(model_file: Path, tmp_path: Path) -> None:
    provider = build_provider("python:plmodel_fixture.py:text", base_dir=tmp_path)
    assert isinstance(provider, PythonProvider)
    assert provider.spec_data() == "python:plmodel_fixture.py:text"
    assert call(provider).text is not None


def test_callable_exceptions_become_non_retryable_provider_errors(model_file: Path) -> None:
    with pytest.raises(ProviderError, match="raised ValueError: model exploded") as exc:
        call(build_provider("python:plmodel_fixture:boom"))
    assert (exc.value.kind, exc.value.retryable) == ("provider_exception", False)


def test_provider_errors_from_the_callable_pass_through(model_file: Path) -> None:
    with pytest.raises(ProviderError) as exc:
        call(build_provider("python:plmodel_fixture:limited"))
    assert (exc.value.kind, exc.value.retryable, exc.value.retry_after) == ("rate_limited", True, 2)


def test_wrong_return_type_is_a_bad_response(model_file: Path) -> None:
    with pytest.raises(ProviderError, match="returned int; expected ChatResponse or str"):
        call(build_provider("python:plmodel_fixture:wrong"))


def test_configured_timeout_applies_to_callables(model_file: Path) -> None:
    provider = build_provider("python:plmodel_fixture:slow")
    provider.configure(concurrency=2, timeout_s=0.1)
    with pytest.raises(ProviderError) as exc:
        call(provider)
    assert (exc.value.kind, exc.value.retryable) == ("timeout", True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:plmodel_fixture", "expected python:package.module:function"),
        ("python:no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("python:plmodel_fixture:missing", "has no attribute 'missing'"),
        ("python:plmodel_fixture:NOT_CALLABLE", "'NOT_CALLABLE' is a int, expected a function"),
        ("python:nowhere/model.py:f", "file not found: nowhere/model.py"),
    ],
)
def test_bad_callable_paths_are_one_line_spec_errors(model_file: Path, spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as exc:
        build_provider(spec)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(f"provider '{spec}'")
