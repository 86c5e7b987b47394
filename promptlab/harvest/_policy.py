"""The harvest policy file: which detectors run, what each version promises, what to redact, how to merge.

Example (`examples/support-triage/production/harvest-policy.yaml`)::

    prompt: support-triage
    intent_dimension: intent
    versions:
      v1: {artifact: ../v1.yaml, max_words: 120}
      v2: {artifact: ../v2.yaml, max_words: 150}
    detectors:
      - unexpected_refusal: {should_refuse: [legal_question]}
      - wrong_tool_sequence:
          rules: [{intent: order_status, when_var: order_id, tools: [lookup_order]}]
      - hallucinated_fields: {grounded_patterns: ['\\b[A-Z]{2}\\d{10}\\b']}
      - excessive_verbosity: {factor: 3, field: reply}
      - outcome
    redact:
      fields: [customer_name]
      patterns: [email, phone]
    dedup:
      mask_numbers: true

Paths are relative to the policy file. Errors name the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from promptlab._util.files import load_model, validate_data
from promptlab._util.models import StrictModel
from promptlab._util.spec import Spec
from promptlab.artifacts import PromptArtifact
from promptlab.errors import FileFormatError, PromptlabError
from promptlab.harvest._detectors import Detector, LengthStat, PolicyView, VersionInfo, detectors

__all__ = [
    "BUILTIN_PATTERNS",
    "DedupPolicy",
    "HarvestPolicy",
    "RedactPolicy",
    "ResolvedPolicy",
    "VersionPolicy",
    "load_harvest_policy",
    "resolve_policy",
]

BUILTIN_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?<![\w+-])(?:\+\d{1,3}(?:[ .-]?\d{1,4}){3,6}|\+\d{8,15}|0\d(?:[ .-]\d{2}){4}"
    r"|(?:\(\d{1,5}\)[ .-]?|\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,5})(?![\w-])",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b",
    "credit_card": r"\b(?:\d[ -]?){13,19}\b",
    "ipv4": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
}
"""Named personal-data patterns a policy can list under `redact.patterns`."""

PatternName = Literal["email", "phone", "iban", "credit_card", "ipv4"]
DEFAULT_PATTERNS: tuple[PatternName, ...] = ("email", "phone")


class VersionPolicy(StrictModel):
    """What one served version promises."""

    artifact: str | None = None
    """The version's prompt artifact (for its response schema and tools), relative to the policy file."""
    max_words: int | None = Field(default=None, gt=0)
    """Word budget of the answer (of the measured field, when the verbosity detector names one)."""
    tools: list[str] | None = None
    """Tools the version offers, overriding the artifact's."""


class RedactPolicy(StrictModel):
    """Personal data removed from harvested cases (vars, tool results, expected output, provenance)."""

    fields: list[str] = Field(default_factory=list)
    """Keys whose values are replaced wholesale wherever they occur (e.g. `customer_name`, `email`)."""
    patterns: list[PatternName] = Field(default_factory=lambda: list(DEFAULT_PATTERNS))
    """Built-in patterns applied to every text: email, phone, iban, credit_card, ipv4."""
    custom: dict[str, str] = Field(default_factory=dict)
    """More patterns: name -> regular expression."""
    replacement: str = "[{name}]"
    """What replaces a match; `{name}` is the field or pattern name."""

    @field_validator("custom")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern '{name}' is not a valid regular expression: {exc}") from None
        return value


class DedupPolicy(StrictModel):
    """How near-duplicate failures are merged into one case."""

    mask_numbers: bool = True
    """Treat inputs that differ only in numbers (order ids, amounts) as the same."""
    ignore_vars: list[str] = Field(default_factory=list)
    """Vars left out of the comparison (timestamps, session ids ...)."""
    segment: list[str] = Field(default_factory=list)
    """Segment dimensions that keep otherwise equal failures apart."""


class HarvestPolicy(StrictModel):
    """The harvest policy file."""

    prompt: str | None = None
    """Harvest only records of this prompt name; `None` means every prompt in the logs."""
    intent_dimension: str = Field(default="intent", min_length=1)
    """The segment dimension that names the request's intent."""
    versions: dict[str, VersionPolicy] = Field(default_factory=dict)
    """Served versions: artifact, word budget, tools."""
    detectors: list[Spec] = Field(min_length=1)
    """Detectors to run, as specs (`- name`, `- name: {arg: value}`)."""
    redact: RedactPolicy = Field(default_factory=RedactPolicy)
    """Personal data to remove from harvested cases."""
    dedup: DedupPolicy = Field(default_factory=DedupPolicy)
    """How near-duplicates merge."""
    message_var: str = Field(default="message", min_length=1)
    """For records that log messages instead of vars: the var that receives the last user message."""
    max_request_ids: int = Field(default=20, ge=1)
    """Request ids kept in a case's provenance (the count covers all of them)."""

    @field_validator("versions", mode="before")
    @classmethod
    def _version_names(cls, value: Any) -> Any:
        # A version name reaches SQL literals, file names and one-line messages: it must be printable text.
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not name.strip() or not name.isprintable():
                    raise ValueError(f"version name {name!r} must be non-empty printable text")
        return value


@dataclass(kw_only=True)
class ResolvedPolicy:
    """A policy with its detectors built and its artifacts loaded."""

    policy: HarvestPolicy
    path: Path | None
    detectors: list[Detector]
    view: PolicyView
    length: LengthStat | None
    hash: str = ""
    specs: list[dict[str, Any]] = field(default_factory=list)


def load_harvest_policy(path: str | Path) -> ResolvedPolicy:
    """Read, validate and resolve a harvest policy file (one-line errors naming the file and field)."""
    p = Path(path)
    return resolve_policy(load_model(p, HarvestPolicy), base_dir=p.parent, path=p)


def resolve_policy(
    policy: HarvestPolicy | dict[str, Any], *, base_dir: Path | None = None, path: Path | None = None
) -> ResolvedPolicy:
    """Build the detectors and load the version artifacts of a policy."""
    where = path if path is not None else "<policy>"
    if isinstance(policy, dict):
        policy = validate_data(where, HarvestPolicy, policy)
    base = base_dir if base_dir is not None else Path.cwd()
    versions: dict[str, VersionInfo] = {}
    for name, vp in policy.versions.items():
        artifact = None
        if vp.artifact is not None:
            artifact_path = Path(vp.artifact) if Path(vp.artifact).is_absolute() else base / vp.artifact
            try:
                artifact = PromptArtifact.from_file(artifact_path)
            except PromptlabError as exc:
                first = str(exc).splitlines()[0]
                raise FileFormatError(
                    where, f"cannot load the artifact: {first}", field=f"versions.{name}.artifact"
                ) from None
            if policy.prompt is not None and artifact.name != policy.prompt:
                raise FileFormatError(
                    where,
                    f"the artifact is prompt '{artifact.name}', expected '{policy.prompt}'",
                    field=f"versions.{name}.artifact",
                )
        versions[name] = VersionInfo(
            name=name,
            artifact=artifact,
            max_words=vp.max_words,
            allowed_fields=_allowed_fields(artifact.response_format) if artifact is not None else None,
            tools=vp.tools if vp.tools is not None else (artifact.tool_names() if artifact is not None else None),
        )
    view = PolicyView(intent_dimension=policy.intent_dimension, versions=versions)
    built: list[Detector] = []
    lengths: list[tuple[int, LengthStat]] = []
    for i, spec in enumerate(policy.detectors):
        try:
            detector = detectors.build(spec)
            detector.configure(view)
        except PromptlabError as exc:
            raise FileFormatError(where, str(exc), field=f"detectors[{i}]") from None
        stat = detector.length_stat()
        if stat is not None:
            lengths.append((i, stat))
        built.append(detector)
    if len({(s.field, s.by) for _, s in lengths}) > 1:
        raise FileFormatError(
            where,
            "two detectors measure the usual length differently (field/by); use one excessive_verbosity detector",
            field=f"detectors[{lengths[1][0]}]",
        )
    from promptlab._util.canonical import content_hash

    dumped = policy.model_dump(mode="json")
    return ResolvedPolicy(
        policy=policy,
        path=path,
        detectors=built,
        view=view,
        length=lengths[0][1] if lengths else None,
        hash=content_hash(dumped),
        specs=[d.to_spec().model_dump(mode="json") for d in built],
    )


def _allowed_fields(schema: dict[str, Any] | None) -> list[str] | None:
    """Top-level fields a closed object schema allows; `None` when the schema does not restrict them."""
    if not isinstance(schema, dict):
        return None
    inner = schema.get("json_schema")
    if schema.get("type") == "json_schema" and isinstance(inner, dict) and isinstance(inner.get("schema"), dict):
        schema = inner["schema"]
    props = schema.get("properties")
    if not isinstance(props, dict) or schema.get("patternProperties"):
        return None
    extra = schema.get("additionalProperties")
    if extra is True or isinstance(extra, dict):
        return None
    return list(props)
