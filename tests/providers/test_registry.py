"""Provider specs: the three forms, round-trips, and one-line errors."""

from __future__ import annotations

import pytest

from promptlab._util.spec import Spec
from promptlab.errors import SpecError
from promptlab.providers import OpenAIProvider, build_provider, provider_spec


def test_all_three_spec_forms_build() -> None:
    assert isinstance(build_provider("openai"), OpenAIProvider)
    built = build_provider({"openai": {"base_url": "http://127.0.0.1:1/v1", "timeout_s": 5}})
    assert isinstance(built, OpenAIProvider) and built.timeout_s == 5
    assert provider_spec("python:pkg.mod:fn") == Spec(name="python", args={"function": "pkg.mod:fn"})
    assert provider_spec({"python": "pkg.mod:fn"}).args == {"_": "pkg.mod:fn"}


def test_spec_data_round_trips_and_holds_no_defaults() -> None:
    built = build_provider({"openai": {"base_url": "http://127.0.0.1:1/v1"}})
    assert built.spec_data() == {"openai": {"base_url": "http://127.0.0.1:1/v1"}}
    assert build_provider(built.spec_data()) == built
    assert build_provider("openai").spec_data() == "openai"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("anthropic", "unknown provider 'anthropic' (known: openai, python)"),
        ({"openai": {"api_key": "sk-x"}}, "provider 'openai': unknown argument 'api_key'"),
        ("", "empty provider spec"),
        ({"a": 1, "b": 2}, "bad provider spec"),
    ],
)
def test_bad_specs_are_one_line_spec_errors(spec: object, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        build_provider(spec)  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)
