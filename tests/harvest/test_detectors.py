"""Each detector's decision on single records, its spec round trip and its argument errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from promptlab.errors import SpecError
from promptlab.harvest import (
    GroupStats,
    LogRecord,
    Outcome,
    PolicyView,
    RecordContext,
    ToolRule,
    VersionInfo,
    build_detector,
    detectors,
)
from promptlab.harvest._detectors import (
    ExcessiveVerbosity,
    HallucinatedFieldsDetector,
    OutcomeSignals,
    UnexpectedRefusal,
    WrongToolSequence,
)

VIEW = PolicyView(
    versions={
        "v1": VersionInfo(name="v1", max_words=20, allowed_fields=["category", "reply"], tools=["lookup_order"]),
        "v2": VersionInfo(name="v2"),
    }
)


def ctx(
    *,
    output: str | None = "fine",
    intent: str = "billing",
    version: str = "v1",
    calls: list[dict[str, Any]] | None = None,
    variables: dict[str, Any] | None = None,
    outcome: Outcome | None = None,
    group: GroupStats | None = None,
) -> RecordContext:
    record = LogRecord.model_validate(
        {
            "request_id": "r1",
            "timestamp": "2024-06-12T09:30:00Z",
            "prompt": "triage",
            "version": version,
            "segment": {"intent": intent},
            "vars": variables if variables is not None else {"message": "hi"},
            "output": output,
            "tool_calls": calls or [],
        }
    )
    return RecordContext(record=record, outcome=outcome or Outcome(), policy=VIEW, group=group)


def obj(**fields: Any) -> str:
    return orjson.dumps(fields).decode()


LOOKUP = {"name": "lookup_order", "arguments": {"order_id": "A-1"}, "result": {"tracking": "TR12345678"}}
FAILED = {"name": "lookup_order", "arguments": {"order_id": "A-1"}, "error": "timeout"}


# -- unexpected_refusal ------------------------------------------------------------------------------------------


def test_a_refusal_of_an_intent_that_should_be_answered_is_flagged() -> None:
    finding = UnexpectedRefusal(should_refuse=["legal"]).check(ctx(output="I'm sorry, but I can't help with that."))
    assert finding is not None
    assert finding.expected == {"should_refuse": False}
    assert "intent=billing" in finding.reason


def test_a_refusal_of_an_intent_that_should_be_refused_is_not_flagged() -> None:
    detector = UnexpectedRefusal(should_refuse=["legal"])
    assert detector.check(ctx(intent="legal", output="I'm sorry, but I can't help with that.")) is None
    assert detector.check(ctx(output="Happy to help with your refund.")) is None


def test_refusals_inside_json_answers_and_structured_refusal_flags_are_seen() -> None:
    by_text = UnexpectedRefusal()
    assert by_text.check(ctx(output=obj(category="x", reply="I must decline this request."))) is not None
    by_field = UnexpectedRefusal(field="refused")
    assert by_field.check(ctx(output=obj(refused=True, reply="ok"))) is not None
    assert by_field.check(ctx(output=obj(refused=False, reply="I must decline"))) is None


def test_refusal_patterns_must_work_in_python_and_in_the_duckdb_scan() -> None:
    with pytest.raises(SpecError, match=r"argument 'patterns\.0': bad regular expression"):
        build_detector({"unexpected_refusal": {"patterns": ["(unclosed"]}}).configure(VIEW)
    with pytest.raises(SpecError, match=r"not supported by the DuckDB scan \(RE2\)"):
        build_detector({"unexpected_refusal": {"patterns": [r"(?<=no)thanks"]}}).configure(VIEW)


# -- wrong_tool_sequence -----------------------------------------------------------------------------------------


def test_a_missing_expected_tool_call_is_flagged_only_when_the_rule_applies() -> None:
    detector = WrongToolSequence(rules=[ToolRule(intent="order", when_var="order_id", tools=["lookup_order"])])
    finding = detector.check(ctx(intent="order", variables={"order_id": "A-1"}))
    assert finding is not None and finding.expected == {"tool_sequence": ["lookup_order"]}
    assert detector.check(ctx(intent="order", variables={"order_id": ""})) is None
    assert detector.check(ctx(intent="billing", variables={"order_id": "A-1"})) is None


def test_in_order_allows_retries_and_extra_calls_but_exact_does_not() -> None:
    calls = [FAILED, LOOKUP]
    rule = [ToolRule(tools=["lookup_order"])]
    assert WrongToolSequence(rules=rule).check(ctx(calls=calls)) is None
    exact = WrongToolSequence(rules=rule, mode="exact").check(ctx(calls=calls))
    assert exact is not None and "expected [lookup_order] (exact)" in exact.reason


def test_loops_are_runs_longer_than_allowed_or_repeats_after_success() -> None:
    detector = WrongToolSequence(max_repeats=2)
    run = detector.check(
        ctx(calls=[LOOKUP, {**LOOKUP, "arguments": {"order_id": "B"}}, {**LOOKUP, "arguments": {"x": 1}}])
    )
    assert run is not None and "lookup_order called 3 times in a row" in run.reason
    repeat = detector.check(ctx(calls=[LOOKUP, {"name": "other"}, LOOKUP], version="v2"))
    assert repeat is not None and "again with the same arguments" in repeat.reason
    assert repeat.evaluators[0].model_dump() == {"tool_sequence": {"mode": "exact"}}
    assert repeat.expected == {"tool_sequence": ["lookup_order", "other", "lookup_order"]}
    assert detector.check(ctx(calls=[LOOKUP, {**LOOKUP, "arguments": {"order_id": "B"}}])) is None


def test_unknown_tools_come_from_the_served_versions_artifact_or_the_policy() -> None:
    calls = [LOOKUP, {"name": "issue_refund", "arguments": {}}]
    finding = WrongToolSequence().check(ctx(calls=calls))
    assert finding is not None and "unknown tool(s) issue_refund" in finding.reason
    assert finding.expected == {"tool_sequence": ["lookup_order"]}
    assert WrongToolSequence().check(ctx(calls=calls, version="v2")) is None  # v2's tools are unknown
    assert WrongToolSequence(known_tools=["lookup_order", "issue_refund"]).check(ctx(calls=calls)) is None


def test_an_ignored_tool_error_is_flagged_unless_retried_or_admitted() -> None:
    detector = WrongToolSequence()
    ignored = detector.check(ctx(calls=[FAILED], output="It arrives tomorrow."))
    assert ignored is not None and "ignored the error from lookup_order" in ignored.reason
    assert detector.check(ctx(calls=[FAILED], output="Our order system is unavailable right now.")) is None
    assert detector.check(ctx(calls=[FAILED], output="Leider ist das momentan nicht verfügbar.")) is None
    assert detector.check(ctx(calls=[FAILED, LOOKUP], output="It arrives tomorrow.")) is None
    assert WrongToolSequence(check_errors=False).check(ctx(calls=[FAILED], output="It arrives tomorrow.")) is None


# -- hallucinated_fields -----------------------------------------------------------------------------------------


def test_fields_outside_the_served_versions_schema_are_flagged() -> None:
    finding = HallucinatedFieldsDetector().check(ctx(output=obj(category="a", reply="b", refund_amount=5)))
    assert finding is not None
    assert finding.expected == {"allowed_fields": ["category", "reply"]}
    assert finding.details["undeclared_fields"] == ["refund_amount"]
    assert HallucinatedFieldsDetector().check(ctx(output=obj(category="a", reply="b", extra=1), version="v2")) is None
    assert HallucinatedFieldsDetector(check_schema=False).check(ctx(output=obj(category="a", extra=1))) is None


def test_pattern_values_must_appear_in_the_inputs_or_tool_results() -> None:
    detector = HallucinatedFieldsDetector(grounded_patterns=[r"\bTR\d{8}\b"])
    grounded = ctx(output=obj(category="a", reply="Tracking TR12345678."), calls=[LOOKUP])
    assert detector.check(grounded) is None
    made_up = detector.check(ctx(output="Tracking TR87654321 and TR12345678.", calls=[LOOKUP]))
    assert made_up is not None and made_up.details["ungrounded_values"] == ["TR87654321"]
    from_vars = ctx(output="Tracking TR87654321.", variables={"message": "my number is TR87654321"})
    assert detector.check(from_vars) is None


def test_grounded_fields_use_the_evaluators_test_and_add_the_evaluator_to_the_case() -> None:
    detector = HallucinatedFieldsDetector(grounded_fields=["order_id"], check_schema=False)
    finding = detector.check(ctx(output=obj(order_id="Z-99"), variables={"message": "order A-1"}))
    assert finding is not None
    assert finding.evaluators[0].model_dump() == {"hallucinated_fields": {"grounded_fields": ["order_id"]}}
    assert detector.check(ctx(output=obj(order_id="A-1"), variables={"message": "order A-1"})) is None


def test_bad_grounded_patterns_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"argument 'grounded_patterns\.0'"):
        HallucinatedFieldsDetector(grounded_patterns=["[a-"]).configure(VIEW)


# -- excessive_verbosity -----------------------------------------------------------------------------------------


def test_answers_over_the_versions_budget_are_flagged_with_the_budget_as_max_words() -> None:
    detector = ExcessiveVerbosity(field="reply")
    finding = detector.check(ctx(output=obj(reply="word " * 25)))
    assert finding is not None and finding.expected == {"max_words": 20}
    assert detector.check(ctx(output=obj(reply="word " * 20))) is None


def test_answers_far_above_their_segments_median_are_flagged_once_the_segment_is_big_enough() -> None:
    detector = ExcessiveVerbosity(factor=3, min_group=10)
    big = GroupStats(median=4, count=10)
    finding = detector.check(ctx(output="w " * 13, version="v2", group=big))
    assert finding is not None and finding.expected == {"max_words": 12}
    assert "3.2x the segment's median of 4" in finding.reason
    assert detector.check(ctx(output="w " * 12, version="v2", group=big)) is None
    assert detector.check(ctx(output="w " * 13, version="v2", group=GroupStats(median=4, count=9))) is None


def test_the_measured_field_falls_back_to_the_whole_output() -> None:
    detector = ExcessiveVerbosity(field="reply")
    assert detector.check(ctx(output="not json " * 11)) is not None
    assert detector.check(ctx(output=obj(reply="short", notes="x " * 40))) is None


# -- outcome -----------------------------------------------------------------------------------------------------


def test_escalations_and_corrections_are_flagged_and_corrections_become_expectations() -> None:
    detector = OutcomeSignals()
    assert detector.check(ctx()) is None
    escalated = detector.check(ctx(outcome=Outcome(escalation=True)))
    assert escalated is not None and escalated.reason == "escalated to a human" and escalated.expected == {}
    fixed_json = detector.check(ctx(outcome=Outcome(manual_correction=obj(category="refund", reply="long " * 10))))
    assert fixed_json is not None and fixed_json.expected == {"fields": {"category": "refund"}}
    fixed_text = detector.check(ctx(outcome=Outcome(manual_correction="Please call us.")))
    assert fixed_text is not None and fixed_text.expected == {"output": "Please call us."}


def test_only_the_chosen_outcome_signals_count() -> None:
    negative = Outcome(user_feedback="negative", feedback_comment="useless")
    assert OutcomeSignals().check(ctx(outcome=negative)) is None
    finding = OutcomeSignals(signals=["negative_feedback"]).check(ctx(outcome=negative))
    assert finding is not None and finding.details == {"signals": ["negative_feedback"], "feedback_comment": "useless"}


# -- specs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "unexpected_refusal",
        {"unexpected_refusal": {"should_refuse": ["legal"], "field": "refused"}},
        {"wrong_tool_sequence": {"rules": [{"intent": "a", "tools": ["t"]}], "max_repeats": 3}},
        {"hallucinated_fields": {"grounded_patterns": ["x"]}},
        {"excessive_verbosity": {"factor": 2.5, "by": ["intent"]}},
        {"outcome": {"signals": ["fallback"]}},
    ],
)
def test_detectors_round_trip_through_their_specs(spec: Any) -> None:
    detector = build_detector(spec)
    again = build_detector(detector.to_spec())
    assert again == detector


def test_detector_argument_errors_name_the_detector_and_the_argument() -> None:
    with pytest.raises(SpecError, match=r"^unknown detector 'nope' \(known: "):
        build_detector("nope")
    with pytest.raises(SpecError, match=r"detector 'excessive_verbosity': unknown argument 'budget'"):
        build_detector({"excessive_verbosity": {"budget": 3}})
    with pytest.raises(SpecError, match=r"detector 'excessive_verbosity': argument 'factor'"):
        build_detector({"excessive_verbosity": {"factor": 0.5}})
    with pytest.raises(SpecError, match=r"detector 'outcome': argument 'signals.0'"):
        build_detector({"outcome": {"signals": ["vibes"]}})
    assert detectors.names() == [
        "excessive_verbosity",
        "hallucinated_fields",
        "outcome",
        "unexpected_refusal",
        "wrong_tool_sequence",
    ]
