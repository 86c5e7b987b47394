"""The response cache: record model answers once, replay them offline (CI, examples) at no cost.

Format
------
A cache is a directory holding ``responses.jsonl``: one JSON object per line, one line per recorded answer::

    {"case_id":"refund-001","key":"sha256:3f1c...","model":"gpt-4o-mini","response":{"finish_reason":"stop",
     "latency_s":0.812,"model":"gpt-4o-mini-2024-07-18","text":"{\\"category\\": \\"refund\\", ...}",
     "tool_calls":[],"usage":{"input_tokens":182,"output_tokens":41}},"sample":0}

(shown wrapped; each entry is a single line). Fields:

- ``key``: the content address, `ChatRequest.cache_key()`: `sha256:` of the canonical JSON of
  ``{"body": <the OpenAI request body>, "sample": <repeat index>}``. The body holds model, messages (after
  template rendering and any tool turns), temperature, top_p, max_tokens, seed, tools and response_format; it
  does not hold the endpoint, the provider or the key, so answers recorded through one provider (say a
  `python:` model) replay under another (`openai`).
- ``response``: what is replayed: ``text`` (or null), ``tool_calls`` (``id``, ``name``, ``arguments`` as the
  model wrote them), ``usage`` (``input_tokens``, ``output_tokens``), ``latency_s`` (the latency measured when it
  was recorded, reported again on replay), ``finish_reason`` and ``model``.
- ``case_id``, ``model``, ``sample``: informational, for people reading or grepping the file (the first case
  that recorded this request, the requested model and the repeat index); they take no part in lookups.

Lines are canonical JSON (sorted keys, no extra whitespace). After a run that recorded anything the file is
rewritten sorted by key with duplicates removed, so the same answers always give the same bytes and a diff shows
only real changes. A ``.gitattributes`` next to it declares ``merge=union``: two branches that recorded different
answers merge without conflicts (duplicate keys are harmless, the first one wins on load).

Writers append a whole line under an exclusive ``flock`` and re-check that the file was not replaced by a
compaction meanwhile, so two processes recording into one cache at once lose nothing. A torn last line (a writer
killed mid-write) is ignored on load and cut before the next append. Loading is a single read and one orjson parse
per line (a few milliseconds for thousands of entries), done lazily on the first lookup.

Recording
---------
Record by running with ``--cache-mode read-write`` (the default when a cache directory is given) through any
provider, e.g. ``promptlab run ... --provider python:my_model:respond --cache DIR``; replay with
``--cache-mode read-only``, which never calls a provider (and needs no API key): a miss is a `CacheMissError`
naming the case. Programmatically: ``ResponseCache(DIR).put(request, response)`` with the request built by
`promptlab.runner.build_request`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from promptlab._util.canonical import canonical_json
from promptlab._util.files import atomic_write
from promptlab.errors import CacheMissError, FileFormatError, InputError, ProviderError
from promptlab.providers._base import ChatRequest, ChatResponse, Provider, ToolCall, Usage, check_response

__all__ = ["CACHE_MODES", "CacheMode", "CachedProvider", "ResponseCache"]

CacheMode = Literal["read-write", "read-only", "off"]
CACHE_MODES: tuple[str, ...] = ("read-write", "read-only", "off")

FILENAME = "responses.jsonl"
GITATTRIBUTES = f"{FILENAME} merge=union\n"


def response_to_data(response: ChatResponse) -> dict[str, Any]:
    """The replayable part of a response, as stored in the cache."""
    return {
        "text": response.text,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls],
        "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens},
        "latency_s": response.latency_s,
        "finish_reason": response.finish_reason,
        "model": response.model,
    }


def response_from_data(data: dict[str, Any]) -> ChatResponse:
    """Rebuild a cached response (marked `cached=True`).

    Raises:
        ProviderError: (`malformed_response`) the entry is not a response of the documented shape and types.
    """
    try:
        usage = data.get("usage") or {}
        response = ChatResponse(
            text=data.get("text"),
            tool_calls=[
                ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for c in data.get("tool_calls") or ()
            ],
            usage=Usage(input_tokens=usage.get("input_tokens", 0), output_tokens=usage.get("output_tokens", 0)),
            latency_s=float(data.get("latency_s") or 0.0),
            finish_reason=data.get("finish_reason"),
            cached=True,
            model=data.get("model"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError(
            f"malformed response from the response cache: {type(exc).__name__}: {exc}", kind="malformed_response"
        ) from None
    return check_response(response, source="the response cache")


class ResponseCache:
    """A directory of recorded responses, content-addressed by `ChatRequest.cache_key()`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self._entries: dict[str, dict[str, Any]] | None = None
        self.added = 0
        """Entries this instance recorded."""

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            if self.directory.exists() and not self.directory.is_dir():
                raise InputError(f"{self.directory}: response cache must be a directory")
            self._entries = {}
            for entry in _parse_lines(self.path, self.path.read_bytes() if self.path.exists() else b""):
                self._entries.setdefault(entry["key"], entry)
        return self._entries

    def get(self, key: str) -> ChatResponse | None:
        """The recorded response for `key`, or `None`."""
        entry = self._load().get(key)
        return None if entry is None else response_from_data(entry["response"])

    def put(self, request: ChatRequest, response: ChatResponse, *, key: str | None = None) -> None:
        """Record a response (appended at once, safe against concurrent writers)."""
        key = key or request.cache_key()
        entries = self._load()
        if key in entries:
            return
        entry = {
            "key": key,
            "case_id": request.case_id,
            "model": request.model,
            "sample": request.sample,
            "response": response_to_data(response),
        }
        line = canonical_json(entry) + b"\n"
        with self._locked() as fh:
            fh.write(line)
        entries[key] = entry
        self.added += 1

    def compact(self) -> None:
        """Rewrite the file sorted by key without duplicates (keeps entries other processes appended)."""
        if not self.path.exists():
            return
        with self._locked() as fh:
            entries: dict[str, dict[str, Any]] = {}
            for entry in _parse_lines(self.path, self.path.read_bytes()):
                entries.setdefault(entry["key"], entry)
            data = b"".join(canonical_json(entries[k]) + b"\n" for k in sorted(entries))
            atomic_write(self.path, data)
            fh.flush()
        self._entries = entries

    @contextmanager
    def _locked(self) -> Iterator[IO[bytes]]:
        """Open the file for appending under an exclusive lock, ready to write on a fresh line."""
        self.directory.mkdir(parents=True, exist_ok=True)
        attributes = self.directory / ".gitattributes"
        if not attributes.exists():
            attributes.write_text(GITATTRIBUTES)
        while True:
            fh = self.path.open("ab")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                # A compaction may have replaced the file while we waited: lock the current one instead.
                if os.fstat(fh.fileno()).st_ino != os.stat(self.path).st_ino:
                    fh.close()
                    continue
            except FileNotFoundError:
                fh.close()
                continue
            except BaseException:
                fh.close()
                raise
            break
        try:
            _drop_torn_tail(fh)
            yield fh
            fh.flush()
        finally:
            fh.close()  # closing releases the lock


def _drop_torn_tail(fh: IO[bytes]) -> None:
    """Cut a partial last line left by a writer that died mid-write (we hold the lock, so nobody is writing)."""
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return
    with open(fh.name, "rb") as reader:
        reader.seek(max(0, size - 65536))
        tail = reader.read()
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    if cut < 0 and size > len(tail):
        return  # a line longer than the window: leave it, the loader reports it
    os.truncate(fh.name, size - len(tail) + cut + 1)


def _parse_lines(path: Path, raw: bytes) -> Iterator[dict[str, Any]]:
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            if number == len(lines):  # torn last line: a writer was killed mid-write
                return
            hint = " (an unresolved merge conflict?)" if line.startswith((b"<<<<<<<", b"=======", b">>>>>>>")) else ""
            raise FileFormatError(path, f"line {number}: malformed cache entry{hint}") from None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("response"), dict)
        ):
            raise FileFormatError(path, f"line {number}: expected an object with `key` and `response`")
        yield entry


class CachedProvider:
    """Wraps a provider with a response cache in one of the modes read-write, read-only or off."""

    def __init__(self, provider: Provider, cache: ResponseCache, *, mode: CacheMode = "read-write") -> None:
        if mode not in CACHE_MODES:
            raise InputError(f"cache mode: expected one of {', '.join(CACHE_MODES)}, got {mode!r}")
        self.provider = provider
        self.cache = cache
        self.mode = mode
        self.hits = 0
        self.misses = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer from the cache when possible; otherwise call the provider (and record, in read-write mode)."""
        if self.mode == "off":
            return await self.provider.complete(request)
        key = request.cache_key()
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        if self.mode == "read-only":
            case = f"case '{request.case_id}'" if request.case_id is not None else "a request"
            raise CacheMissError(
                f"no cached response for {case} (sample {request.sample}, key {key[:19]}...) in read-only cache "
                f"{self.cache.directory}; record it with --cache-mode read-write"
            )
        # Checked before recording, so a malformed answer is never replayed as if it were good.
        response = check_response(await self.provider.complete(request))
        self.cache.put(request, response, key=key)
        return response

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.provider.aclose()
