"""A loopback OpenAI-compatible chat-completions server for tests: scripted answers, fault injection, a request log.

The server runs on 127.0.0.1 on a free port in a background thread (its own event loop), so it serves
synchronous code, async tests, CLI calls and subprocesses alike::

    from tests._support.fake_openai import Fault, FakeOpenAI, Reply

    def test_retry(fake_openai: FakeOpenAI) -> None:          # fixture below; or `with FakeOpenAI() as server:`
        fake_openai.script("order 42", Fault.http(429, retry_after=1), Reply(content="done"))
        ... point a provider at fake_openai.base_url ...
        first, second = fake_openai.matching("order 42")
        assert second.received_at - first.answered_at >= 1

Answers are chosen per request, in this order:

1. rules added with `script(match, *actions)`: the n-th request that `match`es gets the n-th action (then the rule
   is used up) and `always(match, action)`: every matching request gets the action;
2. otherwise `default(request)` (by default an echo of the last user message: `echo: <text>`).

`match` is `None` (any request), a substring of the request's message text, or a predicate on `RecordedRequest`.
An action is a `Reply`, a `Fault`, or a callable `(RecordedRequest) -> Reply | Fault` (handy for tool loops:
reply with a tool call when `request.last_role == "user"`, with text when it is `"tool"`).

Every request is recorded in `requests` (body, headers, monotonic receive/answer times, the action taken), and
`max_in_flight` tracks the highest number of requests served at once.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

__all__ = ["Action", "FakeOpenAI", "Fault", "RecordedRequest", "Reply", "fake_openai"]


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A normal chat-completions answer."""

    content: str | None = None
    tool_calls: tuple[tuple[str, Any], ...] = ()
    """`(name, arguments)` pairs; arguments are a dict (JSON-encoded for you) or a raw string."""
    prompt_tokens: int = 10
    completion_tokens: int = 5
    finish_reason: str | None = None
    """Defaults to `tool_calls` when there are tool calls, else `stop`."""
    delay_s: float = 0.0
    """Wait this long before answering (a slow model; past the client's timeout it is a timeout)."""
    model: str | None = None
    """The model name reported; defaults to the requested one."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A failure: an HTTP error status, a dropped connection, a truncated or malformed body."""

    kind: str
    """`status`, `drop`, `truncate`, `malformed` or `raw`."""
    status: int = 200
    retry_after: str | None = None
    body: bytes = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (`raw` only), e.g. `Content-Encoding: gzip` for a pre-compressed body."""
    content_type: str = "application/json"

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | str | None = None, message: str = "", delay_s: float = 0.0
    ) -> Fault:
        """Answer with an error status (and a `Retry-After` header: seconds, or an HTTP date string)."""
        body = orjson.dumps({"error": {"message": message or f"fake error {status}", "type": "fake"}})
        shown = None if retry_after is None else (retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        return cls(kind="status", status=status, retry_after=shown, body=body, delay_s=delay_s)

    @classmethod
    def drop(cls, *, delay_s: float = 0.0) -> Fault:
        """Close the connection without sending a response."""
        return cls(kind="drop", delay_s=delay_s)

    @classmethod
    def truncate(cls) -> Fault:
        """Send headers promising a longer body than what follows, then close."""
        return cls(kind="truncate")

    @classmethod
    def malformed(cls, body: bytes = b'{"choices": [{"message": {"content": "unterminated') -> Fault:
        """Answer 200 with a body that is not valid JSON (or, given valid JSON, not a completion)."""
        return cls(kind="malformed", status=200, body=body)

    @classmethod
    def raw(
        cls,
        body: bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Fault:
        """Answer exactly `body` with `status`, `content_type` and `headers` (sent as is: no compression added)."""
        return cls(kind="raw", status=status, body=body, headers=dict(headers or {}), content_type=content_type)


Action = Reply | Fault | Callable[["RecordedRequest"], "Reply | Fault"]
Match = str | Callable[["RecordedRequest"], bool] | None


@dataclass(kw_only=True)
class RecordedRequest:
    """One request the server received."""

    index: int
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any] | None
    """Parsed JSON body (`None` if it was not JSON)."""
    received_at: float
    """`time.monotonic()` when the request arrived."""
    answered_at: float | None = None
    """`time.monotonic()` when the answer (or fault) was sent."""
    action: str = ""
    """What the server did: `reply`, `tool_calls`, `status 429`, `drop`, `truncate`, `malformed`, `raw`."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's chat messages."""
        return list((self.body or {}).get("messages") or [])

    @property
    def text(self) -> str:
        """All message contents joined by newlines (what string matches search)."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    @property
    def user_text(self) -> str:
        """The last user message."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""

    @property
    def last_role(self) -> str | None:
        """Role of the last message (`tool` on a follow-up turn after tool calls)."""
        return self.messages[-1].get("role") if self.messages else None


def echo(request: RecordedRequest) -> Reply:
    """The default answer: `echo: <last user message>`."""
    return Reply(content=f"echo: {request.user_text}")


@dataclass(kw_only=True)
class _Rule:
    match: Match
    actions: list[Action]
    repeat: bool

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.text
        return bool(self.match(request))


class FakeOpenAI:
    """The server. Use as a context manager (or the `fake_openai` fixture); `base_url` ends in `/v1`."""

    def __init__(self, *, shutdown_timeout: float = 0.2) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Callable[[RecordedRequest], Reply | Fault] = echo
        self.max_in_flight = 0
        self._in_flight = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- scripting ---------------------------------------------------------------------------------------------

    def script(self, match: Match, *actions: Action) -> FakeOpenAI:
        """The next requests matching `match` get `actions`, one each, in order."""
        with self._lock:
            self._rules.append(_Rule(match=match, actions=list(actions), repeat=False))
        return self

    def always(self, match: Match, action: Action) -> FakeOpenAI:
        """Every request matching `match` gets `action`."""
        with self._lock:
            self._rules.append(_Rule(match=match, actions=[action], repeat=True))
        return self

    def reset(self) -> None:
        """Forget rules and recorded requests (the default answer stays)."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.max_in_flight = 0

    def matching(self, match: Match = None) -> list[RecordedRequest]:
        """Recorded requests matching `match`, in arrival order."""
        rule = _Rule(match=match, actions=[], repeat=True)
        with self._lock:
            return [r for r in self.requests if rule.matches(r)]

    def count(self, match: Match = None) -> int:
        """How many recorded requests match `match`."""
        return len(self.matching(match))

    @property
    def in_flight(self) -> int:
        """Requests being served right now (including the one asking, inside a `default` or rule callable)."""
        return self._in_flight

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- serving -----------------------------------------------------------------------------------------------

    def _choose(self, request: RecordedRequest) -> Reply | Fault:
        with self._lock:
            action: Action | None = None
            for rule in self._rules:
                if rule.actions and rule.matches(request):
                    action = rule.actions[0] if rule.repeat else rule.actions.pop(0)
                    break
        if action is None:
            action = self.default
        return action if isinstance(action, (Reply, Fault)) else action(request)

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        raw = await http.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        record = RecordedRequest(
            index=next(self._ids),
            path=http.path,
            headers=dict(http.headers),
            raw=raw,
            body=body if isinstance(body, dict) else None,
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            action = self._choose(record)
            if action.delay_s:
                await asyncio.sleep(action.delay_s)
            return await self._answer(http, record, action)
        finally:
            record.answered_at = time.monotonic()
            with self._lock:
                self._in_flight -= 1

    async def _answer(self, http: web.Request, record: RecordedRequest, action: Reply | Fault) -> web.StreamResponse:
        if isinstance(action, Reply):
            record.action = "tool_calls" if action.tool_calls else "reply"
            return web.Response(
                body=_completion(record, action), content_type="application/json", headers=action.headers
            )
        record.action = action.kind if action.kind != "status" else f"status {action.status}"
        if action.kind == "status":
            headers = {"Retry-After": action.retry_after} if action.retry_after is not None else {}
            return web.Response(
                status=action.status, body=action.body, content_type="application/json", headers=headers
            )
        if action.kind == "malformed":
            return web.Response(status=action.status, body=action.body, content_type="application/json")
        if action.kind == "raw":
            return web.Response(
                status=action.status, body=action.body, content_type=action.content_type, headers=action.headers
            )
        transport = http.transport
        if action.kind == "truncate" and transport is not None:
            transport.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"cho')
        if transport is not None:
            transport.close()
        # The connection is gone; aiohttp discards whatever is returned.
        return web.Response(status=499)

    def start(self) -> FakeOpenAI:
        """Start serving (idempotent)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping on a slow answer: cancel them so the loop closes cleanly.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _completion(record: RecordedRequest, reply: Reply) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{record.index}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": args if isinstance(args, str) else orjson.dumps(args).decode()},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    return orjson.dumps(
        {
            "id": f"chatcmpl-{record.index}",
            "object": "chat.completion",
            "created": 0,
            "model": reply.model or (record.body or {}).get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }
    )


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running `FakeOpenAI`; import this name into a conftest.py to use it."""
    with FakeOpenAI() as server:
        yield server
