"""The production log record format: one JSON object per line (JSONL) or one row per record (Parquet).

A log holds two kinds of record, told apart by `type`:

- a **response** record (`type` absent or `"response"`): one served request, written when the response is sent::

    {"request_id": "req-0001", "timestamp": "2024-06-12T09:30:00Z", "prompt": "support-triage",
     "version": "v2", "segment": {"intent": "refund", "geo": "DE"},
     "vars": {"message": "..."}, "output": "{\\"category\\": \\"refund\\", ...}",
     "tool_calls": [{"id": "c1", "name": "lookup_order", "arguments": {"order_id": "NW-1"},
                     "result": {"status": "shipped"}}],
     "latency_ms": 812.5, "usage": {"input_tokens": 512, "output_tokens": 88}, "model": "gpt-4o-mini",
     "outcome": {"escalation": false}}

- an **outcome** record (`type: "outcome"`): signals that arrive later (a human escalation, a manual correction,
  user feedback), joined to the response with the same `request_id`::

    {"type": "outcome", "request_id": "req-0001", "timestamp": "2024-06-12T10:02:00Z",
     "escalation": true, "manual_correction": "{\\"category\\": \\"billing\\", ...}"}

Every key is checked: unknown keys, wrong types and missing required fields make the line malformed (it is counted
and reported with its file and line number; the run goes on). Free-form extras belong under `metadata`.
Timestamps are RFC 3339 with an explicit offset (`Z` or `+02:00`). The JSON Schema of both records ships as
`promptlab/harvest/log_record.schema.json` (see `log_record_schema()`).

Parquet files use the same names as columns; nested values (`segment`, `vars`, `messages`, `tool_calls`,
`usage`, `outcome`, `metadata`) may be native Parquet structs/lists/maps or JSON text in a string column.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from promptlab._util.files import validation_problems
from promptlab._util.models import StrictModel
from promptlab.errors import RecordError

__all__ = [
    "ChatMessage",
    "LogRecord",
    "Outcome",
    "OutcomeRecord",
    "ToolCallRecord",
    "UsageRecord",
    "RecordError",
    "log_record_schema",
    "parse_line",
    "parse_record",
    "parse_timestamp",
]

RFC3339 = (
    r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
"""The timestamp syntax every record uses (the DuckDB scan checks the same expression)."""

_RFC3339 = re.compile(RFC3339)

MAX_TOKENS = 10**12
"""Upper bound on token counts (keeps the fast scan and the model in agreement on integer ranges)."""

FEEDBACK = ("positive", "negative", "neutral")


class _Record(StrictModel):
    # Strict types: the scan validates records without coercion, so the model must not coerce either.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True)


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset (`2024-06-12T09:30:00Z`); raise `ValueError` otherwise."""
    if not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 timestamp with an offset, e.g. 2024-06-12T09:30:00Z")
    return datetime.fromisoformat(value)


class ChatMessage(_Record):
    """One message of a chat request, when the log keeps messages instead of template vars."""

    role: Literal["system", "user", "assistant", "tool"]
    """Who spoke."""
    content: str | None = None
    """The message text."""
    name: str | None = None
    """Optional participant or tool name."""
    tool_call_id: str | None = None
    """For `tool` messages: the call this message answers."""


class ToolCallRecord(_Record):
    """One tool call the model made while serving the request, with what the tool returned."""

    id: str | None = None
    """The call id, if the provider gave one."""
    name: str = Field(min_length=1)
    """Tool (function) name."""
    arguments: Any = None
    """Arguments the model passed (JSON object, or the raw argument string)."""
    result: Any = None
    """What the tool returned to the model."""
    error: str | None = None
    """The error the tool raised, if it failed."""


class UsageRecord(_Record):
    """Token usage of the request."""

    input_tokens: int = Field(ge=0, le=MAX_TOKENS)
    """Prompt tokens."""
    output_tokens: int = Field(ge=0, le=MAX_TOKENS)
    """Completion tokens."""


class Outcome(_Record):
    """What happened after the response: signals that it was not good enough."""

    fallback: bool = False
    """The serving code fell back to another path (another model, a canned answer)."""
    escalation: bool = False
    """The conversation was escalated to a human."""
    manual_correction: str | None = None
    """A human corrected the answer; this is the corrected output."""
    user_feedback: Literal["positive", "negative", "neutral"] | None = None
    """The user's rating of the answer."""
    feedback_comment: str | None = None
    """The user's comment, if any."""

    def merge(self, later: Outcome) -> Outcome:
        """Combine with a later outcome: flags add up, later texts and ratings win."""
        return Outcome(
            fallback=self.fallback or later.fallback,
            escalation=self.escalation or later.escalation,
            manual_correction=later.manual_correction
            if later.manual_correction is not None
            else self.manual_correction,
            user_feedback=later.user_feedback if later.user_feedback is not None else self.user_feedback,
            feedback_comment=later.feedback_comment if later.feedback_comment is not None else self.feedback_comment,
        )


class LogRecord(_Record):
    """A served request: what was asked, what the model answered, how, and what happened next."""

    type: Literal["response"] = "response"
    """Record kind; may be omitted for responses."""
    request_id: str = Field(min_length=1)
    """Unique id of the request; outcome records refer to it."""
    timestamp: str
    """When the response was sent (RFC 3339 with offset)."""
    prompt: str = Field(min_length=1)
    """Prompt name (the artifact's `name`)."""
    version: str = Field(min_length=1)
    """The prompt version actually served."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Traffic segment dimensions, e.g. `{intent: refund, geo: DE, tenant: acme}`."""
    vars: dict[str, Any] | None = None
    """Template variables the prompt was rendered with."""
    messages: list[ChatMessage] | None = None
    """The chat messages sent, when the log keeps messages rather than vars."""
    output: str | None = None
    """The model's final answer text (JSON text for structured outputs)."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    """Tool calls in the order they were made."""
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    """End-to-end latency in milliseconds."""
    usage: UsageRecord | None = None
    """Token usage."""
    model: str | None = None
    """The model that answered."""
    outcome: Outcome | None = None
    """Outcome signals known when the record was written (later ones come as outcome records)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else the serving code wants to keep."""

    @field_validator("timestamp")
    @classmethod
    def _timestamp_is_rfc3339(cls, value: str) -> str:
        parse_timestamp(value)
        return value

    @model_validator(mode="after")
    def _has_input(self) -> LogRecord:
        if self.vars is None and self.messages is None:
            raise ValueError("expected `vars` or `messages` (what the prompt was given)")
        return self

    @property
    def time(self) -> datetime:
        """The timestamp as an aware datetime."""
        return datetime.fromisoformat(self.timestamp)


class OutcomeRecord(_Record):
    """Outcome signals for an earlier response, joined by `request_id`."""

    type: Literal["outcome"]
    """Record kind: always `outcome`."""
    request_id: str = Field(min_length=1)
    """The request the signals belong to."""
    timestamp: str | None = None
    """When the signal was recorded (RFC 3339 with offset)."""
    fallback: bool = False
    """See `Outcome.fallback`."""
    escalation: bool = False
    """See `Outcome.escalation`."""
    manual_correction: str | None = None
    """See `Outcome.manual_correction`."""
    user_feedback: Literal["positive", "negative", "neutral"] | None = None
    """See `Outcome.user_feedback`."""
    feedback_comment: str | None = None
    """See `Outcome.feedback_comment`."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else."""

    @field_validator("timestamp")
    @classmethod
    def _timestamp_is_rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timestamp(value)
        return value

    def to_outcome(self) -> Outcome:
        """The signals as an `Outcome`."""
        return Outcome(
            fallback=self.fallback,
            escalation=self.escalation,
            manual_correction=self.manual_correction,
            user_feedback=self.user_feedback,
            feedback_comment=self.feedback_comment,
        )


RESPONSE_KEYS = tuple(LogRecord.model_fields)
OUTCOME_KEYS = tuple(OutcomeRecord.model_fields)
TOOL_CALL_KEYS = tuple(ToolCallRecord.model_fields)
MESSAGE_KEYS = tuple(ChatMessage.model_fields)
USAGE_KEYS = tuple(UsageRecord.model_fields)
OUTCOME_FIELDS = tuple(Outcome.model_fields)


def log_record_schema() -> dict[str, Any]:
    """The JSON Schema of one log line: a response record or an outcome record."""
    schema = TypeAdapter(LogRecord | OutcomeRecord).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "promptlab production log record"
    schema["description"] = (
        "One line of a promptlab production log (JSONL): a response record, or an outcome record joined to an "
        "earlier response by request_id."
    )
    return schema


class _TopLevelKeys:
    """`object_pairs_hook` that remembers whether the last object built (the outermost) repeated a key."""

    def __init__(self) -> None:
        self.repeated: str | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        self.repeated = None
        if len(out) != len(pairs):
            seen: set[str] = set()
            self.repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return out


def parse_line(text: str | bytes, *, check_duplicates: bool = True) -> LogRecord | OutcomeRecord:
    """Parse and validate one JSONL line.

    A key repeated at the top level of a record is an error (inside values, the last one wins, as JSON parsers
    usually do). `check_duplicates=False` skips that check, for lines the DuckDB scan already checked.

    Raises:
        RecordError: malformed JSON, a repeated key, not an object, or a field that breaks the format.
    """
    if not check_duplicates:
        return _parse_checked(text)
    try:
        data = orjson.loads(text)  # strict JSON: UTF-8, no NaN, no lone surrogates
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"malformed JSON: {exc}") from None
    if check_duplicates and isinstance(data, dict):
        hook = _TopLevelKeys()
        json.loads(text, object_pairs_hook=hook)
        if hook.repeated is not None:
            raise RecordError(f"duplicate key {hook.repeated!r}")
    return parse_record(data)


def parse_record(data: Any) -> LogRecord | OutcomeRecord:
    """Validate already-parsed data as a response or outcome record (chosen by `type`)."""
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise RecordError(f"expected a JSON object (one record per line), got {kind}")
    model: type[LogRecord] | type[OutcomeRecord] = OutcomeRecord if data.get("type") == "outcome" else LogRecord
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        text = "; ".join(f"{field}: {message.removeprefix('value error, ')}" for field, message in problems[:3])
        if len(problems) > 3:
            text += f" (+{len(problems) - 3} more)"
        raise RecordError(text) from None


def _parse_checked(text: str | bytes) -> LogRecord | OutcomeRecord:
    # A line the DuckDB scan already validated: pydantic parses the JSON itself, the fastest way to the models.
    model: type[LogRecord] | type[OutcomeRecord] = OutcomeRecord if b'"type":"outcome"' in _bytes(text) else LogRecord
    try:
        return model.model_validate_json(text)
    except ValidationError:
        return parse_line(text)  # the general path words the error exactly as for any other line


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()
