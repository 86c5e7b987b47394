"""The hallucinated_fields evaluator: fields the schema does not declare, and values the inputs do not support."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from promptlab.evaluators._base import EvaluationResult, Evaluator, EvaluatorContext, evaluators
from promptlab.evaluators._common import MISSING, clip, lookup
from promptlab.evaluators._json import check_schema_argument

__all__ = [
    "HallucinatedFields",
    "undeclared_fields",
    "ungrounded_values",
]

_EDGE_PUNCTUATION = ".,;:!?()[]{}\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@evaluators.register("hallucinated_fields")
@dataclass(kw_only=True)
class HallucinatedFields(Evaluator):
    """Passes when the output has no undeclared fields and every `grounded_fields` value comes from the inputs.

    Undeclared fields: keys the schema does not declare in `properties`/`patternProperties` where
    `additionalProperties` is absent or false (nested objects and arrays are followed). The allowed fields come from
    the `schema` argument, else the case's `expected.allowed_fields` (dotted paths), else the artifact's
    `response_format`. Grounding: each value at a `grounded_fields` path must appear in the case's vars or in the
    tool outputs the model received, compared without case and with whitespace collapsed; numbers and tokens that
    contain a digit (ids, amounts, dates) must appear verbatim.
    """

    grounded_fields: list[str] = dataclasses.field(default_factory=list)
    """Dotted paths whose values must come from the case's vars or the tool outputs."""
    schema: dict[str, Any] | None = None
    """A JSON Schema declaring the allowed fields; overrides the case's allowed_fields and the artifact's schema."""

    def __post_init__(self) -> None:
        if self.schema is not None:
            check_schema_argument("hallucinated_fields", self.schema)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluationResult:
        """Check declared fields and grounding; the reason lists what is undeclared or unsupported."""
        schema, source = self._allowed(ctx)
        if schema is None and not self.grounded_fields:
            return EvaluationResult(
                reason="nothing to check: no schema, no expected.allowed_fields and no `grounded_fields`"
            )
        if not isinstance(ctx.parsed, (dict, list)):
            return EvaluationResult(reason="not applicable: the output is not a JSON object")
        problems: list[str] = []
        checked: list[str] = []
        if schema is not None:
            extra = undeclared_fields(ctx.parsed, schema)
            checked.append(f"fields against {source}")
            if extra:
                problems.append(f"fields not allowed by {source}: " + ", ".join(extra[:5]) + _more(extra, 5))
        if self.grounded_fields:
            sources = [ctx.case.vars, *ctx.tool_outputs]
            bad = ungrounded_values(ctx.parsed, self.grounded_fields, sources)
            checked.append(f"{len(self.grounded_fields)} grounded field(s)")
            if bad:
                problems.append("not grounded in vars or tool outputs: " + "; ".join(bad[:5]) + _more(bad, 5))
        if problems:
            return EvaluationResult(passed=False, reason=" | ".join(problems))
        return EvaluationResult(passed=True, reason="checked " + " and ".join(checked) + ": nothing hallucinated")

    def _allowed(self, ctx: EvaluatorContext) -> tuple[dict[str, Any] | None, str]:
        if self.schema is not None:
            return self.schema, "the given schema"
        if ctx.case.expected.allowed_fields is not None:
            return _schema_from_paths(ctx.case.expected.allowed_fields), "expected.allowed_fields"
        if ctx.artifact.response_format is not None:
            return ctx.artifact.response_format, "the artifact's response_format"
        return None, ""


def undeclared_fields(value: Any, schema: dict[str, Any]) -> list[str]:
    """Dotted paths of the keys in `value` that `schema` does not declare (see `HallucinatedFields`)."""
    out: list[str] = []
    _walk(value, schema, schema, "", out)
    return out


def _walk(value: Any, schema: Any, root: dict[str, Any], path: str, out: list[str]) -> None:
    branches = _branches(schema, root)
    if isinstance(value, dict):
        props: dict[str, Any] = {}
        patterns: dict[str, Any] = {}
        additional: Any = None
        declared = False
        for branch in branches:
            for key, sub in (branch.get("properties") or {}).items():
                props.setdefault(key, sub)
            patterns.update(branch.get("patternProperties") or {})
            if "properties" in branch or "patternProperties" in branch or "additionalProperties" in branch:
                declared = True
            extra = branch.get("additionalProperties")
            if extra is True:
                additional = True
            elif isinstance(extra, dict) and additional is None:
                additional = extra
        if not declared:
            return  # a free-form object: the schema makes no claim about its keys
        for key, sub_value in value.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key in props:
                _walk(sub_value, props[key], root, sub_path, out)
            elif any(re.search(p, key) for p in patterns):
                _walk(sub_value, next(s for p, s in patterns.items() if re.search(p, key)), root, sub_path, out)
            elif isinstance(additional, dict):
                _walk(sub_value, additional, root, sub_path, out)
            elif additional is not True:
                out.append(sub_path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            item_schema = _item_schema(branches, i)
            if item_schema is not None:
                _walk(item, item_schema, root, f"{path}.{i}" if path else str(i), out)


def _branches(schema: Any, root: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    # A schema plus the sub-schemas it combines (allOf/anyOf/oneOf, local $refs): a key any branch declares is allowed.
    if not isinstance(schema, dict) or depth > 20:
        return []
    found = [schema]
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        found += _branches(_resolve(root, ref), root, depth + 1)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            found += _branches(sub, root, depth + 1)
    return found


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _item_schema(branches: list[dict[str, Any]], index: int) -> Any:
    for branch in branches:
        prefix = branch.get("prefixItems")
        if isinstance(prefix, list) and index < len(prefix):
            return prefix[index]
        items = branch.get("items")
        if isinstance(items, list) and index < len(items):
            return items[index]
        if isinstance(items, dict):
            return items
    return None


def _schema_from_paths(paths: list[str]) -> dict[str, Any]:
    # `customer.name` allows `customer` and, inside it, only the keys listed under it.
    schema: dict[str, Any] = {"properties": {}, "additionalProperties": False}
    for path in paths:
        node = schema
        parts = path.split(".")
        for i, part in enumerate(parts):
            child = node["properties"].setdefault(part, {})
            if i < len(parts) - 1:
                child.setdefault("properties", {})
                child["additionalProperties"] = False
            node = child
    return schema


def ungrounded_values(parsed: Any, paths: list[str], sources: list[Any]) -> list[str]:
    """`path=value (why)` for each value at `paths` that does not appear in `sources` (absent paths are skipped)."""
    corpus = _Corpus(sources)
    bad = []
    for path in paths:
        value = lookup(parsed, path)
        if value is MISSING:
            continue
        for where, leaf in _leaves(value, path):
            why = corpus.unsupported(leaf)
            if why:
                bad.append(f"{where}={clip(leaf, 40)} ({why})")
    return bad


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(sub, f"{path}.{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _leaves(sub, f"{path}.{i}")
    elif isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        yield path, value


class _Corpus:
    """Everything the model was given, searchable verbatim and normalised."""

    def __init__(self, sources: list[Any]) -> None:
        texts: list[str] = []
        self.numbers: set[float] = set()
        for source in sources:
            for _, leaf in _leaves(source, ""):
                texts.append(_number_text(leaf) if not isinstance(leaf, str) else leaf)
                if not isinstance(leaf, str):
                    self.numbers.add(float(leaf))
        self.raw = "\n".join(texts)
        self.normalised = _normalise(self.raw)
        self.numbers.update(float(m) for m in _NUMBER.findall(self.raw))

    def unsupported(self, value: str | int | float) -> str:
        """Why `value` is not supported by the sources, or `""` when it is."""
        if not isinstance(value, str):
            if float(value) in self.numbers or _has_token(self.raw, _number_text(value)):
                return ""
            return "number not in the inputs"
        if not value.strip():
            return ""
        for token in value.split():
            token = token.strip(_EDGE_PUNCTUATION)
            if not any(ch.isdigit() for ch in token):
                continue
            if _has_token(self.raw, token):
                continue
            amount = token.lstrip("$\u20ac\u00a3").replace(",", "")
            if _NUMBER.fullmatch(amount) and float(amount) in self.numbers:
                continue
            return f"{clip(token, 30)} not found verbatim"
        words = value.split()
        if len(words) == 1 and any(ch.isdigit() for ch in words[0]):
            return ""  # a lone id or amount: the verbatim check above is the whole test
        if not _has_token(self.normalised, _normalise(value)):
            return "text not found"
        return ""


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _has_token(haystack: str, needle: str) -> bool:
    # Token boundaries, so "123" is not grounded by "91234" nor "ann" by "joanna".
    return re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack) is not None


def _more(items: list[str], shown: int) -> str:
    return f" (+{len(items) - shown} more)" if len(items) > shown else ""
