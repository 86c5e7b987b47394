"""The llm_judge evaluator: a rubric graded by a judge model through any provider, with its own response cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jinja2
import jinja2.sandbox
import orjson
from jinja2 import meta
from pydantic import Field

from promptlab.errors import SpecError, TemplateError
from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators, parse_json_output
from promptlab.evaluators._common import clip, shorten
from promptlab.providers import CachedProvider, ChatRequest, ChatResponse, ResponseCache, build_provider

__all__ = ["DEFAULT_JUDGE_TEMPLATE", "JUDGE_SYSTEM_PROMPT", "LLMJudge", "parse_judge_answer"]

JUDGE_SYSTEM_PROMPT = (
    "You are an impartial grader of an AI assistant's answers. Grade the ASSISTANT OUTPUT strictly against the "
    "RUBRIC, using the INPUT and, when given, the EXPECTED answer. Reply with only a JSON object, no prose and no "
    'code fence: {"score": <a number from 0 to 1, 1 = fully meets the rubric>, "reasoning": "<one or two sentences>"}'
)
"""The judge's system message: it fixes the answer format the evaluator parses."""

DEFAULT_JUDGE_TEMPLATE = """\
RUBRIC:
{{ rubric }}

INPUT:
{{ input }}
{% if expected %}
EXPECTED:
{{ expected }}
{% endif %}{% if tool_calls %}
TOOL CALLS MADE:
{{ tool_calls }}
{% endif %}
ASSISTANT OUTPUT:
{{ output }}
"""
"""The judge's user message (Jinja2); a custom `template` may use the same variables."""

TEMPLATE_VARIABLES = frozenset({"rubric", "input", "output", "expected", "vars", "case_id", "tool_calls", "segment"})
"""Variables a judge template may use."""

# A rubric template comes from a suite file: render it sandboxed, like prompt templates.
_ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@evaluators.register("llm_judge")
@dataclass(kw_only=True)
class LLMJudge(Evaluator):
    """Grades the output against `rubric` with a judge model; passes when the score reaches `threshold`.

    The judge answers `{"score": 0..1, "reasoning": ...}` (a 1-10 score is divided by 10). An answer that is not
    such a JSON object is an evaluator error, never a silent pass. With `cache`, identical judge requests are
    answered from that response cache, so re-grading a run is free and repeatable.
    """

    rubric: str
    """What a good answer does, in plain words."""
    model: str
    """The judge model; fixed explicitly so baseline and candidate runs are graded by the same judge."""
    provider: str | dict[str, Any] = "openai"
    """Provider spec for the judge (`openai`, `{openai: {base_url: ...}}`, `python:pkg.mod:function`)."""
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    """Minimum score (0-1) that passes."""
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    """Judge sampling temperature."""
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    """Upper bound on the judge's answer length."""
    template: str | None = None
    """Jinja2 template of the judge's user message; `None` means `DEFAULT_JUDGE_TEMPLATE`."""
    cache: str | None = None
    """Directory of the judge's own response cache (relative to the working directory); `None`: no caching."""
    cache_mode: Literal["read-write", "read-only"] = "read-write"
    """`read-write` records new judge answers; `read-only` replays only (a miss is an evaluator error)."""

    def __post_init__(self) -> None:
        self._response_cache: ResponseCache | None = None
        if not self.rubric.strip():
            raise SpecError("evaluator 'llm_judge': argument 'rubric': expected a non-empty rubric")
        if not self.model.strip():
            raise SpecError("evaluator 'llm_judge': argument 'model': expected a model name")
        try:
            build_provider(self.provider)  # fail at build time, not on the first case
        except SpecError as exc:
            raise SpecError(f"evaluator 'llm_judge': argument 'provider': {exc}") from None
        if self.template is not None:
            try:
                unknown = meta.find_undeclared_variables(_ENV.parse(self.template)) - TEMPLATE_VARIABLES
            except jinja2.TemplateSyntaxError as exc:
                raise SpecError(
                    f"evaluator 'llm_judge': argument 'template': bad Jinja2 template: {exc.message} "
                    f"(line {exc.lineno})"
                ) from None
            if unknown:
                raise SpecError(
                    f"evaluator 'llm_judge': argument 'template': unknown variable '{sorted(unknown)[0]}' "
                    f"(expected: {', '.join(sorted(TEMPLATE_VARIABLES))})"
                )

    def request(self, ctx: EvaluatorContext) -> ChatRequest:
        """The judge request for one result (also what the judge's cache is keyed on)."""
        try:
            prompt = _ENV.from_string(self.template or DEFAULT_JUDGE_TEMPLATE).render(_variables(self.rubric, ctx))
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"evaluator 'llm_judge': template: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"evaluator 'llm_judge': template refused by the sandbox: {' '.join(str(exc).split())}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a template can raise anything; it is the suite's fault, not a crash
            raise TemplateError(
                f"evaluator 'llm_judge': template failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None
        return ChatRequest(
            model=self.model,
            messages=[{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            case_id=ctx.case.id,
        )

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Ask the judge, parse its score and reasoning, and compare the score with the threshold."""
        response = await self._ask(self.request(ctx))
        score, reasoning = parse_judge_answer(response.text)
        reason = f"judge score {score:.2f} (threshold {self.threshold:g})"
        reason += " (cached judge answer)" if response.cached else ""
        reason += f": {shorten(reasoning, 240)}" if reasoning.strip() else ""
        return EvaluationResult(passed=score >= self.threshold, score=score, reason=reason)

    async def _ask(self, request: ChatRequest) -> ChatResponse:
        # One provider per call, closed right after: evaluators have no close hook, and a judge call is rare and
        # slow enough that a fresh connection costs nothing that matters. Building one opens no connection, so a
        # cache hit costs no network at all.
        provider = build_provider(self.provider)
        try:
            if self.cache is None:
                return await provider.complete(request)
            if self._response_cache is None:
                self._response_cache = ResponseCache(self.cache)
            return await CachedProvider(provider, self._response_cache, mode=self.cache_mode).complete(request)
        finally:
            await provider.aclose()


def parse_judge_answer(text: str | None) -> tuple[float, str]:
    """Score (0-1) and reasoning from a judge's answer; raises `ValueError` when the answer is malformed.

    The answer is a JSON object with a numeric `score` (0-1, or 1-10 which is divided by 10) and `reasoning` (or
    `reason`); a code fence or prose around the object is tolerated.
    """
    data = parse_json_output(text)
    if not isinstance(data, dict) and text:
        match = _OBJECT.search(text)
        data = parse_json_output(match.group(0)) if match else None
    if not isinstance(data, dict) or "score" not in data:
        raise ValueError(f"judge answer is not a JSON object with a 'score': {clip(text, 120)}")
    raw = data["score"]
    try:
        if isinstance(raw, bool):
            raise ValueError
        score = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"judge score is not a number: {clip(raw, 40)}") from None
    if not 0 <= score <= 10:
        raise ValueError(f"judge score {score:g} is outside 0-1 (or 1-10)")
    if score > 1:
        score /= 10
    reasoning = data.get("reasoning", data.get("reason", ""))
    return score, reasoning if isinstance(reasoning, str) else orjson.dumps(reasoning).decode()


def _variables(rubric: str, ctx: EvaluatorContext) -> dict[str, Any]:
    case = ctx.case
    try:
        turns = ctx.artifact.render(case.vars, case_id=case.id)
        shown_input = "\n\n".join(f"[{m['role']}] {m['content']}" for m in turns if m["role"] != "system")
    except TemplateError:
        shown_input = orjson.dumps(case.vars, option=orjson.OPT_INDENT_2).decode()
    expected = case.expected.model_dump(mode="json", exclude_defaults=True)
    if set(expected) == {"output"}:
        shown_expected = str(expected["output"])
    else:
        shown_expected = orjson.dumps(expected, option=orjson.OPT_INDENT_2).decode() if expected else ""
    calls = "\n".join(f"{c.name}({c.arguments})" for c in ctx.tool_calls)
    return {
        "rubric": rubric,
        "input": shown_input,
        "output": ctx.output if ctx.output is not None else "(no output)",
        "expected": shown_expected,
        "vars": case.vars,
        "case_id": case.id,
        "tool_calls": calls,
        "segment": case.segment,
    }
