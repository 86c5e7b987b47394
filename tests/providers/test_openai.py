"""The OpenAI-compatible provider against a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from promptlab.errors import ProviderError, SpecError
from promptlab.providers import ChatRequest, OpenAIProvider, build_provider, parse_retry_after
from tests._support.fake_openai import FakeOpenAI, Fault, Reply


def request(text: str = "hello", **options: object) -> ChatRequest:
    return ChatRequest(model="test-model", messages=[{"role": "user", "content": text}], **options)  # type: ignore[arg-type]


def complete(provider: OpenAIProvider, req: ChatRequest) -> object:
    async def go() -> object:
        try:
            return await provider.complete(req)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def failure(provider: OpenAIProvider, req: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as exc:
        complete(provider, req)
    return exc.value


def test_answer_text_usage_finish_reason_and_model_are_parsed(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("hello", Reply(content="hi there", prompt_tokens=12, completion_tokens=3, model="m-2024"))
    response = complete(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert response.text == "hi there"  # type: ignore[attr-defined]
    assert response.usage.input_tokens == 12 and response.usage.output_tokens == 3  # type: ignore[attr-defined]
    assert response.finish_reason == "stop" and response.model == "m-2024"  # type: ignore[attr-defined]
    assert response.latency_s > 0 and response.cached is False  # type: ignore[attr-defined]


def test_request_body_carries_sampling_tools_and_json_schema(fake_openai: FakeOpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    req = request(temperature=0.2, max_tokens=50, seed=7, tools=tools, response_format=schema)
    complete(OpenAIProvider(base_url=fake_openai.base_url), req)
    (sent,) = fake_openai.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body == req.body()
    assert sent.body is not None and sent.body["response_format"]["json_schema"]["schema"] == schema
    assert sent.body["tools"] == tools and sent.body["temperature"] == 0.2 and sent.body["seed"] == 7


def test_tool_calls_are_parsed_with_raw_arguments(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Reply(tool_calls=(("lookup_order", {"order_id": "42"}), ("noop", "{broken"))))
    response = complete(OpenAIProvider(base_url=fake_openai.base_url), request())
    calls = response.tool_calls  # type: ignore[attr-defined]
    assert [c.name for c in calls] == ["lookup_order", "noop"]
    assert orjson.loads(calls[0].arguments) == {"order_id": "42"} and calls[1].arguments == "{broken"
    assert response.finish_reason == "tool_calls" and response.text is None  # type: ignore[attr-defined]


def test_rate_limit_is_retryable_with_retry_after_seconds(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Fault.http(429, retry_after=7, message="slow down"))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert (err.kind, err.retryable, err.status, err.retry_after) == ("rate_limited", True, 429, 7.0)
    assert "slow down" in str(err)


def test_retry_after_accepts_http_dates_and_milliseconds() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after({"Retry-After": soon}) or 0) <= 30
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, "server_error", True),
        (503, "server_error", True),
        (408, "http_error", True),
        (409, "http_error", True),
        (400, "http_error", False),
        (401, "auth_error", False),
        (404, "http_error", False),
    ],
)
def test_http_statuses_map_to_kinds(fake_openai: FakeOpenAI, status: int, kind: str, retryable: bool) -> None:
    fake_openai.script(None, Fault.http(status))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert (err.kind, err.retryable, err.status) == (kind, retryable, status)


def test_slow_answer_past_the_timeout_is_a_retryable_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Reply(content="late", delay_s=2))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url, timeout_s=0.2), request())
    assert (err.kind, err.retryable) == ("timeout", True)


def test_configure_overrides_the_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Reply(content="late", delay_s=2))
    provider = OpenAIProvider(base_url=fake_openai.base_url, timeout_s=30)
    provider.configure(concurrency=4, timeout_s=0.2)
    assert failure(provider, request()).kind == "timeout"


@pytest.mark.parametrize("fault", [Fault.drop(), Fault.truncate()], ids=["dropped", "truncated"])
def test_broken_connections_are_retryable(fake_openai: FakeOpenAI, fault: Fault) -> None:
    fake_openai.script(None, fault)
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert (err.kind, err.retryable) == ("connection_error", True)


@pytest.mark.parametrize("body", [b'{"choices": [', b'{"choices": []}', b'"just a string"', b"<html>oops</html>"])
def test_malformed_bodies_are_malformed_response(fake_openai: FakeOpenAI, body: bytes) -> None:
    fake_openai.script(None, Fault.malformed(body))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert err.kind == "malformed_response"


def test_remote_endpoint_without_key_is_a_spec_error_before_any_connection(fake_openai: FakeOpenAI) -> None:
    provider = OpenAIProvider(base_url="https://models.example.invalid/v1")
    expected = re.escape("no API key for https://models.example.invalid/v1: set OPENAI_API_KEY")
    with pytest.raises(SpecError, match=expected):
        complete(provider, request())
    with pytest.raises(SpecError, match="MY_KEY"):
        OpenAIProvider(base_url="https://models.example.invalid/v1", api_key_env="MY_KEY").check_ready(request())


def test_loopback_endpoint_needs_no_key(fake_openai: FakeOpenAI) -> None:
    complete(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert "Authorization" not in fake_openai.requests[0].headers


def test_key_is_sent_as_bearer_and_redacted_from_errors(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123")
    fake_openai.script(None, Fault.http(401, message="bad key sk-test-SECRET-123"))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert fake_openai.requests[0].headers["Authorization"] == "Bearer sk-test-SECRET-123"
    assert "SECRET" not in str(err) and "***" in str(err)
    assert "SECRET" not in repr(OpenAIProvider(base_url=fake_openai.base_url).spec_data())


def test_endpoint_precedence_spec_then_artifact_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as spec_server, FakeOpenAI() as artifact_server, FakeOpenAI() as env_server:
        monkeypatch.setenv("OPENAI_BASE_URL", env_server.base_url)
        complete(OpenAIProvider(), request("one"))
        complete(OpenAIProvider(), request("two", base_url=artifact_server.base_url))
        complete(OpenAIProvider(base_url=spec_server.base_url), request("three", base_url=artifact_server.base_url))
        assert [r.user_text for r in env_server.requests] == ["one"]
        assert [r.user_text for r in artifact_server.requests] == ["two"]
        assert [r.user_text for r in spec_server.requests] == ["three"]


def test_one_provider_serves_several_event_loops(fake_openai: FakeOpenAI) -> None:
    provider = OpenAIProvider(base_url=fake_openai.base_url)
    complete(provider, request("a"))
    complete(provider, request("b"))
    assert fake_openai.count() == 2


def test_bad_base_url_and_options_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="base_url: expected an http"):
        build_provider({"openai": {"base_url": "ftp://x"}})
    with pytest.raises(SpecError, match="timeout_s must be positive"):
        build_provider({"openai": {"timeout_s": 0}})
