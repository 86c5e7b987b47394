from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from promptlab._util.spec import Pluggable, Spec, SpecRegistry
from promptlab.errors import SpecError

parts: SpecRegistry[Pluggable] = SpecRegistry("widget")


@parts.register("knob")
@dataclass(kw_only=True)
class Knob(Pluggable):
    value: str
    turns: int = 1
    labels: list[str] = field(default_factory=list)


@parts.register("plain")
@dataclass(kw_only=True)
class Plain(Pluggable):
    pass


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("plain", Spec(name="plain")),
        ({"plain": None}, Spec(name="plain")),
        ({"knob": "x"}, Spec(name="knob", args={"_": "x"})),
        ({"knob": {"value": "x", "turns": 2}}, Spec(name="knob", args={"value": "x", "turns": 2})),
        ({"name": "knob", "args": {"value": "x"}}, Spec(name="knob", args={"value": "x"})),
    ],
)
def test_spec_short_forms_parse(written: object, expected: Spec) -> None:
    assert Spec.model_validate(written) == expected


def test_built_part_round_trips_through_its_spec() -> None:
    knob = parts.build({"knob": "x"})
    assert isinstance(knob, Knob) and knob.value == "x"
    spec = knob.to_spec()
    assert spec.model_dump() == {"knob": {"value": "x"}}
    assert parts.build(spec.model_dump()).to_spec() == spec
    full = parts.build({"knob": {"value": "y", "turns": 3, "labels": ["a"]}}).to_spec()
    assert full.args == {"value": "y", "turns": 3, "labels": ["a"]}
    assert parts.build("plain").to_spec().model_dump() == "plain"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown widget 'nope' (known: knob, plain)"),
        ({"knob": {"valeu": "x"}}, "widget 'knob': unknown argument 'valeu' (expected: value, turns, labels)"),
        ({"knob": {"value": "x", "turns": "many"}}, "widget 'knob': argument 'turns': input should be a valid integer"),
        ({"knob": {}}, "widget 'knob': missing required argument 'value'"),
        ({"plain": 3}, "widget 'plain' takes no arguments"),
    ],
)
def test_bad_specs_give_one_line_errors(spec: object, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parts.build(spec)  # type: ignore[arg-type]
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_registering_a_non_dataclass_fails_loudly() -> None:
    with pytest.raises(TypeError, match="must be a dataclass"):
        parts.register("bad")(type("Bad", (Pluggable,), {}))


def test_evaluator_arguments_from_files_are_strict_numbers_and_booleans() -> None:
    from promptlab.errors import SpecError
    from promptlab.evaluators import build_evaluator

    with pytest.raises(SpecError, match=r"argument 'max_words': input should be a valid integer"):
        build_evaluator({"verbosity": {"max_words": True}})
    with pytest.raises(SpecError, match=r"argument 'max_words': input should be a valid integer"):
        build_evaluator({"verbosity": {"max_words": "150"}})
