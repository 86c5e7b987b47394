"""OpenAI-compatible chat completions over HTTP (OpenAI, vLLM, Ollama, llama.cpp, LM Studio, gateways).

Built on one shared aiohttp `ClientSession` whose connector is sized to the run's concurrency, with orjson for
encoding and decoding. The official SDK costs about 2.3 ms of CPU per call here against 0.4 ms for bare aiohttp,
and on two cores that CPU is the throughput ceiling, so the per-call path stays this thin.

The endpoint is, first to last: the spec's `base_url`, the artifact's `model.base_url` (`ChatRequest.base_url`),
`OPENAI_BASE_URL`, then `https://api.openai.com/v1`. The key comes from `OPENAI_API_KEY` (or the variable named
by `api_key_env`) and is checked only when a real call is made, so replaying from a cache never needs one. A
loopback endpoint works without a key.

Nothing a server sends is trusted. Keys, passwords in `base_url` (`https://user:secret@host/v1`) and secret query
parameters (`?api-key=...`) never appear in specs, errors or run directories: the endpoint is shown without them,
and an error body is redacted (the key, any 8-character fragment of it, `Bearer ...` and `api-key: ...` echoes)
before it is cut to a snippet. A body is read in chunks up to `max_response_bytes` after decompression (a gzip bomb
stops at the cap), and an answer of the wrong shape anywhere is a `malformed_response` error for that case.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import orjson
from yarl import URL

from promptlab.errors import ProviderError, SpecError
from promptlab.providers._base import BaseProvider, ChatRequest, ChatResponse, ToolCall, Usage
from promptlab.providers._registry import providers

__all__ = ["OpenAIProvider", "parse_retry_after", "public_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# 408 (request timeout) and 409 (conflict, e.g. a lock) are transient by definition; other 4xx are our fault.
RETRYABLE_4XX = frozenset({408, 409, 429})
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
SNIPPET_CHARS = 200
# How much of an error body is decoded and redacted before the snippet is cut from it.
SCANNED_BYTES = 16 * 1024
# A fragment of a secret this long or longer is masked wherever it appears (a server that echoes a cut header).
FRAGMENT_CHARS = 8
SECRET_QUERY_NAMES = re.compile(r"(?i)(key|token|secret|password|passwd|pwd|auth|signature|sig|credential)")
# Header or parameter echoes (`Bearer sk-...`, `api-key: ...`): the value is masked whatever the key is.
HEADER_ECHOES = re.compile(
    r"(?i)(bearer\s+|(?:(?:x-)?api[-_]?key|authorization|token)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"'<>,;&]+"
)


def public_url(url: str) -> str:
    """`url` as it may be shown or recorded: without user info, and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    query = urlencode(
        [(k, "***" if SECRET_QUERY_NAMES.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _url_secrets(url: str) -> tuple[str, ...]:
    try:
        parts = urlsplit(url)
        found = [parts.username or "", parts.password or ""]
    except ValueError:
        return ()
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if SECRET_QUERY_NAMES.search(k)]
    return tuple(s for s in found if s)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); `None` if absent."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, kw_only=True)
class _Endpoint:
    url: URL
    shown: str
    """The base URL as errors show it (see `public_url`)."""
    headers: dict[str, str]
    secrets: tuple[str, ...]
    """Everything redacted from text that leaves the provider: the key, user info and secret query values."""


@providers.register("openai")
@dataclass(kw_only=True)
class OpenAIProvider(BaseProvider):
    """Any OpenAI-compatible `/chat/completions` endpoint, with tools and JSON-schema response formats."""

    base_url: str | None = None
    """Endpoint base URL (e.g. `http://127.0.0.1:8000/v1`); overrides the artifact's and `OPENAI_BASE_URL`."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (the key itself is never part of a spec)."""
    timeout_s: float = 60.0
    """Per-request timeout in seconds (a run's `--timeout` overrides it)."""
    max_connections: int | None = None
    """Connection-pool size; defaults to the run's concurrency."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """Largest answer accepted, counted after decompression; a bigger one is that case's `response_too_large`."""

    def __post_init__(self) -> None:
        if self.base_url is not None:
            _check_url(self.base_url, "base_url")
        if type(self.timeout_s) not in (int, float) or not self.timeout_s > 0:
            raise SpecError(f"provider 'openai': timeout_s must be positive, got {self.timeout_s!r}")
        if type(self.max_response_bytes) is not int or self.max_response_bytes < 1:
            raise SpecError(
                f"provider 'openai': max_response_bytes must be a positive integer, got {self.max_response_bytes!r}"
            )
        self._concurrency = self.max_connections or 100
        self._timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._endpoints: dict[str | None, _Endpoint] = {}

    def configure(self, *, concurrency: int | None = None, timeout_s: float | None = None) -> None:
        """Size the connection pool and set the per-request timeout."""
        if concurrency is not None and self.max_connections is None:
            self._concurrency = max(1, concurrency)
        if timeout_s is not None:
            self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def check_ready(self, request: ChatRequest) -> None:
        """Resolve the endpoint and key for `request` (raises `SpecError` when a remote endpoint has no key)."""
        self._endpoint(request.base_url)

    def spec_data(self) -> Any:
        """The spec, with the base URL's user info and secret query values removed (see `public_url`)."""
        data = super().spec_data()
        if self.base_url is not None and isinstance(data, dict):
            for args in data.values():
                if isinstance(args, dict) and "base_url" in args:
                    args["base_url"] = public_url(self.base_url)
        return data

    def _endpoint(self, request_base_url: str | None) -> _Endpoint:
        endpoint = self._endpoints.get(request_base_url)
        if endpoint is not None:
            return endpoint
        base = self.base_url or request_base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        _check_url(base, "base_url")
        base = base.rstrip("/")
        key = os.environ.get(self.api_key_env) or None
        host = (urlsplit(base).hostname or "").lower()
        shown = public_url(base)
        if key is None and not (host in LOOPBACK_HOSTS or host.startswith("127.")):
            raise SpecError(
                f"provider 'openai': no API key for {shown}: set {self.api_key_env} "
                "(or use a loopback base_url, or replay from a read-only cache)"
            )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        secrets = tuple(sorted({*_url_secrets(base), *((key,) if key else ())}, key=len, reverse=True))
        url = URL(base)  # keeps a query string (`?api-version=...`) after the path, where gateways expect it
        url = url.with_path(url.path.rstrip("/") + "/chat/completions", keep_query=True)
        endpoint = _Endpoint(url=url, shown=shown, headers=headers, secrets=secrets)
        self._endpoints[request_base_url] = endpoint
        return endpoint

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            # A session belongs to one event loop; a provider reused from another loop gets a fresh one.
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._loop = loop
        return self._session

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one chat-completions request."""
        endpoint = self._endpoint(request.base_url)
        session = self._client()
        payload = orjson.dumps(request.body())
        started = time.perf_counter()
        try:
            async with session.post(
                endpoint.url, data=payload, headers=endpoint.headers, timeout=self._timeout
            ) as resp:
                status = resp.status
                headers = resp.headers
                raw = await _read_capped(resp, self.max_response_bytes, endpoint)
        except TimeoutError:
            raise ProviderError(
                f"timed out after {self._timeout.total:g}s waiting for {endpoint.shown}", kind="timeout", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                _redact(f"connection to {endpoint.shown} failed: {type(exc).__name__}: {exc}", endpoint.secrets),
                kind="connection_error",
                retryable=True,
            ) from None
        latency = time.perf_counter() - started
        if status >= 300:
            raise _status_error(status, raw, headers, endpoint)
        return _parse(raw, latency, endpoint)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def _read_capped(resp: aiohttp.ClientResponse, cap: int, endpoint: _Endpoint) -> bytes:
    """The decoded body, read chunk by chunk so that an oversized (or decompression-bomb) answer stops at `cap`."""
    declared = resp.content_length
    if declared is not None and declared > cap and not resp.headers.get("Content-Encoding"):
        raise _too_large(cap, endpoint)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            raise _too_large(cap, endpoint)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(cap: int, endpoint: _Endpoint) -> ProviderError:
    return ProviderError(
        f"response from {endpoint.shown} exceeds max_response_bytes ({cap} bytes after decompression)",
        kind="response_too_large",
    )


def _check_url(url: str, field: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except (ValueError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise SpecError(
            f"provider 'openai': {field}: expected an http(s) URL such as http://127.0.0.1:8000/v1, "
            f"got {public_url(url) if isinstance(url, str) else url!r}"
        )


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Remove every secret, every fragment of one (`FRAGMENT_CHARS` or longer) and header echoes from `text`."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = HEADER_ECHOES.sub(r"\g<1>***", text)
    for secret in secrets:
        if len(secret) >= FRAGMENT_CHARS:
            text = _mask_fragments(text, secret)
    return text


def _mask_fragments(text: str, secret: str) -> str:
    n = FRAGMENT_CHARS
    windows = {secret[i : i + n] for i in range(len(secret) - n + 1)}
    hidden = bytearray(len(text))
    for j in range(len(text) - n + 1):
        if text[j : j + n] in windows:
            hidden[j : j + n] = b"\x01" * n
    if not any(hidden):
        return text
    out: list[str] = []
    for j, char in enumerate(text):
        if not hidden[j]:
            out.append(char)
        elif j == 0 or not hidden[j - 1]:
            out.append("***")
    return "".join(out)


def _clip(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _snippet(raw: bytes, secrets: tuple[str, ...]) -> str:
    """A short, redacted view of a body: redacted first, then cut (a cut must never expose a key's prefix)."""
    shown = _clip(_redact(raw[:SCANNED_BYTES].decode("utf-8", "replace"), secrets))
    return shown if len(raw) <= SCANNED_BYTES or shown.endswith("...") else shown + "..."


def _status_error(status: int, raw: bytes, headers: Any, endpoint: _Endpoint) -> ProviderError:
    detail = ""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        detail = _snippet(raw, endpoint.secrets)
    else:
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            err = err.get("message")
        if isinstance(err, str) and err:
            detail = _clip(_redact(err[: SCANNED_BYTES * 4], endpoint.secrets), 500)
        elif err is None:
            detail = _snippet(raw, endpoint.secrets)
    message = f"HTTP {status} from {endpoint.shown}" + (f": {detail}" if detail else "")
    retry_after = parse_retry_after(headers)
    if status == 429:
        return ProviderError(message, kind="rate_limited", retryable=True, retry_after=retry_after, status=status)
    if status >= 500:
        return ProviderError(message, kind="server_error", retryable=True, retry_after=retry_after, status=status)
    if status in RETRYABLE_4XX:
        return ProviderError(message, kind="http_error", retryable=True, retry_after=retry_after, status=status)
    kind = "auth_error" if status in (401, 403) else "http_error"
    return ProviderError(message, kind=kind, retryable=False, status=status)


class _Malformed(Exception):
    """Internal: the body parsed as JSON but is not a chat completion; carries what was wrong."""


def _malformed(what: str, raw: bytes, endpoint: _Endpoint) -> ProviderError:
    return ProviderError(
        f"malformed response from {endpoint.shown}: {what} (body: {_snippet(raw, endpoint.secrets)})",
        kind="malformed_response",
        retryable=True,
    )


def _tokens(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise _Malformed(f"usage.{name}: expected a non-negative integer, got {_shown_value(value)}")
    return value


def _optional_str(container: dict[str, Any], name: str, where: str) -> str | None:
    value = container.get(name)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"{where}{name}: expected a string or null, got {_shown_value(value)}")
    return value


def _shown_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return _clip(repr(value), 40)


def _content(message: dict[str, Any]) -> str | None:
    text = message.get("content")
    if isinstance(text, list):  # some servers send content parts
        pieces = []
        for i, part in enumerate(text):
            if not isinstance(part, dict):
                raise _Malformed(f"choices[0].message.content[{i}]: expected an object, got {_shown_value(part)}")
            piece = part.get("text")
            if piece is not None and not isinstance(piece, str):
                raise _Malformed(f"choices[0].message.content[{i}].text: expected a string, got {_shown_value(piece)}")
            pieces.append(piece or "")
        return "".join(pieces)
    if text is not None and not isinstance(text, str):
        raise _Malformed(f"choices[0].message.content: expected a string or null, got {_shown_value(text)}")
    if text is None:
        return _optional_str(message, "refusal", "choices[0].message.")
    return text


def _tool_calls(message: dict[str, Any]) -> list[ToolCall]:
    raw_calls = message.get("tool_calls")
    if raw_calls is None:
        return []
    if not isinstance(raw_calls, list):
        raise _Malformed(f"choices[0].message.tool_calls: expected a list, got {_shown_value(raw_calls)}")
    calls = []
    for i, c in enumerate(raw_calls):
        where = f"choices[0].message.tool_calls[{i}]"
        if not isinstance(c, dict):
            raise _Malformed(f"{where}: expected an object, got {_shown_value(c)}")
        function = c.get("function")
        if not isinstance(function, dict):
            raise _Malformed(f"{where}.function: expected an object, got {_shown_value(function)}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _Malformed(f"{where}.function.name: expected a non-empty string, got {_shown_value(name)}")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            raise _Malformed(f"{where}.function.arguments: expected a JSON string, got {_shown_value(arguments)}")
        call_id = c.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise _Malformed(f"{where}.id: expected a string, got {_shown_value(call_id)}")
        calls.append(ToolCall(id=call_id or f"call_{i}", name=name, arguments=arguments or ""))
    return calls


def _parse(raw: bytes, latency: float, endpoint: _Endpoint) -> ChatResponse:
    """Parse a chat completion; anything of the wrong shape or type is a `malformed_response` `ProviderError`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _malformed("not JSON", raw, endpoint) from None
    try:
        if not isinstance(data, dict):
            raise _Malformed(f"expected a JSON object, got {_shown_value(data)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Malformed(f"choices: expected a non-empty list, got {_shown_value(choices)}")
        choice = choices[0]
        if not isinstance(choice, dict):
            raise _Malformed(f"choices[0]: expected an object, got {_shown_value(choice)}")
        message = choice.get("message")
        if not isinstance(message, dict):
            raise _Malformed(f"choices[0].message: expected an object, got {_shown_value(message)}")
        text = _content(message)
        calls = _tool_calls(message)
        usage = data.get("usage")
        if usage is None:
            usage = {}
        elif not isinstance(usage, dict):
            raise _Malformed(f"usage: expected an object, got {_shown_value(usage)}")
        return ChatResponse(
            text=text,
            tool_calls=calls,
            usage=Usage(
                input_tokens=_tokens(usage, "prompt_tokens"), output_tokens=_tokens(usage, "completion_tokens")
            ),
            latency_s=latency,
            finish_reason=_optional_str(choice, "finish_reason", "choices[0]."),
            model=_optional_str(data, "model", ""),
        )
    except _Malformed as exc:
        raise _malformed(str(exc), raw, endpoint) from None
