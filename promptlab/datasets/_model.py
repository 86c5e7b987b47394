"""The test-case file format."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from promptlab._util.models import StrictModel
from promptlab._util.spec import Spec

__all__ = [
    "Case",
    "Expected",
    "HARD_NEGATIVE_TAGS",
    "ToolResult",
]

HARD_NEGATIVE_TAGS = (
    "hard-negative:ambiguous",
    "hard-negative:adversarial",
    "hard-negative:long-context",
    "hard-negative:tool-failure",
)
"""The hard-negative categories every serious test set covers."""


class Expected(StrictModel):
    """What a correct answer looks like; every part is optional."""

    output: str | None = None
    """The exact expected output text."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """Expected values of fields in a JSON output (top-level keys, or dotted paths)."""
    should_refuse: bool | None = None
    """Whether the model should refuse this request."""
    tool_sequence: list[str] | None = None
    """Expected tool calls, by name, in order."""
    allowed_fields: list[str] | None = None
    """The only top-level fields a JSON output may carry."""
    max_words: int | None = Field(default=None, gt=0)
    """A length budget for the answer, in words."""


class ToolResult(StrictModel):
    """A canned tool output, returned when the model calls the tool during evaluation."""

    tool: str
    """Name of the tool called."""
    arguments: dict[str, Any] | None = None
    """If given, the result applies only when the call's arguments contain these values."""
    output: Any = None
    """What the tool returns (JSON-serialisable)."""
    error: str | None = None
    """If given, the tool fails with this message (partial tool failure)."""


class Case(StrictModel):
    """One test case."""

    id: str = Field(min_length=1)
    """Identifier, unique across the whole dataset."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Template inputs."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Segment dimensions and values, e.g. `{intent: refund, geo: DE, tenant: acme, risk: high}`."""
    tags: list[str] = Field(default_factory=list)
    """Free tags, including the hard-negative categories (`hard-negative:ambiguous` ...)."""
    expected: Expected = Field(default_factory=Expected)
    """What a correct answer looks like."""
    tool_results: list[ToolResult] = Field(default_factory=list)
    """Canned outputs for the tools the model may call."""
    evaluators: list[Spec] = Field(default_factory=list)
    """Evaluators for this case only, in addition to the suite's."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else (provenance, notes)."""

    @field_validator("segment", mode="before")
    @classmethod
    def _segment_values_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in value.items()
            }
        return value

    @field_validator("tags")
    @classmethod
    def _hard_negatives_are_known(cls, value: list[str]) -> list[str]:
        for tag in value:
            if tag.startswith("hard-negative:") and tag not in HARD_NEGATIVE_TAGS:
                raise ValueError(
                    f"expected a hard-negative category among {', '.join(HARD_NEGATIVE_TAGS)}, got '{tag}'"
                )
        return value

    @property
    def hard_negatives(self) -> list[str]:
        """The hard-negative categories this case belongs to."""
        return [t for t in self.tags if t in HARD_NEGATIVE_TAGS]
