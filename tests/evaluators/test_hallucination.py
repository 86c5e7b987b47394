"""hallucinated_fields: undeclared fields and ungrounded values."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from promptlab.errors import SpecError
from promptlab.evaluators import HallucinatedFields, build_evaluator
from promptlab.evaluators._hallucination import undeclared_fields, ungrounded_values
from tests.evaluators.conftest import ARTIFACT, Grade, MakeCtx

GOOD = {"category": "shipping", "priority": "high", "reply": "It ships today."}
NO_SCHEMA = {k: v for k, v in ARTIFACT.items() if k != "response_format"}


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def test_passes_when_every_field_is_declared_by_the_response_format(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {**GOOD, "order": {"id": "ORD-1042", "total": 12.5}}
    result = grade(HallucinatedFields(), make_ctx(dumps(out)))
    assert result.passed is True
    assert "response_format" in result.reason


def test_flags_top_level_and_nested_fields_the_schema_does_not_allow(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {**GOOD, "confidence": 0.9, "order": {"id": "ORD-1042", "carrier": "DHL"}}
    result = grade(HallucinatedFields(), make_ctx(dumps(out)))
    assert result.passed is False
    assert result.reason == "fields not allowed by the artifact's response_format: confidence, order.carrier"


def test_case_allowed_fields_take_over_from_the_artifact_schema(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps(GOOD), expected={"allowed_fields": ["category", "reply"]})
    result = grade(HallucinatedFields(), ctx)
    assert result.passed is False
    assert result.reason == "fields not allowed by expected.allowed_fields: priority"


def test_allowed_fields_may_be_dotted_paths(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(
        dumps({"order": {"id": "A1", "eta": "soon"}, "notes": {"free": "form"}}),
        expected={"allowed_fields": ["order.id", "notes"]},
    )
    result = grade(HallucinatedFields(), ctx)
    assert result.passed is False and result.reason.endswith(": order.eta")


def test_schema_argument_wins_over_everything(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps({"anything": 1}), expected={"allowed_fields": ["category"]})
    result = grade(HallucinatedFields(schema={"type": "object", "additionalProperties": True}), ctx)
    assert result.passed is True


@pytest.mark.parametrize(
    ("schema", "value", "extra"),
    [
        # additionalProperties absent on an object that declares properties: undeclared keys are flagged
        ({"properties": {"a": {}}}, {"a": 1, "b": 2}, ["b"]),
        # a free-form object (no properties at all) makes no claim
        ({"type": "object"}, {"x": 1}, []),
        # additionalProperties as a schema: extra keys are allowed and followed into
        ({"properties": {}, "additionalProperties": {"properties": {"v": {}}}}, {"k": {"v": 1, "w": 2}}, ["k.w"]),
        # patternProperties declare keys too
        ({"patternProperties": {"^x_": {}}, "additionalProperties": False}, {"x_1": 1, "y": 2}, ["y"]),
        # arrays: items and prefixItems
        ({"properties": {"l": {"items": {"properties": {"a": {}}}}}}, {"l": [{"a": 1}, {"b": 2}]}, ["l.1.b"]),
        ({"prefixItems": [{"properties": {"a": {}}}]}, [{"a": 1, "z": 0}, {"q": 1}], ["0.z"]),
        # combinators and local $refs: a key any branch declares is allowed
        (
            {"anyOf": [{"properties": {"a": {}}}, {"$ref": "#/$defs/B"}], "$defs": {"B": {"properties": {"b": {}}}}},
            {"a": 1, "b": 2, "c": 3},
            ["c"],
        ),
    ],
)
def test_undeclared_fields_follow_the_schema_structure(schema: dict[str, Any], value: Any, extra: list[str]) -> None:
    assert undeclared_fields(value, schema) == extra


def test_grounded_values_from_vars_pass_with_case_and_whitespace_normalised(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(
        dumps({"customer": "jane   DOE", "order_id": "ORD-1042"}),
        vars={"company": "Acme", "message": "Hi, I am Jane Doe and order ORD-1042 is late."},
        expected={"allowed_fields": ["customer", "order_id"]},
    )
    result = grade(HallucinatedFields(grounded_fields=["customer", "order_id"]), ctx)
    assert result.passed is True, result.reason
    assert "2 grounded field(s)" in result.reason


def test_an_id_must_appear_verbatim(make_ctx: MakeCtx, grade: Grade) -> None:
    vars = {"message": "My order ORD-1042 is late."}
    for got in ("ord-1042", "ORD-104", "ORD-10422"):
        ctx = make_ctx(dumps({"order_id": got}), vars=vars, artifact_data=NO_SCHEMA)
        result = grade(HallucinatedFields(grounded_fields=["order_id"]), ctx)
        assert result.passed is False, got
        assert result.reason == f'not grounded in vars or tool outputs: order_id="{got}" ("{got}" not found verbatim)'


def test_values_from_tool_outputs_are_grounded_and_numbers_compare_by_value(make_ctx: MakeCtx, grade: Grade) -> None:
    tool_output = {"order": {"id": "ORD-1042", "total": 42.50, "status": "In transit"}}
    out = {"status": "in transit", "total": 42.5, "total_text": "$42.50", "order_id": "ORD-1042"}
    ctx = make_ctx(dumps(out), vars={"message": "where is it?"}, tool_outputs=[tool_output], artifact_data=NO_SCHEMA)
    result = grade(HallucinatedFields(grounded_fields=["status", "total", "total_text", "order_id"]), ctx)
    assert result.passed is True, result.reason


def test_tool_outputs_given_as_json_text_are_searched_too(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(
        dumps({"eta": "2024-06-03"}), vars={}, tool_outputs=['{"eta": "2024-06-03"}'], artifact_data=NO_SCHEMA
    )
    assert grade(HallucinatedFields(grounded_fields=["eta"]), ctx).passed is True


def test_invented_numbers_and_text_are_flagged(make_ctx: MakeCtx, grade: Grade) -> None:
    out = {"total": 99.99, "status": "delivered", "items": ["ORD-1042", "ORD-7"]}
    ctx = make_ctx(dumps(out), vars={"message": "order ORD-1042 total 42.50, in transit"}, artifact_data=NO_SCHEMA)
    result = grade(HallucinatedFields(grounded_fields=["total", "status", "items", "missing.path"]), ctx)
    assert result.passed is False
    assert result.reason.startswith("not grounded in vars or tool outputs: ")
    assert "total=99.99 (number not in the inputs)" in result.reason
    assert 'status="delivered" (text not found)' in result.reason
    assert 'items.1="ORD-7"' in result.reason
    assert "ORD-1042" not in result.reason and "missing.path" not in result.reason


def test_a_word_inside_a_longer_word_is_not_grounding() -> None:
    bad = ungrounded_values({"name": "Ann"}, ["name"], [{"message": "Joanna wrote in"}])
    assert bad == ['name="Ann" (text not found)']


def test_an_id_inside_a_sentence_must_be_verbatim() -> None:
    bad = ungrounded_values({"note": "Order ORD-1043 is late."}, ["note"], [{"m": "order ord-1042 is late"}])
    assert bad == ['note="Order ORD-1043 is late." ("ORD-1043" not found verbatim)']


def test_both_checks_report_together(make_ctx: MakeCtx, grade: Grade) -> None:
    ctx = make_ctx(dumps({**GOOD, "debug": True, "reply": "Refund of 500 EUR approved"}), vars={"message": "hi"})
    result = grade(HallucinatedFields(grounded_fields=["reply"]), ctx)
    assert result.passed is False
    assert result.reason.startswith("fields not allowed by the artifact's response_format: debug | not grounded")


def test_not_applicable_without_a_schema_or_grounded_fields(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(HallucinatedFields(), make_ctx(dumps(GOOD), artifact_data=NO_SCHEMA))
    assert result.passed is None and result.reason.startswith("nothing to check")


def test_not_applicable_to_text_output(make_ctx: MakeCtx, grade: Grade) -> None:
    result = grade(HallucinatedFields(grounded_fields=["x"]), make_ctx("plain words"))
    assert result.passed is None and "not a JSON object" in result.reason


def test_bad_schema_argument_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^evaluator 'hallucinated_fields': argument 'schema': invalid JSON Schema"):
        build_evaluator({"hallucinated_fields": {"schema": {"properties": []}}})
