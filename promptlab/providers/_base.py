"""The provider seam: a rendered chat request in, a response out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from promptlab._util.canonical import content_hash

__all__ = ["ChatRequest", "ChatResponse", "Provider", "ToolCall", "Usage"]


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
