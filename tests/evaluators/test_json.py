"""json_valid, json_schema, required_fields, fields_match."""

from __future__ import annotations

import orjson
import pytest

from promptlab.errors import SpecError
from promptlab.evaluators import FieldsMatch, JsonSchema, JsonValid, RequiredFields, build_evaluator
from promptlab.evaluators._json import json_pointer
from tests.evaluators.conftest import ARTIFACT, Grade, MakeCtx

GOOD = {"category": "shipping", "priority": "high", "reply": "Your order ORD-1042 ships today."}


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def test_json_valid_passes_on_json_and_on_a_fenced_block(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(JsonValid(), make_ctx(dumps(GOOD))).passed is True
    fenced = grade(JsonValid(), make_ctx("```json\n" + dumps(GOOD) + "\n```"))
    assert fenced.passed is True and "dict" in fenced.reason


def test_json_valid_accepts_a_literal_null(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(JsonValid(), make_ctx("null")).passed is True


def test_json_valid_fails_with_the_parser_message_and_the_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(JsonValid(), make_ctx('Sure! {"category": "refund"}'))
    assert result.passed is False
    assert "not JSON: " in result.reason and "line 1 column 1" in result.reason
    assert '"Sure! {' in result.reason


def test_json_valid_fails_on_a_missing_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(JsonValid(), make_ctx(None))
    assert result.passed is False and "no output" in result.reason


def test_json_schema_uses_the_artifact_response_format_by_default(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(JsonSchema(), make_ctx(dumps(GOOD)))
    assert result.passed is True and "response_format" in result.reason


def test_json_schema_lists_the_first_violations_with_json_pointers(make_ctx: MakeCtx, grade: Grade) -> None:
    bad = {"category": "billing", "priority": "urgent", "order": {"id": 7, "note": "x"}, "extra": 1}
    result = grade(JsonSchema(), make_ctx(dumps(bad)))
    assert result.passed is False
    assert result.reason.startswith("6 violations of the artifact's response_format: ")
    assert "/category: 'billing' is not one of" in result.reason
    assert "(+3 more)" in result.reason
    assert len(result.reason) < 500


def test_json_schema_max_errors_controls_how_many_are_listed(make_ctx: MakeCtx, grade: Grade) -> None:
    bad = {"category": "billing", "priority": "urgent", "reply": 3}
    result = grade(JsonSchema(max_errors=1), make_ctx(dumps(bad)))
    assert result.reason.count("; ") == 0 and "(+2 more)" in result.reason


def test_json_schema_points_into_nested_arrays(make_ctx: MakeCtx, grade: Grade) -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    result = grade(JsonSchema(schema=schema), make_ctx(dumps({"items": [1, "two"]})))
    assert result.passed is False
    assert result.reason == "1 violation of the given schema: /items/1: 'two' is not of type 'integer'"


def test_json_schema_argument_overrides_the_artifact(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(JsonSchema(schema={"type": "array"}), make_ctx(dumps(GOOD)))
    assert result.passed is False and "(root): " in result.reason and "given schema" in result.reason


def test_json_schema_fails_on_text_that_is_not_json(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(JsonSchema(), make_ctx("category: refund"))
    assert result.passed is False and result.reason.startswith("not JSON (")


def test_json_schema_is_not_applicable_without_any_schema(make_ctx: MakeCtx, grade: Grade) -> None:
    data = {k: v for k, v in ARTIFACT.items() if k != "response_format"}
    result = grade(JsonSchema(), make_ctx(dumps(GOOD), artifact_data=data))
    assert result.passed is None and "no response_format" in result.reason


def test_json_schema_with_an_invalid_schema_is_a_one_line_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^evaluator 'json_schema': argument 'schema': invalid JSON Schema at /type"):
        build_evaluator({"json_schema": {"schema": {"type": "objekt"}}})


def test_json_pointer_escapes_tilde_and_slash() -> None:
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
    assert json_pointer([]) == ""


def test_required_fields_pass_when_all_dotted_paths_are_present(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {**GOOD, "order": {"id": "ORD-1042", "lines": [{"sku": "A1"}]}}
    result = grade(RequiredFields(fields=["category", "order.id", "order.lines.0.sku"]), make_ctx(dumps(out)))
    assert result.passed is True and result.score == 1.0


def test_required_fields_fail_naming_the_missing_and_the_null_ones(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {"category": "refund", "priority": None}
    result = grade(RequiredFields(fields=["category", "priority", "reply", "order.id"]), make_ctx(dumps(out)))
    assert result.passed is False
    assert result.score == 0.25
    assert result.reason == "missing 3 of 4: priority (null), reply, order.id"


def test_required_fields_allow_null_counts_null_as_present(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(RequiredFields(fields=["priority"], allow_null=True), make_ctx(dumps({"priority": None})))
    assert result.passed is True


def test_required_fields_default_to_the_case_expected_fields(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps({"category": "x"}), expected={"fields": {"category": "refund", "priority": "high"}})
    result = grade(RequiredFields(), ctx)
    assert result.passed is False and result.reason == "missing 1 of 2: priority"


def test_required_fields_not_applicable_without_fields(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(RequiredFields(), make_ctx(dumps(GOOD))).passed is None


def test_required_fields_fail_when_output_is_not_json(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(RequiredFields(fields=["a"]), make_ctx("plain text"))
    assert result.passed is False and result.score == 0.0 and "not a JSON object" in result.reason


def test_a_key_containing_dots_is_found_whole(make_ctx: MakeCtx, grade: Grade) -> None:
    assert grade(RequiredFields(fields=["a.b"]), make_ctx(dumps({"a.b": 1}))).passed is True


def test_fields_match_passes_on_the_case_expected_values(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps(GOOD), expected={"fields": {"category": "shipping", "priority": "high"}})
    result = grade(FieldsMatch(), ctx)
    assert result.passed is True and result.score == 1.0


def test_fields_match_reports_each_difference_and_a_fractional_score(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {"category": "refund", "priority": "high", "order": {"total": 12}}
    expected = {"category": "shipping", "priority": "high", "order.total": 12.0, "order.id": "ORD-1"}
    result = grade(FieldsMatch(fields=expected), make_ctx(dumps(out)))
    assert result.passed is False
    assert result.score == 0.5
    assert result.reason == (
        '2 of 4 differ: category: expected "shipping", got "refund"; order.id: expected "ORD-1", got (missing)'
    )


def test_fields_match_does_not_treat_true_as_one(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(FieldsMatch(fields={"escalate": True}), make_ctx(dumps({"escalate": 1})))
    assert result.passed is False and "expected true, got 1" in result.reason


def test_fields_match_compares_nested_values_and_optionally_ignores_case(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps({"tags": ["Refund", "VIP"], "meta": {"lang": "EN"}}))
    wanted = {"tags": ["refund", "vip"], "meta": {"lang": "en"}}
    assert grade(FieldsMatch(fields=wanted), ctx).passed is False
    assert grade(FieldsMatch(fields=wanted, case_sensitive=False), ctx).passed is True


def test_fields_match_not_applicable_without_expected_fields(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(FieldsMatch(), make_ctx(dumps(GOOD)))
    assert result.passed is None and "no expected.fields" in result.reason


def test_fields_match_fails_when_output_is_not_json(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(FieldsMatch(fields={"a": 1}), make_ctx("nope"))
    assert result.passed is False and result.score == 0.0
