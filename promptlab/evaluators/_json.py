"""Structured-output evaluators: json_valid, json_schema, required_fields, fields_match."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import orjson
from pydantic import Field

from promptlab._util.canonical import canonical_json
from promptlab.errors import SpecError
from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators, json_error
from promptlab.evaluators._common import MISSING, clip, clip_output, lookup, same_value, shorten

__all__ = ["FieldsMatch", "JsonSchema", "JsonValid", "RequiredFields", "check_schema_argument", "json_pointer"]


@evaluators.register("json_valid")
@dataclass(kw_only=True)
class JsonValid(Evaluator):
    """Passes when the output parses as JSON (a Markdown code fence around it is accepted)."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Parse the output; the reason carries the parser's message and the start of the output."""
        error = json_error(ctx.output)
        if error is None:
            return EvaluationResult(passed=True, reason=f"valid JSON ({type(ctx.parsed).__name__})")
        return EvaluationResult(passed=False, reason=f"not JSON: {error}; output {clip_output(ctx.output)}")


@evaluators.register("json_schema")
@dataclass(kw_only=True)
class JsonSchema(Evaluator):
    """Passes when the output is JSON valid against `schema` (default: the artifact's `response_format`)."""

    schema: dict[str, Any] | None = None
    """A JSON Schema; `None` means the artifact's `response_format`."""
    max_errors: Annotated[int, Field(gt=0)] = 3
    """How many violations the reason lists."""

    def __post_init__(self) -> None:
        if self.schema is not None:
            check_schema_argument("json_schema", self.schema)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Validate the parsed output; the reason lists the first violations with JSON pointers."""
        schema = self.schema if self.schema is not None else ctx.artifact.response_format
        source = "the given schema" if self.schema is not None else "the artifact's response_format"
        if schema is None:
            return EvaluationResult(
                reason="nothing to check: no `schema` argument and the artifact has no response_format"
            )
        error = json_error(ctx.output)
        if error is not None:
            return EvaluationResult(passed=False, reason=f"not JSON ({error}), so not valid against {source}")
        violations = list(_validator(canonical_json(schema)).iter_errors(ctx.parsed))
        if not violations:
            return EvaluationResult(passed=True, reason=f"valid against {source}")
        shown = [f"{json_pointer(v.absolute_path) or '(root)'}: {shorten(v.message, 90)}" for v in violations]
        more = f" (+{len(shown) - self.max_errors} more)" if len(shown) > self.max_errors else ""
        noun = "violation" if len(shown) == 1 else "violations"
        return EvaluationResult(
            passed=False, reason=f"{len(shown)} {noun} of {source}: " + "; ".join(shown[: self.max_errors]) + more
        )


@evaluators.register("required_fields")
@dataclass(kw_only=True)
class RequiredFields(Evaluator):
    """Passes when every listed field (dotted paths; default: the case's `expected.fields` keys) is present."""

    fields: list[str] | None = None
    """Dotted paths that must be present; `None` means the keys of the case's `expected.fields`."""
    allow_null: bool = False
    """Whether a JSON `null` counts as present."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Look every path up; score is the fraction present, the reason names the missing ones."""
        wanted = self.fields if self.fields is not None else list(ctx.case.expected.fields)
        if not wanted:
            return EvaluationResult(reason="nothing to check: no `fields` argument and no expected.fields in the case")
        if not isinstance(ctx.parsed, (dict, list)):
            return EvaluationResult(
                passed=False, score=0.0, reason=f"output is not a JSON object: {clip_output(ctx.output)}"
            )
        missing = []
        for path in wanted:
            value = lookup(ctx.parsed, path)
            if value is MISSING or (value is None and not self.allow_null):
                missing.append(f"{path} (null)" if value is None else path)
        score = 1 - len(missing) / len(wanted)
        if missing:
            return EvaluationResult(
                passed=False, score=score, reason=f"missing {len(missing)} of {len(wanted)}: " + ", ".join(missing)
            )
        return EvaluationResult(passed=True, score=score, reason=f"all {len(wanted)} present")


@evaluators.register("fields_match")
@dataclass(kw_only=True)
class FieldsMatch(Evaluator):
    """Passes when each expected field (dotted path; default: the case's `expected.fields`) has the expected value."""

    fields: dict[str, Any] | None = None
    """Dotted path -> expected value; `None` means the case's `expected.fields`."""
    case_sensitive: bool = True
    """Whether string values must match in case."""

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Compare each field as JSON values; score is the fraction that match."""
        wanted = self.fields if self.fields is not None else ctx.case.expected.fields
        if not wanted:
            return EvaluationResult(reason="nothing to check: no `fields` argument and no expected.fields in the case")
        if not isinstance(ctx.parsed, (dict, list)):
            return EvaluationResult(
                passed=False, score=0.0, reason=f"output is not a JSON object: {clip_output(ctx.output)}"
            )
        wrong = []
        for path, expected in wanted.items():
            actual = lookup(ctx.parsed, path)
            if not same_value(expected, actual, case_sensitive=self.case_sensitive):
                wrong.append(f"{path}: expected {clip(expected, 40)}, got {clip(actual, 40)}")
        score = 1 - len(wrong) / len(wanted)
        if wrong:
            return EvaluationResult(
                passed=False, score=score, reason=f"{len(wrong)} of {len(wanted)} differ: " + "; ".join(wrong)
            )
        return EvaluationResult(passed=True, score=score, reason=f"all {len(wanted)} match")


def check_schema_argument(evaluator: str, schema: dict[str, Any]) -> None:
    """Raise a one-line `SpecError` when a `schema` argument is not a valid JSON Schema."""
    # jsonschema loads on first use: it costs ~80 ms, and most commands check no schema.
    from promptlab._util.jsonschema import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = json_pointer(exc.path) or "(root)"
        raise SpecError(
            f"evaluator '{evaluator}': argument 'schema': invalid JSON Schema at {where}: {shorten(exc.message, 100)}"
        ) from None


def json_pointer(path: Any) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes (`""` is the document root)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@lru_cache(maxsize=32)
def _validator(schema_json: bytes) -> Any:
    # Keyed on canonical JSON so every case of a run reuses one compiled validator for the artifact's schema.
    from promptlab._util.jsonschema import jsonschema

    schema = orjson.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
