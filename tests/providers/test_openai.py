"""The OpenAI-compatible provider against a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlab.errors import ProviderError, SpecError
from promptlab.providers import ChatRequest, OpenAIProvider, build_provider, check_response, parse_retry_after
from promptlab.providers._openai import _parse, public_url
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


# -- hostile or broken answers ----------------------------------------------------------------------------------

KEY = "sk-proj-Q7rT2vX9kLmN4pZs8WcY1bHd6FjG3aEu"


def completion(message: object = None, *, usage: object = None, **top: object) -> bytes:
    """A chat-completions body with `message` (default: a plain text answer) and optional overrides."""
    msg = {"role": "assistant", "content": "fine"} if message is None else message
    body: dict[str, object] = {"model": "m", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}
    body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2} if usage is None else usage
    body.update(top)
    return orjson.dumps(body)


def tool_message(function: object) -> dict[str, object]:
    call = {"id": "c1", "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


MALFORMED_BODIES = {
    "arguments_object": completion(tool_message({"name": "lookup", "arguments": {"order_id": "42"}})),
    "arguments_number": completion(tool_message({"name": "lookup", "arguments": 42})),
    "tool_name_missing": completion(tool_message({"arguments": "{}"})),
    "tool_name_number": completion(tool_message({"name": 7, "arguments": "{}"})),
    "function_not_object": completion(tool_message("lookup")),
    "tool_calls_not_list": completion({"role": "assistant", "content": None, "tool_calls": {"id": "c1"}}),
    "tool_call_not_object": completion({"role": "assistant", "content": None, "tool_calls": ["c1"]}),
    "content_number": completion({"role": "assistant", "content": 42}),
    "content_object": completion({"role": "assistant", "content": {"text": "hi"}}),
    "content_part_number": completion({"role": "assistant", "content": [{"type": "text", "text": 5}]}),
    "message_not_object": completion("hello"),
    "choices_missing": orjson.dumps({"model": "m"}),
    "choices_empty": orjson.dumps({"choices": []}),
    "choices_not_list": orjson.dumps({"choices": {"message": {"content": "x"}}}),
    "choice_not_object": orjson.dumps({"choices": [3]}),
    "usage_negative": completion(usage={"prompt_tokens": -1000, "completion_tokens": 5}),
    "usage_string": completion(usage={"prompt_tokens": "10", "completion_tokens": 5}),
    "usage_bool": completion(usage={"prompt_tokens": True, "completion_tokens": 5}),
    "usage_fraction": completion(usage={"prompt_tokens": 1.5, "completion_tokens": 5}),
    "usage_not_object": completion(usage=[1, 2]),
    "finish_reason_number": orjson.dumps({"choices": [{"message": {"content": "x"}, "finish_reason": 1}]}),
    "model_object": completion(model={"name": "m"}),
    "top_level_list": b"[1, 2, 3]",
    "top_level_null": b"null",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_an_answer_of_the_wrong_shape_anywhere_is_malformed_response(fake_openai: FakeOpenAI, body: bytes) -> None:
    fake_openai.script(None, Fault.malformed(body))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert err.kind == "malformed_response", err
    assert str(err).startswith(f"malformed response from {fake_openai.base_url}: ")


def test_a_negative_token_count_is_malformed_and_never_a_negative_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Reply(content="ok", prompt_tokens=-1_000_000, completion_tokens=5))
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert err.kind == "malformed_response" and "usage.prompt_tokens" in str(err)


def test_content_parts_and_a_refusal_are_still_read(fake_openai: FakeOpenAI) -> None:
    parts = {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}]}
    fake_openai.script(None, Fault.malformed(completion(parts)))
    fake_openai.script(None, Fault.malformed(completion({"role": "assistant", "content": None, "refusal": "no"})))
    provider = OpenAIProvider(base_url=fake_openai.base_url)
    assert complete(provider, request()).text == "ab"  # type: ignore[attr-defined]
    assert complete(provider, request()).text == "no"  # type: ignore[attr-defined]


def key_fragments(text: str, key: str = KEY, n: int = 8) -> list[str]:
    """Every substring of `key` of `n` characters that occurs in `text`."""
    return [key[i : i + n] for i in range(len(key) - n + 1) if key[i : i + n] in text]


def html_echo_of_the_authorization_header(request: object) -> Fault:
    headers = getattr(request, "headers", {})
    page = f"<html><body><h1>401</h1><pre>Authorization: {headers.get('Authorization')}</pre></body></html>"
    return Fault.raw(page.encode(), status=401, content_type="text/html")


@pytest.mark.parametrize("padding", [0, 150, 170, 190, 230], ids=lambda n: f"key-at-{n}")
def test_an_html_error_page_echoing_the_key_never_shows_any_part_of_it(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, padding: int
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def page(req: object) -> Fault:
        echoed = getattr(req, "headers", {}).get("Authorization")
        return Fault.raw(f"<p>{'x' * padding}</p>{echoed}<p>denied</p>".encode(), status=401, content_type="text/html")

    fake_openai.script(None, page)
    err = failure(OpenAIProvider(base_url=fake_openai.base_url), request())
    assert err.kind == "auth_error"
    assert key_fragments(str(err)) == [], str(err)


@pytest.mark.parametrize(
    "echo",
    [
        lambda key: f"invalid api key {key[:20]}... provided",  # a cut prefix of the key
        lambda key: f"api-key: {key[::-1]}",  # not the key, but a header value: masked all the same
        lambda key: f"Incorrect API key provided: {key[3:-4]}",
    ],
    ids=["prefix", "api-key-header", "middle"],
)
def test_json_error_messages_lose_the_key_and_its_fragments(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, echo: Callable[[str], str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.script(None, Fault.http(401, message=echo(KEY)))
    err = str(failure(OpenAIProvider(base_url=fake_openai.base_url), request()))
    assert key_fragments(err) == [] and key_fragments(err, KEY[::-1]) == [], err


def test_a_gzip_bomb_stops_at_the_size_cap_with_bounded_memory(fake_openai: FakeOpenAI) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    bomb = packer.compress(b"\0" * (128 * 1024 * 1024)) + packer.flush()
    assert len(bomb) < 200_000
    fake_openai.script(None, Fault.raw(bomb, headers={"Content-Encoding": "gzip"}))
    provider = OpenAIProvider(base_url=fake_openai.base_url, max_response_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        err = failure(provider, request())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (err.kind, err.retryable) == ("response_too_large", False)
    assert peak < 32 * 1024 * 1024  # the 128 MiB inflated body was never held


def test_a_plain_answer_over_the_cap_is_response_too_large(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, Reply(content="x" * 5000), Reply(content="x" * 5000))
    assert failure(OpenAIProvider(base_url=fake_openai.base_url, max_response_bytes=4000), request()).kind == (
        "response_too_large"
    )
    assert complete(OpenAIProvider(base_url=fake_openai.base_url, max_response_bytes=8000), request()) is not None
    with pytest.raises(SpecError, match="max_response_bytes"):
        build_provider({"openai": {"max_response_bytes": 0}})


def test_a_password_in_base_url_is_neither_recorded_nor_shown(fake_openai: FakeOpenAI) -> None:
    base = fake_openai.base_url.replace("http://", "http://alice:hunter2-secret@") + "?api-key=qs-secret&v=2"
    provider = OpenAIProvider(base_url=base)
    shown = repr(provider.spec_data())
    assert "hunter2" not in shown and "alice" not in shown and "qs-secret" not in shown
    assert provider.spec_data() == {"openai": {"base_url": fake_openai.base_url + "?api-key=***&v=2"}}
    fake_openai.script(None, Fault.http(500, message="upstream saw alice:hunter2-secret and qs-secret"))
    err = str(failure(provider, request()))
    assert "hunter2" not in err and "qs-secret" not in err, err
    assert public_url("https://u:p@[::1]:8443/v1?token=t&x=1") == "https://[::1]:8443/v1?token=***&x=1"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    ["choices", "message", "content", "tool_calls", "function", "name", "arguments", "id", "usage",
     "prompt_tokens", "completion_tokens", "finish_reason", "model", "refusal", "text", "type"]
)  # fmt: skip
# Objects keyed by the fields the parser reads, so generated bodies reach deep into it.
COMPLETION_LIKE = st.recursive(
    JSON_VALUES,
    lambda inner: st.lists(inner, min_size=1, max_size=2) | st.dictionaries(FIELD_NAMES, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=COMPLETION_LIKE.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64))
def test_the_parser_returns_a_checked_response_or_malformed_response_for_any_body(body: bytes) -> None:
    endpoint = OpenAIProvider(base_url="http://127.0.0.1:9/v1")._endpoint(None)
    raw = body
    try:
        response = _parse(raw, 0.1, endpoint)
    except ProviderError as exc:
        assert exc.kind == "malformed_response"
        return
    assert check_response(response) is response
