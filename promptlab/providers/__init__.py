"""Model providers: OpenAI-compatible HTTP, Python callables, and the response cache in front of them."""

from promptlab.providers._base import BaseProvider, ChatRequest, ChatResponse, Provider, ToolCall, Usage, check_response
from promptlab.providers._cache import CACHE_MODES, CachedProvider, CacheMode, ResponseCache
from promptlab.providers._openai import OpenAIProvider, parse_retry_after
from promptlab.providers._python import PythonProvider, load_callable
from promptlab.providers._registry import build_provider, provider_spec, providers

__all__ = [
    "BaseProvider",
    "CACHE_MODES",
    "CacheMode",
    "CachedProvider",
    "ChatRequest",
    "ChatResponse",
    "OpenAIProvider",
    "Provider",
    "PythonProvider",
    "ResponseCache",
    "ToolCall",
    "Usage",
    "build_provider",
    "check_response",
    "load_callable",
    "parse_retry_after",
    "provider_spec",
    "providers",
]
