"""The response cache: format, determinism, concurrent writers, torn lines, and the three modes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from promptlab.errors import CacheMissError, FileFormatError, InputError
from promptlab.providers import (
    CachedProvider,
    ChatRequest,
    ChatResponse,
    OpenAIProvider,
    ResponseCache,
    ToolCall,
    Usage,
)
from tests._support.fake_openai import FakeOpenAI


def req(text: str, *, sample: int = 0, case_id: str | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": text}], sample=sample, case_id=case_id)


def resp(text: str, latency: float = 0.5) -> ChatResponse:
    return ChatResponse(
        text=text,
        tool_calls=[ToolCall(id="c1", name="lookup", arguments='{"id": 1}')],
        usage=Usage(input_tokens=10, output_tokens=2),
        latency_s=latency,
        finish_reason="stop",
        model="m-1",
    )


def test_a_recorded_response_replays_marked_cached_with_its_original_latency(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "c").put(req("a", case_id="case-1"), resp("answer", latency=1.25))
    hit = ResponseCache(tmp_path / "c").get(req("a").cache_key())
    assert hit is not None and hit.cached is True
    assert (hit.text, hit.latency_s, hit.usage.input_tokens, hit.model) == ("answer", 1.25, 10, "m-1")
    assert hit.tool_calls == [ToolCall(id="c1", name="lookup", arguments='{"id": 1}')]


def test_key_depends_on_sample_not_on_case_id_or_endpoint(tmp_path: Path) -> None:
    assert req("a", case_id="x").cache_key() == req("a", case_id="y").cache_key()
    assert req("a").cache_key() != req("a", sample=1).cache_key()
    moved = ChatRequest(model="m", messages=[{"role": "user", "content": "a"}], base_url="http://elsewhere/v1")
    assert moved.cache_key() == req("a").cache_key()


def test_entries_are_one_canonical_line_each_with_informational_fields(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put(req("a", case_id="case-1", sample=2), resp("x"))
    (line,) = (tmp_path / "responses.jsonl").read_bytes().splitlines()
    entry = orjson.loads(line)
    assert line == orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    assert (entry["case_id"], entry["model"], entry["sample"]) == ("case-1", "m", 2)
    assert entry["key"] == req("a", sample=2).cache_key()
    assert (tmp_path / ".gitattributes").read_text() == "responses.jsonl merge=union\n"


def test_compacted_file_is_the_same_bytes_whatever_the_recording_order(tmp_path: Path) -> None:
    texts = [f"question {i}" for i in range(20)]
    for name, order in (("one", texts), ("two", list(reversed(texts)))):
        cache = ResponseCache(tmp_path / name)
        for t in order:
            cache.put(req(t, case_id=t), resp(t.upper()))
        cache.put(req(order[0], case_id="dup"), resp("ignored"))
        cache.compact()
    one = (tmp_path / "one" / "responses.jsonl").read_bytes()
    assert one == (tmp_path / "two" / "responses.jsonl").read_bytes()
    keys = [orjson.loads(line)["key"] for line in one.splitlines()]
    assert keys == sorted(keys) and len(keys) == 20


def test_duplicate_keys_from_a_union_merge_load_first_wins(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put(req("a"), resp("first"))
    line = (tmp_path / "responses.jsonl").read_bytes()
    entry = orjson.loads(line)
    entry["response"]["text"] = "second"
    (tmp_path / "responses.jsonl").write_bytes(line + orjson.dumps(entry) + b"\n")
    reloaded = ResponseCache(tmp_path)
    assert len(reloaded) == 1 and reloaded.get(req("a").cache_key()).text == "first"  # type: ignore[union-attr]


def test_torn_last_line_is_ignored_then_cut_before_the_next_append(tmp_path: Path) -> None:
    ResponseCache(tmp_path).put(req("a"), resp("A"))
    path = tmp_path / "responses.jsonl"
    path.write_bytes(path.read_bytes() + b'{"key": "sha256:torn", "resp')
    cache = ResponseCache(tmp_path)
    assert len(cache) == 1
    cache.put(req("b"), resp("B"))
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and all(orjson.loads(x)["response"]["text"] in ("A", "B") for x in lines)


def test_malformed_line_in_the_middle_names_the_line(tmp_path: Path) -> None:
    ResponseCache(tmp_path).put(req("a"), resp("A"))
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b"<<<<<<< HEAD\n" + path.read_bytes())
    with pytest.raises(FileFormatError, match=r"responses.jsonl: line 1: malformed cache entry \(an unresolved merge"):
        len(ResponseCache(tmp_path))


def test_a_file_where_the_directory_should_be_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("x")
    with pytest.raises(InputError, match="must be a directory"):
        ResponseCache(tmp_path / "c").get("sha256:x")


WRITER = textwrap.dedent(
    """\
    import sys
    from promptlab.providers import ChatRequest, ChatResponse, ResponseCache
    directory, tag, count, compact_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cache = ResponseCache(directory)
    for i in range(count):
        request = ChatRequest(model="m", messages=[{"role": "user", "content": f"{tag}-{i}"}])
        cache.put(request, ChatResponse(text=f"{tag}-{i}" * 20))
        if compact_every and i % compact_every == 0:
            cache.compact()
    """
)


def test_two_processes_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "c"), "a", "400", "0"]),
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "c"), "b", "400", "5"]),
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    cache = ResponseCache(tmp_path / "c")
    assert len(cache) == 800
    assert {cache.get(req(f"{t}-{i}").cache_key()).text for t in "ab" for i in (0, 399)} == {  # type: ignore[union-attr]
        f"{t}-{i}" * 20 for t in "ab" for i in (0, 399)
    }


def run_cached(provider: CachedProvider, request: ChatRequest) -> ChatResponse:
    async def go() -> ChatResponse:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_read_write_records_once_then_replays_without_calling(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    openai = OpenAIProvider(base_url=fake_openai.base_url)
    first = run_cached(CachedProvider(openai, ResponseCache(tmp_path)), req("hello"))
    second = run_cached(CachedProvider(openai, ResponseCache(tmp_path)), req("hello"))
    assert fake_openai.count() == 1
    assert (first.cached, second.cached, second.text) == (False, True, "echo: hello")
    assert second.latency_s == first.latency_s


def test_read_only_miss_names_the_case_and_calls_nothing(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    provider = CachedProvider(OpenAIProvider(base_url=fake_openai.base_url), ResponseCache(tmp_path), mode="read-only")
    with pytest.raises(CacheMissError, match=r"no cached response for case 'refund-7' .* read-only cache") as exc:
        run_cached(provider, req("hello", case_id="refund-7"))
    assert exc.value.kind == "cache_miss" and fake_openai.count() == 0


def test_off_mode_always_calls_and_records_nothing(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    openai = OpenAIProvider(base_url=fake_openai.base_url)
    for _ in range(2):
        run_cached(CachedProvider(openai, ResponseCache(tmp_path), mode="off"), req("hello"))
    assert fake_openai.count() == 2 and not (tmp_path / "responses.jsonl").exists()


def test_read_only_replay_needs_no_api_key(tmp_path: Path) -> None:
    ResponseCache(tmp_path).put(req("hello"), resp("recorded"))
    remote = OpenAIProvider(base_url="https://api.example.invalid/v1")
    hit = run_cached(CachedProvider(remote, ResponseCache(tmp_path), mode="read-only"), req("hello"))
    assert hit.text == "recorded"


def test_unknown_mode_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cache mode: expected one of read-write, read-only, off"):
        CachedProvider(OpenAIProvider(), ResponseCache(tmp_path), mode="sometimes")  # type: ignore[arg-type]
