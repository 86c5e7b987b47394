"""llm_judge against a real loopback OpenAI-compatible server, and its own response cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from promptlab.errors import TemplateError
from promptlab.evaluators import EvaluationResult, EvaluatorContext, LLMJudge, build_evaluator, evaluate_one
from promptlab.evaluators._judge import JUDGE_SYSTEM_PROMPT, parse_judge_answer
from tests._support.fake_openai import FakeOpenAI, Fault, RecordedRequest, Reply
from tests.evaluators.conftest import Grade, MakeCtx

RUBRIC = "The reply tells the customer when the order ships."


def judge(server: FakeOpenAI, **args: Any) -> LLMJudge:
    spec = {"rubric": RUBRIC, "model": "judge-1", "provider": {"openai": {"base_url": server.base_url}}, **args}
    built = build_evaluator({"llm_judge": spec})
    assert isinstance(built, LLMJudge)
    return built


def grading_judge(request: RecordedRequest) -> Reply:
    """A fake judge that actually looks at the answer it is shown."""
    output = request.user_text.split("ASSISTANT OUTPUT:\n", 1)[-1]
    score = 0.9 if "ships today" in output else 0.2
    return Reply(content=orjson.dumps({"score": score, "reasoning": f"saw {len(output.split())} words"}).decode())


def errors(ctx: EvaluatorContext, evaluator: LLMJudge) -> tuple[EvaluationResult | None, str | None]:
    return asyncio.run(evaluate_one(evaluator, ctx))


def test_judge_passes_a_good_answer_and_sends_rubric_input_output_and_expected(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, grade: Grade
) -> None:
    fake_openai.default = grading_judge
    ctx = make_ctx("Your order ships today.", expected={"should_refuse": False})
    result = grade(judge(fake_openai), ctx)
    assert result.passed is True and result.score == 0.9
    assert result.reason == "judge score 0.90 (threshold 0.5): saw 4 words"
    (request,) = fake_openai.requests
    body = request.body or {}
    assert body["model"] == "judge-1" and body["temperature"] == 0.0
    assert request.messages[0] == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
    prompt = request.user_text
    assert f"RUBRIC:\n{RUBRIC}" in prompt
    assert "INPUT:\n[user] Where is my order ORD-1042?" in prompt
    assert "You triage support tickets" not in prompt  # the candidate's system prompt is not the judge's business
    assert '"should_refuse": false' in prompt
    assert prompt.endswith("ASSISTANT OUTPUT:\nYour order ships today.\n")


def test_judge_fails_a_poor_answer_below_threshold(fake_openai: FakeOpenAI, make_ctx: MakeCtx, grade: Grade) -> None:
    fake_openai.default = grading_judge
    result = grade(judge(fake_openai, threshold=0.5), make_ctx("We are looking into it."))
    assert result.passed is False and result.score == 0.2
    assert result.reason.startswith("judge score 0.20 (threshold 0.5): ")


def test_judge_normalises_a_ten_point_score_and_tolerates_a_fence(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, grade: Grade
) -> None:
    fake_openai.always(None, Reply(content='```json\n{"score": 8, "reason": "mostly there"}\n```'))
    result = grade(judge(fake_openai, threshold=0.75), make_ctx("Ships soon."))
    assert result.score == 0.8 and result.passed is True and result.reason.endswith(": mostly there")


def test_judge_shows_tool_calls_and_uses_a_custom_template(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, grade: Grade
) -> None:
    from promptlab.providers import ToolCall

    fake_openai.always(None, Reply(content='{"score": 1, "reasoning": "ok"}'))
    template = "case {{ case_id }} in {{ segment.intent }} for {{ vars.company }}: {{ output }} after {{ tool_calls }}"
    ctx = make_ctx("Done.", tool_calls=[ToolCall(id="1", name="lookup_order", arguments='{"order_id": "ORD-1042"}')])
    grade(judge(fake_openai, template=template), ctx)
    assert fake_openai.requests[0].user_text == (
        'case case-1 in shipping for Acme: Done. after lookup_order({"order_id": "ORD-1042"})'
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("I think it is pretty good.", "judge answer is not a JSON object with a 'score'"),
        ('{"reasoning": "no score given"}', "judge answer is not a JSON object with a 'score'"),
        ('{"score": "high"}', 'judge score is not a number: "high"'),
        ('{"score": 42}', "judge score 42 is outside 0-1 (or 1-10)"),
        ('{"score": true}', "judge score is not a number: true"),
    ],
)
def test_a_malformed_judge_answer_is_an_evaluator_error_never_a_pass(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, answer: str, error: str
) -> None:
    fake_openai.always(None, Reply(content=answer))
    result, message = errors(make_ctx("Ships today."), judge(fake_openai))
    assert result is None
    assert message is not None and message.startswith(f"ValueError: {error}")


def test_a_failing_judge_provider_is_an_evaluator_error(fake_openai: FakeOpenAI, make_ctx: MakeCtx) -> None:
    fake_openai.always(None, Fault.http(500, message="judge overloaded"))
    result, message = errors(make_ctx("Ships today."), judge(fake_openai))
    assert result is None
    assert message is not None and message.startswith("ProviderError: HTTP 500 from http://127.0.0.1:")
    assert "judge overloaded" in message


def test_the_judge_cache_answers_repeat_requests_without_calling_the_provider(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, grade: Grade, tmp_path: Path
) -> None:
    fake_openai.default = grading_judge
    cache = str(tmp_path / "judge-cache")
    first = grade(judge(fake_openai, cache=cache), make_ctx("Your order ships today."))
    again = grade(judge(fake_openai, cache=cache), make_ctx("Your order ships today."))
    other = grade(judge(fake_openai, cache=cache), make_ctx("It ships today, promise."))
    assert fake_openai.count() == 2
    assert again.score == first.score and again.passed == first.passed
    assert "(cached judge answer)" in again.reason and "cached" not in first.reason
    assert other.score == 0.9 and "cached" not in other.reason
    assert (tmp_path / "judge-cache" / "responses.jsonl").read_text().count("\n") == 2


def test_a_read_only_judge_cache_miss_is_an_evaluator_error(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx, tmp_path: Path
) -> None:
    result, message = errors(make_ctx("x"), judge(fake_openai, cache=str(tmp_path), cache_mode="read-only"))
    assert result is None and message is not None and message.startswith("CacheMissError: no cached response for case")
    assert fake_openai.count() == 0


def test_any_provider_can_judge_including_a_python_callable(make_ctx: MakeCtx, grade: Grade, tmp_path: Path) -> None:
    module = tmp_path / "strict_judge.py"
    module.write_text(
        "def grade(request):\n"
        "    text = request.messages[-1]['content'].split('ASSISTANT OUTPUT:')[-1]\n"
        '    return \'{"score": %s, "reasoning": "keyword check"}\' % (1 if \'ships\' in text else 0)\n'
    )
    evaluator = build_evaluator(
        {"llm_judge": {"rubric": RUBRIC, "model": "local", "provider": f"python:{module}:grade", "threshold": 1}}
    )
    assert grade(evaluator, make_ctx("It ships today.")).passed is True
    assert grade(evaluator, make_ctx("No idea.")).passed is False


@pytest.mark.parametrize(
    ("text", "score", "reasoning"),
    [
        ('{"score": 0.25, "reasoning": "weak"}', 0.25, "weak"),
        ('Here you go: {"score": 1, "reasoning": "perfect"} Hope that helps.', 1.0, "perfect"),
        ('{"score": "7", "reason": "fine"}', 0.7, "fine"),
        ('{"score": 10}', 1.0, ""),
        ('{"score": 0, "reasoning": ["a", "b"]}', 0.0, '["a","b"]'),
    ],
)
def test_parse_judge_answer_accepts_reasonable_shapes(text: str, score: float, reasoning: str) -> None:
    assert parse_judge_answer(text) == (pytest.approx(score), reasoning)


@pytest.mark.parametrize("text", [None, "", "[0.5]", '{"score": -0.1}', '{"score": null}'])
def test_parse_judge_answer_rejects_malformed_answers(text: str | None) -> None:
    with pytest.raises(ValueError, match="judge"):
        parse_judge_answer(text)


def test_a_judge_template_reaching_python_internals_is_refused_by_the_sandbox(
    fake_openai: FakeOpenAI, make_ctx: MakeCtx
) -> None:
    evaluator = judge(fake_openai, template="{{ output.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="refused by the sandbox") as exc:
        evaluator.request(make_ctx("Ships today."))
    assert "\n" not in str(exc.value) and fake_openai.requests == []
