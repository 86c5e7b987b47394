"""The provider seam: a rendered chat request in, a response out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from promptlab._util.canonical import content_hash
from promptlab._util.spec import Pluggable

__all__ = ["BaseProvider", "ChatRequest", "ChatResponse", "Provider", "ToolCall", "Usage"]


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
