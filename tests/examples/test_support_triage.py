"""The support-triage example: its files validate, its recorded responses replay offline, and v2 differs from v1
the way the example says (better on ambiguous / adversarial / legal, worse on billing in Germany, wordier, costlier,
more tool calls)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from promptlab.artifacts import PromptArtifact, load_artifact
from promptlab.datasets import HARD_NEGATIVE_TAGS, Case, load_suite
from promptlab.evaluators import build_evaluator, detect_refusal, parse_json_output
from promptlab.providers import ChatRequest, ChatResponse
from promptlab.runner import RunDir, RunSummary, build_request
from tests.examples.conftest import EXAMPLE, ROOT

Replays = dict[str, tuple[RunSummary, Any]]


@pytest.fixture(scope="module")
def suite_cases() -> list[Case]:
    return load_suite(EXAMPLE / "suite.yaml").dataset.cases


def pass_rate(frame: pd.DataFrame, mask: Any = None) -> float:
    rows = frame if mask is None else frame[mask]
    assert len(rows) > 0, "empty selection"
    return float(rows["passed"].mean())


def tagged(frame: pd.DataFrame, tag: str) -> Any:
    return frame["tags"].map(lambda tags: tag in tags)


# -- the files -------------------------------------------------------------------------------------------------


def test_artifacts_and_suite_validate_from_the_cli(run_cli: Callable[..., Any]) -> None:
    result = run_cli("artifact", "validate", EXAMPLE / "v1.yaml", EXAMPLE / "v2.yaml")
    assert result.code == 0, result.err
    assert result.out.count(": ok (") == 2
    result = run_cli("dataset", "validate", "--suite", EXAMPLE / "suite.yaml")
    assert result.code == 0, result.err
    assert "ok (" in result.out


def test_artifacts_describe_a_realistic_openai_deployment() -> None:
    for version in ("v1", "v2"):
        artifact = load_artifact(EXAMPLE / f"{version}.yaml")
        assert artifact.model.provider == "openai"
        assert artifact.model.name.startswith("gpt-")
        assert artifact.model.input_price_per_mtok > 0 and artifact.model.output_price_per_mtok > 0
        assert artifact.owner and artifact.known_limitations and artifact.changelog
        assert artifact.tool_names() == ["lookup_order"]
        assert artifact.tools is not None and artifact.tools.schema_version
        assert artifact.tools.functions[0].function.parameters["required"] == ["order_id"]
        schema = artifact.response_format
        assert schema is not None and schema["additionalProperties"] is False
        assert set(schema["required"]) == {"category", "priority", "reply"}


def test_v2_declares_verbosity_and_refusals_but_not_its_tool_usage_or_cost() -> None:
    v1, v2 = load_artifact(EXAMPLE / "v1.yaml"), load_artifact(EXAMPLE / "v2.yaml")
    assert v2.parent == v1.version
    declared = {(c.behaviour, c.direction) for c in v2.expected_changes}
    assert ("verbosity", "increase") in declared
    assert ("refusal_rate", "increase") in declared
    # The example's point: the comparison has to catch these, the author did not declare them.
    assert not {b for b, _ in declared} & {"tool_usage", "cost", "latency"}
    segments = {tuple(c.segment.items()) for c in v2.expected_changes if c.segment}
    dataset_segments = {(k, v) for case in load_suite(EXAMPLE / "suite.yaml").dataset for k, v in case.segment.items()}
    for segment in segments:
        assert set(segment) <= dataset_segments, f"declared segment {segment} has no cases"


def test_suite_includes_the_repository_regression_cases_directory() -> None:
    suite = load_suite(EXAMPLE / "suite.yaml")
    assert suite.regression_cases is not None
    directory = suite.resolve(suite.regression_cases).resolve()
    assert directory == (ROOT / "regression_cases").resolve()
    assert (directory / "README.md").is_file()
    assert suite.cache is not None and suite.resolve(suite.cache).resolve() == (EXAMPLE / "responses").resolve()


def test_cases_cover_segments_and_every_hard_negative_category(suite_cases: list[Case]) -> None:
    assert len(suite_cases) >= 150
    ids = [c.id for c in suite_cases]
    assert len(ids) == len(set(ids))
    for case in suite_cases:
        assert {"intent", "geo", "tenant", "risk"} <= case.segment.keys(), case.id
        assert {"message", "customer_name", "locale", "tenant_name"} <= case.vars.keys(), case.id
        assert case.expected.should_refuse is not None, case.id
        assert "category" in case.expected.fields, case.id
    values = {dim: {c.segment[dim] for c in suite_cases} for dim in ("intent", "geo", "tenant", "risk")}
    assert len(values["intent"]) >= 8
    assert {"US", "DE", "FR", "IN", "BR"} <= values["geo"]
    assert 3 <= len(values["tenant"]) <= 4
    assert values["risk"] == {"low", "medium", "high"}
    counts = Counter(tag for c in suite_cases for tag in c.hard_negatives)
    for tag in HARD_NEGATIVE_TAGS:
        assert counts[tag] >= 10, f"{tag}: {counts[tag]} cases"
    assert sum(1 for c in suite_cases if c.vars.get("history")) >= 10


def test_order_questions_expect_lookup_order_and_carry_canned_results(suite_cases: list[Case]) -> None:
    order_cases = [c for c in suite_cases if c.segment["intent"] == "order_status"]
    assert order_cases
    for case in order_cases:
        assert case.expected.tool_sequence == ["lookup_order"], case.id
        matching = [r for r in case.tool_results if (r.arguments or {}).get("order_id") == case.vars["order_id"]]
        assert len(matching) == 1, case.id
    failures = [c for c in suite_cases if "hard-negative:tool-failure" in c.tags]
    assert all(r.error for c in failures for r in c.tool_results)
    assert all(not r.error for c in suite_cases if c not in failures for r in c.tool_results)


def test_every_evaluator_the_suite_and_cases_name_is_registered(suite_cases: list[Case]) -> None:
    suite = load_suite(EXAMPLE / "suite.yaml")
    specs = [*suite.evaluators, *(spec for c in suite_cases for spec in c.evaluators)]
    names = {spec.name for spec in specs}
    assert {"json_valid", "json_schema", "fields_match", "refusal", "tool_sequence", "verbosity"} <= names
    for spec in specs:
        build_evaluator(spec)


def test_suite_refusal_patterns_recognise_the_refusals_in_every_reply_language(synthetic: ModuleType) -> None:
    patterns = next(s for s in load_suite(EXAMPLE / "suite.yaml").evaluators if s.name == "refusal").args["patterns"]
    for lang, text in synthetic.TEXT.items():
        for key in ("refuse_legal", "refuse_injection"):
            assert detect_refusal(text[key], patterns=patterns), (lang, key)
        answers = [text["tool_failed"], text["clarify"], text["next"], *text["ack"], *text["body"].values()]
        for answer in answers:
            assert not detect_refusal(answer, patterns=patterns), (lang, answer)


def test_generator_rewrites_the_committed_cases_byte_for_byte(make_cases: ModuleType, tmp_path: Path) -> None:
    count = make_cases.generate(tmp_path)
    committed = sorted(p.relative_to(EXAMPLE / "cases") for p in (EXAMPLE / "cases").rglob("*") if p.is_file())
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (EXAMPLE / "cases" / rel).read_bytes(), rel
    assert count == len(load_suite(EXAMPLE / "suite.yaml").dataset.cases) - _regression_count()


def _regression_count() -> int:
    return sum(1 for c in load_suite(EXAMPLE / "suite.yaml").dataset if "regression" in c.tags)


# -- offline replay --------------------------------------------------------------------------------------------


def test_replay_of_both_versions_is_complete_with_no_errors_and_no_cache_misses(
    replays: Replays, suite_cases: list[Case]
) -> None:
    for version, (summary, frame) in replays.items():
        assert summary.rows == summary.expected_rows == len(suite_cases) * 3, version
        assert summary.cache_hits == summary.rows, version
        assert not summary.error_kinds, (version, summary.error_kinds)
        assert set(summary.outcomes) <= {"pass", "fail"}, (version, summary.outcomes)
        assert frame["cached"].all()
        assert frame["error_kind"].isna().all()
        manifest = RunDir.open(summary.path).manifest
        assert manifest.status == "complete" and manifest.artifact.version == version
        assert manifest.cache_mode == "read-only" and manifest.provider == "openai"


def test_v2_regresses_on_billing_and_most_on_german_billing(replays: Replays) -> None:
    v1, v2 = replays["v1"][1], replays["v2"][1]
    billing = v1["segment.intent"] == "billing"
    assert pass_rate(v1, billing) - pass_rate(v2, v2["segment.intent"] == "billing") >= 0.15
    de = (v1["segment.intent"] == "billing") & (v1["segment.geo"] == "DE")
    de2 = (v2["segment.intent"] == "billing") & (v2["segment.geo"] == "DE")
    drop_de = pass_rate(v1, de) - pass_rate(v2, de2)
    rest = (v1["segment.intent"] == "billing") & (v1["segment.geo"] != "DE")
    rest2 = (v2["segment.intent"] == "billing") & (v2["segment.geo"] != "DE")
    drop_rest = pass_rate(v1, rest) - pass_rate(v2, rest2)
    assert drop_de >= 0.4
    assert drop_de > drop_rest + 0.3
    # The cause is routing: invoices now go to the account queue.
    invoice_rows = v2[tagged(v2, "invoice")]
    assert (invoice_rows["output"].str.contains('"category": "account"')).mean() >= 0.6


def test_v2_improves_ambiguous_adversarial_and_legal_segments(replays: Replays) -> None:
    v1, v2 = replays["v1"][1], replays["v2"][1]
    for tag in ("hard-negative:ambiguous", "hard-negative:adversarial", "legal-advice"):
        assert pass_rate(v2, tagged(v2, tag)) - pass_rate(v1, tagged(v1, tag)) >= 0.25, tag
    legal = v1["segment.intent"] == "legal_question"
    assert pass_rate(v2, v2["segment.intent"] == "legal_question") > pass_rate(v1, legal) + 0.2


def test_v2_is_wordier_costlier_slower_and_calls_the_tool_more(replays: Replays) -> None:
    v1, v2 = replays["v1"][1], replays["v2"][1]
    assert v2["output_tokens"].mean() >= 1.5 * v1["output_tokens"].mean()
    assert v2["cost_usd"].mean() >= 1.2 * v1["cost_usd"].mean()
    assert v2["latency_s"].mean() > v1["latency_s"].mean()
    assert v2["n_tool_calls"].mean() >= 1.2 * v1["n_tool_calls"].mean()
    # The extra calls are on questions that are not about an order's status (v1 never looks those up).
    not_status = (v2["segment.intent"] != "order_status") & (v2["n_tool_calls"] > 0)
    assert not_status.sum() > 2 * ((v1["segment.intent"] != "order_status") & (v1["n_tool_calls"] > 0)).sum()


def test_repeats_vary_for_some_cases_but_not_most(replays: Replays) -> None:
    for version, (_, frame) in replays.items():
        per_case = frame.groupby("case_id")["passed"].nunique()
        flaky = float((per_case > 1).mean())
        assert 0.02 <= flaky <= 0.4, (version, flaky)


def test_recorded_usage_and_latency_look_like_a_real_model(replays: Replays) -> None:
    for _, frame in replays.values():
        assert frame["input_tokens"].min() > 300  # system prompt + tools + schema
        assert frame["output_tokens"].min() > 5
        assert frame["latency_s"].std() > 0.1
        long_context = tagged(frame, "hard-negative:long-context")
        assert frame[long_context]["input_tokens"].mean() > 1.5 * frame[~long_context]["input_tokens"].mean()
        noisy = frame["output"].str.startswith("```") | ~frame["eval.json_schema.passed"].astype(bool)
        assert 0 < noisy.mean() < 0.1


# -- the synthetic model ---------------------------------------------------------------------------------------


def _case(suite_cases: list[Case], case_id: str) -> Case:
    return next(c for c in suite_cases if c.id == case_id)


def _first_case(suite_cases: list[Case], predicate: Callable[[Case], bool]) -> Case:
    return next(c for c in suite_cases if predicate(c))


def _ask(synthetic: ModuleType, artifact: PromptArtifact, case: Case, sample: int = 0) -> ChatResponse:
    response: ChatResponse = synthetic.respond(build_request(artifact, artifact.render(case.vars), sample=sample))
    return response


def _with_system(artifact: PromptArtifact, edit: Callable[[str], str]) -> PromptArtifact:
    data = artifact.model_dump(mode="json")
    data["messages"][0]["content"] = edit(data["messages"][0]["content"])
    return PromptArtifact.from_data(data)


def test_synthetic_model_is_deterministic(synthetic: ModuleType, suite_cases: list[Case]) -> None:
    v1 = load_artifact(EXAMPLE / "v1.yaml")
    case = suite_cases[0]
    request = build_request(v1, v1.render(case.vars), sample=1)
    first, second = synthetic.respond(request), synthetic.respond(request)
    assert first == second
    assert isinstance(first, ChatResponse) and first.latency_s > 0


def test_synthetic_model_reacts_to_the_legal_rule_in_the_prompt_not_to_the_version(
    synthetic: ModuleType, suite_cases: list[Case]
) -> None:
    v1, v2 = load_artifact(EXAMPLE / "v1.yaml"), load_artifact(EXAMPLE / "v2.yaml")
    rule = next(p for p in v2.messages[0].content.split("\n\n") if "legal advice" in p)
    v1_with_rule = _with_system(v1, lambda text: text.replace("Priority:", rule + "\n\nPriority:"))
    assert v1_with_rule.version == "v1"
    advice = [c for c in suite_cases if "legal-advice" in c.tags]

    def refusals(artifact: PromptArtifact) -> int:
        texts = [_ask(synthetic, artifact, c).text for c in advice]
        return sum(detect_refusal(t, patterns=_patterns(), parsed=parse_json_output(t)) for t in texts)

    assert refusals(v1_with_rule) >= 0.8 * len(advice)
    assert refusals(v1) <= 0.3 * len(advice)


def test_synthetic_model_routes_invoices_by_the_glossary_in_the_prompt(
    synthetic: ModuleType, suite_cases: list[Case]
) -> None:
    v1, v2 = load_artifact(EXAMPLE / "v1.yaml"), load_artifact(EXAMPLE / "v2.yaml")
    v1_lines = {line.split(":")[0]: line for line in v1.messages[0].content.splitlines() if line.startswith("- ")}

    def restore_glossary(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        skip = False
        for line in lines:
            if skip and line.startswith("  "):
                continue
            skip = False
            key = line.split(":")[0]
            if key in ("- billing", "- account"):
                out.append(v1_lines[key])
                skip = True
                continue
            out.append(line)
        return "\n".join(out)

    v2_fixed = _with_system(v2, restore_glossary)
    invoices = [c for c in suite_cases if "invoice" in c.tags]
    assert invoices

    def routed_to_billing(artifact: PromptArtifact) -> float:
        hits = 0
        for case in invoices:
            response = _ask(synthetic, artifact, case)
            if response.tool_calls:  # v2 looks the order up first; answer with the canned result
                response = _answer_tools(synthetic, artifact, case, response)
            hits += '"category": "billing"' in (response.text or "")
        return hits / len(invoices)

    assert routed_to_billing(v2) <= 0.3
    assert routed_to_billing(v2_fixed) >= 0.8


def _answer_tools(synthetic: ModuleType, artifact: PromptArtifact, case: Case, response: ChatResponse) -> ChatResponse:
    messages = artifact.render(case.vars)
    for _ in range(4):
        if not response.tool_calls:
            return response
        call = response.tool_calls[0]
        result = next(r for r in case.tool_results if r.arguments == json.loads(call.arguments))
        content = result.error if result.error else json.dumps(result.output)
        messages = [
            *messages,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": content},
        ]
        response = synthetic.respond(build_request(artifact, messages))
    return response


def test_synthetic_model_answers_from_the_tool_output(synthetic: ModuleType, suite_cases: list[Case]) -> None:
    v1 = load_artifact(EXAMPLE / "v1.yaml")
    case = _first_case(
        suite_cases,
        lambda c: c.metadata.get("template") == "where_is" and c.metadata.get("language") == "en" and not c.evaluators,
    )
    first = _ask(synthetic, v1, case)
    assert [c.name for c in first.tool_calls] == ["lookup_order"]
    assert json.loads(first.tool_calls[0].arguments) == {"order_id": case.vars["order_id"]}
    final = _answer_tools(synthetic, v1, case, first)
    tracking = case.tool_results[0].output["tracking_number"]
    assert tracking in (final.text or "")
    assert final.usage.input_tokens > first.usage.input_tokens  # the tool turn is part of the prompt


def test_synthetic_usage_follows_text_length(synthetic: ModuleType) -> None:
    base: dict[str, Any] = {"model": "gpt-4o-mini-2024-07-18", "max_tokens": 400}
    header = "Customer: A B (locale en-US)\nLatest message:\n"
    short = ChatRequest(messages=[{"role": "user", "content": header + "hi"}], **base)
    long_text = header + "where is my parcel? " * 200
    long = ChatRequest(messages=[{"role": "user", "content": long_text}], **base)
    small, large = synthetic.respond(short), synthetic.respond(long)
    assert large.usage.input_tokens - small.usage.input_tokens == pytest.approx((len(long_text) - 48) / 4, rel=0.1)
    assert small.usage.output_tokens == pytest.approx(len(small.text or "") / 4, abs=1)


def _patterns() -> list[str]:
    spec = next(s for s in load_suite(EXAMPLE / "suite.yaml").evaluators if s.name == "refusal")
    return list(spec.args["patterns"])
