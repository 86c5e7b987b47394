"""The provider seam: a rendered chat request in, a response out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from promptlab._util.canonical import content_hash
from promptlab._util.spec import Pluggable
from promptlab.errors import ProviderError

__all__ = ["BaseProvider", "ChatRequest", "ChatResponse", "Provider", "ToolCall", "Usage", "check_response"]


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """A tool call the model made."""

    id: str
    name: str
    arguments: str
    """The arguments exactly as the model wrote them (a JSON text, possibly malformed)."""


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token usage of one call."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    """A fully rendered request: everything that determines the model's answer."""

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    """A JSON Schema the output must follow (sent as OpenAI `json_schema` response format)."""
    base_url: str | None = None
    sample: int = 0
    """Which repeat this is: distinct samples of the same request are cached separately."""
    case_id: str | None = None
    """The case this request serves, for error messages and cache records; not part of the request or its key."""

    def body(self) -> dict[str, Any]:
        """The OpenAI chat-completions request body (without `stream`)."""
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        for key in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.tools:
            body["tools"] = self.tools
        if self.response_format is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": self.response_format},
            }
        return body

    def cache_key(self) -> str:
        """Content address of this request: the canonical hash of the body and the sample index."""
        return content_hash({"body": self.body(), "sample": self.sample})


@dataclass(frozen=True, kw_only=True)
class ChatResponse:
    """What a provider returned."""

    text: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    """Wall time of the call; for a cache hit, the latency recorded when it was first answered."""
    finish_reason: str | None = None
    cached: bool = False
    """True when served from the response cache (exclude from latency and cost figures)."""
    model: str | None = None
    """The model name the provider reports having used."""


def _token_count(value: object) -> bool:
    return type(value) is int and value >= 0


def check_response(response: object, *, source: str = "provider") -> ChatResponse:
    """Return `response` if every field has the type a `ChatResponse` promises, else raise `ProviderError`.

    The runner calls this on every answer (from any provider or the cache), so a custom provider or a corrupt
    cache entry that puts a dict in `text`, a number in a tool call's arguments or a negative token count becomes
    that case's `malformed_response` error instead of a crash or a negative cost.
    """
    problem: str | None = None
    if not isinstance(response, ChatResponse):
        problem = f"returned {type(response).__name__}, expected a ChatResponse"
    elif response.text is not None and not isinstance(response.text, str):
        problem = f"text is {type(response.text).__name__}, expected a string or None"
    elif not isinstance(response.tool_calls, list):
        problem = f"tool_calls is {type(response.tool_calls).__name__}, expected a list"
    elif not isinstance(response.usage, Usage):
        problem = f"usage is {type(response.usage).__name__}, expected Usage"
    elif not (_token_count(response.usage.input_tokens) and _token_count(response.usage.output_tokens)):
        problem = (
            f"token counts must be non-negative integers, got input {response.usage.input_tokens!r} "
            f"and output {response.usage.output_tokens!r}"
        )
    elif not (
        type(response.latency_s) in (int, float) and math.isfinite(response.latency_s) and response.latency_s >= 0
    ):
        problem = f"latency_s is {response.latency_s!r}, expected a non-negative number"
    elif response.finish_reason is not None and not isinstance(response.finish_reason, str):
        problem = f"finish_reason is {type(response.finish_reason).__name__}, expected a string or None"
    elif response.model is not None and not isinstance(response.model, str):
        problem = f"model is {type(response.model).__name__}, expected a string or None"
    else:
        for i, call in enumerate(response.tool_calls):
            if not isinstance(call, ToolCall):
                problem = f"tool_calls[{i}] is {type(call).__name__}, expected a ToolCall"
            elif not (isinstance(call.id, str) and isinstance(call.name, str) and call.name):
                problem = f"tool_calls[{i}]: id and name must be strings (name non-empty)"
            elif not isinstance(call.arguments, str):
                problem = f"tool_calls[{i}].arguments is {type(call.arguments).__name__}, expected a JSON string"
            if problem is not None:
                break
    if problem is not None:
        raise ProviderError(f"malformed response from {source}: {problem}", kind="malformed_response")
    assert isinstance(response, ChatResponse)
    return response


@runtime_checkable
class Provider(Protocol):
    """Anything that answers chat requests. Raise `ProviderError` (with `retryable`) on failure."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer one request."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class BaseProvider(Pluggable, ABC):
    """Base class of registered providers: subclass as a keyword-only dataclass, register in `providers`."""

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer one request; raise `ProviderError` (with `retryable`) on failure."""

    async def aclose(self) -> None:
        """Release connections."""

    def configure(self, *, concurrency: int | None = None, timeout_s: float | None = None) -> None:
        """Size connection pools to the run's concurrency and set the per-request timeout (before the first call)."""

    def check_ready(self, request: ChatRequest) -> None:
        """Raise `SpecError` if a real call for `request` cannot be made (e.g. no API key); never calls out."""

    def spec_data(self) -> Any:
        """The spec that rebuilds this provider, in its YAML short form (never holds a key)."""
        return self.to_spec().model_dump(mode="json")
