"""The per-case engine: one (case, repeat) through the provider with the tool loop, retries and evaluators, and the
workers that drive all pending pairs with bounded concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptlab.artifacts import PromptArtifact
from promptlab.datasets import Case
from promptlab.errors import CacheMissError, PromptlabError, ProviderError, TemplateError
from promptlab.evaluators import Evaluator, EvaluatorContext, evaluate_all
from promptlab.providers import (
    BaseProvider,
    CacheMode,
    ChatRequest,
    ChatResponse,
    Provider,
    ResponseCache,
    ToolCall,
    check_response,
)
from promptlab.runner._limit import AdaptiveLimit, backoff_delay
from promptlab.runner._results import (
    CaseResult,
    EvalOutcome,
    ResultRow,
    ResultsWriter,
)
from promptlab.runner._tools import answer_tool_call

__all__ = ["Counts", "Engine", "Labelled", "build_request", "drive", "preflight"]

Labelled = list[tuple[str, Evaluator]]

MAX_RETRY_AFTER_S = 120.0
"""A `Retry-After` longer than this is not waited out: the case records the error instead."""


def build_request(
    artifact: PromptArtifact, messages: list[dict[str, Any]], *, sample: int = 0, case_id: str | None = None
) -> ChatRequest:
    """The request the runner sends for `messages` (as rendered by `artifact.render`, plus any tool turns).

    Use it to compute cache keys (`build_request(...).cache_key()`) exactly as a run does.
    """
    m = artifact.model
    return ChatRequest(
        model=m.name,
        messages=messages,
        temperature=m.temperature,
        top_p=m.top_p,
        max_tokens=m.max_tokens,
        seed=m.seed,
        tools=artifact.openai_tools(),
        response_format=artifact.response_format,
        base_url=m.base_url,
        sample=sample,
        case_id=case_id,
    )


def preflight(
    provider: BaseProvider,
    engine: Engine,
    pending: Sequence[tuple[Case, int]],
    cache: ResponseCache | None,
    mode: CacheMode,
) -> None:
    """Fail before the first call, and before the run directory is created, when the run cannot finish.

    Read-only: every first-turn request must be in the cache (the error names the first case missing). Otherwise,
    when some first-turn request is not cached a real call is needed, so the provider must be able to make one
    (e.g. have an API key); a fully cached read-write run needs no key.
    """
    if not pending:
        return
    missing: list[tuple[Case, int, str]] = []
    for case, repeat in pending:
        try:
            request = engine.request(engine.artifact.render(case.vars, case_id=case.id), repeat, case.id)
        except TemplateError:
            continue  # recorded on the case when it runs
        if cache is None:
            provider.check_ready(request)
            return
        key = request.cache_key()
        if key in cache:
            continue
        if mode != "read-only":
            provider.check_ready(request)
            return
        missing.append((case, repeat, key))
    if missing:
        case, repeat, key = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CacheMissError(
            f"no cached response for case '{case.id}' (sample {repeat}, key {key[:19]}...){more} in read-only cache "
            f"{cache.directory if cache else ''}; record it with --cache-mode read-write"
        )


# -- running -------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Counts:
    rows: int = 0
    cached: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, cached: bool, error_kind: str | None) -> None:
        self.rows += 1
        self.cached += cached
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if error_kind is not None:
            self.error_kinds[error_kind] = self.error_kinds.get(error_kind, 0) + 1

    @classmethod
    def from_rows(cls, rows: list[ResultRow]) -> Counts:
        counts = cls()
        seen: set[tuple[str, int]] = set()
        for r in rows:
            pair = (r.case_id, r.repeat)
            if pair not in seen:
                seen.add(pair)
                counts.add(r.outcome, r.cached, (r.error or {}).get("kind"))
        return counts


async def drive(
    engine: Engine, pending: list[tuple[Case, int]], workers: int, writer: ResultsWriter, counts: Counts, bar: Any
) -> None:
    """Run `pending` on `workers` tasks; the first fatal error (bad key, cache miss) cancels the rest."""
    work = iter(pending)

    async def worker() -> None:
        for case, repeat in work:
            row = await engine.case(case, repeat)
            writer.write(row)
            counts.add(row.outcome, row.cached, row.error["kind"] if row.error else None)
            if bar is not None:
                bar.update(1)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as group_error:
        raise _first(group_error) from None


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The exception to surface from a failed task group: a user-fixable error first."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for exc in leaves:
        if isinstance(exc, PromptlabError):
            return exc
    return leaves[0]


class Engine:
    """Runs one (case, repeat): the tool loop, retries, evaluators; returns the row."""

    def __init__(
        self,
        *,
        artifact: PromptArtifact,
        provider: Provider,
        suite_evaluators: Labelled,
        case_evaluators: dict[str, Labelled],
        baseline: dict[tuple[str, int], str | None],
        limit: AdaptiveLimit | None,
        max_retries: int,
        max_turns: int,
        backoff_s: float,
        max_backoff_s: float,
    ) -> None:
        self.artifact = artifact
        self.model = artifact.model
        self.tools = artifact.openai_tools()
        self.provider = provider
        self.suite_evaluators = suite_evaluators
        self.case_evaluators = case_evaluators
        self.baseline = baseline
        self.limit = limit
        self.max_retries = max_retries
        self.max_turns = max_turns
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.calls = 0
        self.retries = 0

    def request(self, messages: list[dict[str, Any]], repeat: int, case_id: str) -> ChatRequest:
        m = self.model
        return ChatRequest(
            model=m.name,
            messages=messages,
            temperature=m.temperature,
            top_p=m.top_p,
            max_tokens=m.max_tokens,
            seed=m.seed,
            tools=self.tools,
            response_format=self.artifact.response_format,
            base_url=m.base_url,
            sample=repeat,
            case_id=case_id,
        )

    async def call(self, request: ChatRequest) -> ChatResponse:
        """One model call with retries; raises `ProviderError` once retries are spent or the error is final."""
        attempt = 0
        while True:
            started = await self.limit.acquire() if self.limit is not None else 0.0
            self.calls += 1
            try:
                response = await self.provider.complete(request)
            except ProviderError as exc:
                if self.limit is not None:
                    await self.limit.release(ok=False, rate_limited=exc.kind == "rate_limited", started_at=started)
                if isinstance(exc, CacheMissError) or not exc.retryable or attempt >= self.max_retries:
                    raise
                if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER_S:
                    raise
                delay = backoff_delay(
                    attempt, base_s=self.backoff_s, max_s=self.max_backoff_s, retry_after=exc.retry_after
                )
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)
                continue
            except PromptlabError:
                if self.limit is not None:
                    await self.limit.release(ok=False)
                raise
            except Exception as exc:  # noqa: BLE001 - a custom provider's bug is recorded on the case
                if self.limit is not None:
                    await self.limit.release(ok=False)
                raise ProviderError(f"{type(exc).__name__}: {exc}", kind="provider_exception") from None
            if self.limit is not None:
                await self.limit.release(ok=True)
            return check_response(response)

    async def case(self, case: Case, repeat: int) -> CaseResult:
        row = CaseResult(case_id=case.id, repeat=repeat, segment=case.segment, tags=case.tags, vars=case.vars)
        try:
            messages = self.artifact.render(case.vars, case_id=case.id)
        except TemplateError as exc:
            row.error = {"kind": "template_error", "message": str(exc)}
            row.outcome = "error"
            return row
        calls: list[ToolCall] = []
        outputs: list[Any] = []
        latency = 0.0
        cached = True
        text: str | None = None
        while True:
            request = self.request(messages, repeat, case.id)
            try:
                response = await self.call(request)
            except CacheMissError:
                raise
            except ProviderError as exc:
                row.error = {"kind": exc.kind, "message": str(exc)}
                break
            row.turns += 1
            latency += response.latency_s
            cached = cached and response.cached
            row.input_tokens += response.usage.input_tokens
            row.output_tokens += response.usage.output_tokens
            row.cost_usd += self.model.cost(response.usage.input_tokens, response.usage.output_tokens)
            row.finish_reason = response.finish_reason
            text = response.text
            if not response.tool_calls:
                break
            if row.turns >= self.max_turns:
                for call in response.tool_calls:
                    calls.append(call)
                    outputs.append(None)
                    row.tool_calls.append(
                        {
                            "id": call.id,
                            "name": call.name,
                            "arguments": call.arguments,
                            "turn": row.turns,
                            "result": None,
                            "error": "not run: turn limit reached",
                        }
                    )
                row.error = {
                    "kind": "max_turns",
                    "message": f"the model was still calling tools after {self.max_turns} turns",
                }
                break
            assistant: dict[str, Any] = {
                "role": "assistant",
                "content": response.text,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in response.tool_calls
                ],
            }
            turn_messages = [assistant]
            for call in response.tool_calls:
                answer = answer_tool_call(case, call)
                calls.append(call)
                outputs.append(answer.output if answer.error is None else answer.error)
                row.tool_calls.append(
                    {
                        "id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                        "turn": row.turns,
                        "result": answer.output,
                        "error": answer.error,
                    }
                )
                turn_messages.append({"role": "tool", "tool_call_id": call.id, "content": answer.content})
            messages = [*messages, *turn_messages]
        row.latency_s = latency if row.turns else None
        row.cached = cached and row.turns > 0
        if row.error is not None:
            row.outcome = "error"
            return row
        row.output = text
        labelled = self.case_evaluators.get(case.id, self.suite_evaluators)
        if not labelled:
            return row
        baseline = self.baseline.get((case.id, repeat), self.baseline.get((case.id, 0)))
        ctx = EvaluatorContext(
            case=case,
            artifact=self.artifact,
            output=text,
            tool_calls=calls,
            tool_outputs=outputs,
            latency_s=row.latency_s,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=row.cost_usd,
            cached=row.cached,
            baseline_output=baseline,
        )
        failed = errored = False
        for label, (result, error) in (await evaluate_all(labelled, ctx)).items():
            if result is None:
                errored = True
                row.evaluations[label] = EvalOutcome(error=error)
                continue
            failed = failed or result.passed is False
            row.evaluations[label] = EvalOutcome(passed=result.passed, score=result.score, reason=result.reason)
        row.outcome = "evaluator_error" if errored else "fail" if failed else "pass"
        return row
