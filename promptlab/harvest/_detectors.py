"""Failure detectors: each a spec in the harvest policy, deciding per log record whether it failed, and how.

A detector decides in Python (`check`), on one record and its context (merged outcome, the served version's
artifact, the usual answer length of its segment). For speed it may also give a SQL prefilter (`sql`): a
condition the DuckDB scan evaluates on every record, which must hold for every record `check` would flag (a
superset); only records passing it reach `check`. The built-ins mirror their Python logic in SQL so the two agree;
the test suite runs both engines over the same logs and compares what they find. A detector without a prefilter
still works: every record reaches its `check`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field

from promptlab._util.models import StrictModel
from promptlab._util.spec import Pluggable, Spec, SpecRegistry
from promptlab.artifacts import PromptArtifact
from promptlab.errors import SpecError
from promptlab.evaluators import (
    DEFAULT_REFUSAL_PATTERNS,
    clip,  # the evaluators' quoting, so reasons read alike
    detect_refusal,
    parse_json_output,
    ungrounded_values,  # the hallucinated_fields evaluator's test
)
from promptlab.harvest._records import LogRecord, Outcome
from promptlab.harvest._sqltext import count_words, json_path, lit, lit_list

__all__ = [
    "Detector",
    "ExcessiveVerbosity",
    "Finding",
    "GroupStats",
    "HallucinatedFieldsDetector",
    "LengthStat",
    "OutcomeSignals",
    "PolicyView",
    "RecordContext",
    "SqlFilter",
    "ToolRule",
    "UnexpectedRefusal",
    "VersionInfo",
    "WrongToolSequence",
    "build_detector",
    "detectors",
]

detectors: SpecRegistry[Detector] = SpecRegistry("detector")
"""The detector registry; `@detectors.register("name")` adds one."""


@dataclass(kw_only=True)
class VersionInfo:
    """What the policy knows about one served version."""

    name: str
    artifact: PromptArtifact | None = None
    max_words: int | None = None
    """Word budget of the answer (or of the measured field)."""
    allowed_fields: list[str] | None = None
    """Top-level fields the response schema allows; `None` when there is no closed schema."""
    tools: list[str] | None = None
    """Tools the version offers; `None` when unknown."""


@dataclass(kw_only=True)
class PolicyView:
    """The parts of the harvest policy detectors consult."""

    intent_dimension: str = "intent"
    versions: dict[str, VersionInfo] = dataclasses.field(default_factory=dict)


@dataclass(kw_only=True)
class LengthStat:
    """How "usual length" is measured: words of `field` (or the whole output), per prompt and `by` segment."""

    field: str | None
    by: tuple[str, ...]


@dataclass(kw_only=True)
class GroupStats:
    """The usual answer length of a record's group."""

    median: float
    count: int


@dataclass(kw_only=True)
class SqlFilter:
    """A detector's prefilter: `row` over the scanned record's columns, `final` over the joined summary.

    Row columns: `request_id`, `prompt`, `version`, `segment` (JSON object), `intent`, `output`, `out_obj` (the output
    parsed as a JSON object, else NULL), `tools` (list of STRUCT(id, name, arguments JSON, result JSON, error)),
    `tool_names`, `inputs_text` (vars or messages, then each tool result and error, as JSON text, newline-joined).
    Summary columns: `version`, `words`, `group_median`, `group_count`, `fallback`, `escalation`, `corrected`,
    `negative` (outcome flags merged over the inline outcome and later outcome records).
    """

    row: str = "TRUE"
    final: str = "TRUE"


@dataclass(kw_only=True)
class Finding:
    """What a detector found wrong with one record, and how to make the failure checkable."""

    reason: str
    """One line for humans."""
    expected: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Fields of the regression case's `expected` (should_refuse, tool_sequence, allowed_fields, max_words ...)."""
    evaluators: list[Spec] = dataclasses.field(default_factory=list)
    """Case-level evaluators that check what `expected` cannot express."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Evidence for the case's provenance (observed tool sequence, ungrounded values ...)."""


@dataclass(kw_only=True)
class RecordContext:
    """One record with everything a detector may consult."""

    record: LogRecord
    outcome: Outcome
    policy: PolicyView
    group: GroupStats | None = None
    message_var: str = "message"

    @cached_property
    def parsed(self) -> Any:
        """The output parsed as JSON (a Markdown fence is accepted), or `None`."""
        return parse_json_output(self.record.output)

    @property
    def intent(self) -> str | None:
        """The record's value of the policy's intent dimension."""
        return self.record.segment.get(self.policy.intent_dimension)

    @property
    def version(self) -> VersionInfo | None:
        """What the policy knows about the served version."""
        return self.policy.versions.get(self.record.version)

    @cached_property
    def case_vars(self) -> dict[str, Any]:
        """The inputs as template vars: `vars`, or the last user message under the policy's `message_var`."""
        return case_vars(self.record, self.message_var)

    @cached_property
    def tool_outputs(self) -> list[Any]:
        """What each tool call returned to the model: its result, or its error text."""
        return [c.error if c.error is not None else c.result for c in self.record.tool_calls]


def case_vars(record: LogRecord, message_var: str) -> dict[str, Any]:
    """The record's inputs as template vars (see `RecordContext.case_vars`)."""
    if record.vars is not None:
        return dict(record.vars)
    users = [m.content for m in record.messages or () if m.role == "user" and m.content is not None]
    return {message_var: users[-1]} if users else {}


def inputs_text(record: LogRecord) -> str:
    """The text grounding checks search: the vars (else the messages) as JSON, then each tool call's result (as
    JSON) and error, one per line. The DuckDB scan builds the same text (column `inputs_text`)."""
    if record.vars is not None:
        first = _dumps(record.vars)
    elif record.messages is not None:
        first = _dumps([m.model_dump(exclude_unset=True) for m in record.messages])
    else:
        first = "[]"
    calls = []
    for call in record.tool_calls:
        parts = ([_dumps(call.result)] if call.result is not None else []) + (
            [call.error] if call.error is not None else []
        )
        calls.append("\n".join(parts))
    return first + "\n" + "\n".join(calls)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Detector(Pluggable, ABC):
    """Base class: subclass as a keyword-only dataclass, register with `@detectors.register("name")`."""

    def configure(self, policy: PolicyView) -> None:
        """Check the arguments against the policy; raise `SpecError` on a problem."""

    def length_stat(self) -> LengthStat | None:
        """The usual-length statistic this detector needs, if any."""
        return None

    def sql(self, policy: PolicyView) -> SqlFilter | None:
        """The DuckDB prefilter (a superset of what `check` flags); `None` sends every record to `check`."""
        return None

    @abstractmethod
    def check(self, ctx: RecordContext) -> Finding | None:
        """Decide whether this record failed; return a `Finding` or `None`."""


def build_detector(spec: Spec | str | dict[str, Any]) -> Detector:
    """Build a detector from a spec or one of its YAML short forms."""
    return detectors.build(spec)


_RE2_CHECKED: dict[str, str | None] = {}


def check_regex(pattern: str) -> str | None:
    """Why `pattern` cannot serve both Python and the DuckDB scan (RE2), or `None` when it can."""
    return check_regexes([pattern])[0]


def check_regexes(patterns: Sequence[str]) -> list[str | None]:
    """`check_regex` for several patterns (one DuckDB connection for all; results are remembered)."""
    todo = [p for p in dict.fromkeys(patterns) if p not in _RE2_CHECKED]
    if todo:
        import duckdb

        con = duckdb.connect()
        try:
            for pattern in todo:
                _RE2_CHECKED[pattern] = _why_not(con, pattern)
        finally:
            con.close()
    return [_RE2_CHECKED[p] for p in patterns]


def _why_not(con: Any, pattern: str) -> str | None:
    import duckdb

    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        return f"regular expression {pattern!r} is not supported by the DuckDB scan (RE2): {first}"
    return None


def _check_patterns(detector: str, argument: str, patterns: Sequence[str]) -> None:
    for i, problem in enumerate(check_regexes(patterns)):
        if problem:
            raise SpecError(f"detector '{detector}': argument '{argument}.{i}': {problem}")


def _intent_in(values: Sequence[str]) -> str:
    return f"coalesce(list_contains({lit_list(values)}, intent), false)"


def _by_version(policy: PolicyView, value: Any, *, default: str) -> str:
    """`CASE version WHEN ... THEN value(info) ... ELSE default END` over versions where `value` gives SQL."""
    arms = [(name, value(info)) for name, info in policy.versions.items()]
    arms = [(n, sql) for n, sql in arms if sql is not None]
    if not arms:
        return default
    return "(CASE " + " ".join(f"WHEN version = {lit(n)} THEN {sql}" for n, sql in arms) + f" ELSE {default} END)"


# ---------------------------------------------------------------------------------------------------------------
# unexpected_refusal
# ---------------------------------------------------------------------------------------------------------------


@detectors.register("unexpected_refusal")
@dataclass(kw_only=True)
class UnexpectedRefusal(Detector):
    """A refusal where the request's intent is not one that should be refused.

    Refusals are detected with `promptlab.evaluators.detect_refusal` (the `refusal` evaluator's logic).
    The regression case expects `should_refuse: false`.
    """

    should_refuse: list[str] = dataclasses.field(default_factory=list)
    """Intents (values of the policy's intent dimension) that should be refused."""
    patterns: list[str] | None = None
    """Refusal phrasings (regular expressions, case-insensitive); `None` means the built-in English ones."""
    field: str | None = None
    """A top-level field of a JSON output that decides instead of the text (e.g. `refused`)."""
    refusal_values: list[str | bool] | None = None
    """Values of `field` that mean a refusal; `None` means `true`, "refusal", "refused", "refuse"."""

    def configure(self, policy: PolicyView) -> None:
        """Check the patterns compile for both Python and the DuckDB scan."""
        _check_patterns("unexpected_refusal", "patterns", self.patterns or [])

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.refusal_values) if self.refusal_values is not None else (True, "refusal", "refused", "refuse")

    def check(self, ctx: RecordContext) -> Finding | None:
        """Flag a refusal of an intent that should be answered."""
        intent = ctx.intent
        if intent in self.should_refuse:
            return None
        refused = detect_refusal(
            ctx.record.output,
            patterns=self.patterns,
            parsed=ctx.parsed,
            field=self.field,
            refusal_values=self._values(),
        )
        if not refused:
            return None
        return Finding(
            reason=f"refused a request with {ctx.policy.intent_dimension}={intent or '(none)'}, which should be "
            f"answered: {clip(ctx.record.output or '', 80)}",
            expected={"should_refuse": False},
        )

    def sql(self, policy: PolicyView) -> SqlFilter:
        """Same decision in SQL: RE2 over the same text `detect_refusal` searches."""
        patterns = tuple(self.patterns) if self.patterns is not None else DEFAULT_REFUSAL_PATTERNS
        regex = "(?is)" + "|".join(f"(?:{p})" for p in patterns)
        strings = (
            "array_to_string(list_transform(list_filter(json_extract(out_obj, '$.*'), "
            "lambda v: json_type(v) = 'VARCHAR'), lambda v: v->>'$'), ' ')"
        )
        # The raw output stands in for the joined string values of a JSON output, except where JSON escapes
        # (a backslash) could hide a phrase; there the joined values are computed as `detect_refusal` does.
        text = (
            f"(CASE WHEN out_obj IS NOT NULL AND contains(output, '\\') "
            f"THEN coalesce(nullif({strings}, ''), output) ELSE output END)"
        )
        by_text = f"(CASE WHEN output IS NULL OR output = '' THEN false ELSE regexp_matches({text}, {lit(regex)}) END)"
        refused = by_text
        if self.field is not None:
            value = f"json_extract(out_obj, {json_path(self.field)})"
            refused = (
                f"(CASE WHEN out_obj IS NOT NULL AND json_exists(out_obj, {json_path(self.field)}) "
                f"THEN {self._sql_value_in(value)} ELSE {by_text} END)"
            )
        return SqlFilter(row=f"NOT {_intent_in(self.should_refuse)} AND {refused}")

    def _sql_value_in(self, value: str) -> str:
        # Python's `in` compares with ==, where True == 1 == 1.0 and False == 0.
        values = self._values()
        bools = sorted({v for v in values if isinstance(v, bool)})
        strings = [v for v in values if isinstance(v, str)]
        arms = ["false"]
        if bools:
            arms.append(
                f"(json_type({value}) = 'BOOLEAN' AND {value}::BOOLEAN IN ({', '.join(str(b).lower() for b in bools)}))"
            )
            nums = ", ".join(str(float(b)) for b in bools)
            arms.append(f"(json_type({value}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND {value}::DOUBLE IN ({nums}))")
        if strings:
            arms.append(f"(json_type({value}) = 'VARCHAR' AND list_contains({lit_list(strings)}, {value}->>'$'))")
        return "(" + " OR ".join(arms) + ")"


# ---------------------------------------------------------------------------------------------------------------
# wrong_tool_sequence
# ---------------------------------------------------------------------------------------------------------------

DEFAULT_ACKNOWLEDGEMENTS: tuple[str, ...] = (
    r"\b(?:unavailable|not available|unable to|could ?n[o']t|can ?n[o']t|cannot|error|problem|try again|issue)\b",
    r"nicht (?:verfügbar|abrufen|möglich)|momentan nicht|fehler",
    r"indisponible|impossible de|erreur",
    r"indisponível|não (?:foi possível|consigo)|erro\b",
)
"""Phrasings that admit a tool failed (en, de, fr, pt), case-insensitive."""


class ToolRule(StrictModel):
    """The tools a request must call: for an intent, optionally only when a var is present."""

    intent: str | None = None
    """Intent the rule applies to; `None` means every intent."""
    when_var: str | None = None
    """Apply only when this template var is present and non-empty (e.g. `order_id`)."""
    tools: list[str]
    """Tool names in the expected order."""


@detectors.register("wrong_tool_sequence")
@dataclass(kw_only=True)
class WrongToolSequence(Detector):
    """Tool calls that break the expected sequence, loop, call unknown tools, or ignore a tool error.

    The regression case carries the expected `tool_sequence` (the matching rule's tools; otherwise the calls
    without unknown tools and repeats) and the tool results seen in production, so the failure replays.
    """

    rules: list[ToolRule] = dataclasses.field(default_factory=list)
    """Expected sequences; the first rule matching the record's intent (and `when_var`) applies."""
    mode: Literal["exact", "in_order"] = "in_order"
    """`exact`: the calls equal the rule's tools; `in_order`: the rule's tools appear in order (retries allowed)."""
    max_repeats: Annotated[int, Field(gt=0)] = 2
    """A tool called more times than this in a row is a loop."""
    known_tools: list[str] | None = None
    """Tools that exist; `None` means the tools of the served version's artifact (if the policy maps it)."""
    check_errors: bool = True
    """Flag answers that ignore a failed tool call (no successful retry, no admission of the failure)."""
    acknowledgements: list[str] | None = None
    """Phrasings that admit a failure (regular expressions, case-insensitive); `None` means the built-ins."""

    def configure(self, policy: PolicyView) -> None:
        """Check the acknowledgement patterns compile."""
        _check_patterns("wrong_tool_sequence", "acknowledgements", self.acknowledgements or [])

    @cached_property
    def _ack(self) -> re.Pattern[str]:
        patterns = self.acknowledgements if self.acknowledgements is not None else DEFAULT_ACKNOWLEDGEMENTS
        return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.IGNORECASE | re.DOTALL)

    def _rule(self, ctx: RecordContext) -> ToolRule | None:
        for rule in self.rules:
            if rule.intent is not None and rule.intent != ctx.intent:
                continue
            if rule.when_var is not None and ctx.case_vars.get(rule.when_var) in (None, "", [], {}):
                continue
            return rule
        return None

    def _known(self, ctx: RecordContext) -> list[str] | None:
        if self.known_tools is not None:
            return self.known_tools
        info = ctx.version
        return info.tools if info is not None else None

    def check(self, ctx: RecordContext) -> Finding | None:
        """Collect every sequence problem of the record."""
        calls = ctx.record.tool_calls
        names = [c.name for c in calls]
        problems: list[str] = []
        rule = self._rule(ctx)
        if rule is not None and not _satisfies(names, rule.tools, self.mode):
            problems.append(f"expected {_names(rule.tools)} ({self.mode.replace('_', '-')}), called {_names(names)}")
        loops = _loops(calls, self.max_repeats)
        problems += loops
        known = self._known(ctx)
        unknown = sorted({n for n in names if n not in known}) if known is not None else []
        if unknown:
            problems.append("called unknown tool(s) " + ", ".join(unknown))
        if self.check_errors:
            problems += self._ignored_errors(ctx)
        if not problems:
            return None
        if rule is not None:
            expected = list(rule.tools)
        else:
            expected = _collapse([n for n in names if known is None or n in known])
        evaluators = [Spec(name="tool_sequence", args={"mode": "exact"})] if (loops or unknown) else []
        return Finding(
            reason="; ".join(problems),
            expected={"tool_sequence": expected},
            evaluators=evaluators,
            details={"called": names},
        )

    def _ignored_errors(self, ctx: RecordContext) -> list[str]:
        calls = ctx.record.tool_calls
        out: list[str] = []
        for i, call in enumerate(calls):
            if call.error is None:
                continue
            retried = any(later.name == call.name and later.error is None for later in calls[i + 1 :])
            if retried or self._ack.search(ctx.record.output or ""):
                continue
            out.append(f"ignored the error from {call.name}: {clip(call.error, 60)}")
        return out

    def sql(self, policy: PolicyView) -> SqlFilter:
        """Superset in SQL: a rule's tools differ, a run or a repeat after success, an unknown tool, or an error
        without a later successful call of the same tool (whether the answer admits it is left to `check`)."""
        k = self.max_repeats
        arms = []
        for rule in self.rules:
            match = "true" if rule.intent is None else f"coalesce(intent = {lit(rule.intent)}, false)"
            arms.append(f"({match} AND tool_names <> {lit_list(rule.tools)})")
        # The list checks only run where they can hold (most records make at most one call).
        arms.append(
            f"(len(tool_names) > {k} AND coalesce(list_bool_or(list_transform(range(1, len(tool_names) - {k} + 1), "
            f"lambda i: len(list_distinct(list_slice(tool_names, i, i + {k}))) = 1)), false))"
        )
        arms.append(
            "(len(tools) > 1 AND coalesce(list_bool_or(list_transform(range(2, len(tools) + 1), lambda i: "
            "list_contains(list_transform(list_filter(list_slice(tools, 1, i - 1), lambda c: c.error IS NULL), "
            "lambda c: c.name), tools[i].name))), false))"
        )
        if self.known_tools is not None:
            arms.append(f"NOT list_has_all({lit_list(self.known_tools)}, tool_names)")
        else:
            arms.append(
                _by_version(
                    policy,
                    lambda info: (
                        None if info.tools is None else f"NOT list_has_all({lit_list(info.tools)}, tool_names)"
                    ),
                    default="false",
                )
            )
        if self.check_errors:
            arms.append(
                "(len(tools) > 0 AND coalesce(list_bool_or(list_transform(range(1, len(tools) + 1), lambda i: "
                "tools[i].error IS NOT NULL AND NOT list_contains(list_transform(list_filter(list_slice(tools, i + 1, "
                "len(tools)), lambda c: c.error IS NULL), lambda c: c.name), tools[i].name))), false))"
            )
        return SqlFilter(row="(" + " OR ".join(arms) + ")")


def _satisfies(called: list[str], expected: list[str], mode: str) -> bool:
    if mode == "exact":
        return called == expected
    matched = 0
    for name in called:
        if matched < len(expected) and name == expected[matched]:
            matched += 1
    return matched == len(expected)


def _loops(calls: Sequence[Any], max_repeats: int) -> list[str]:
    out: list[str] = []
    run = 1
    for i in range(1, len(calls) + 1):
        if i < len(calls) and calls[i].name == calls[i - 1].name:
            run += 1
            continue
        if run > max_repeats:
            out.append(f"{calls[i - 1].name} called {run} times in a row")
        run = 1
    seen: set[tuple[str, bytes]] = set()
    for call in calls:
        key = (call.name, orjson.dumps(call.arguments, option=orjson.OPT_SORT_KEYS))
        if key in seen:
            out.append(f"{call.name} called again with the same arguments after it succeeded")
            break
        if call.error is None:
            seen.add(key)
    return out


def _collapse(names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def _names(names: Sequence[str]) -> str:
    return "[" + ", ".join(names) + "]"


# ---------------------------------------------------------------------------------------------------------------
# hallucinated_fields
# ---------------------------------------------------------------------------------------------------------------


@detectors.register("hallucinated_fields")
@dataclass(kw_only=True)
class HallucinatedFieldsDetector(Detector):
    """Output fields the served version's response schema does not allow, or values not grounded in the inputs.

    Fields: top-level keys of a JSON output outside the schema's `properties` (for versions whose artifact has a
    closed `response_format`). Values: each `grounded_fields` path must come from the vars or tool results (the
    `hallucinated_fields` evaluator's test), and every match of a `grounded_patterns` expression in the output
    (tracking numbers, dates, order ids) must appear verbatim in the inputs or tool results (`inputs_text`).
    """

    check_schema: bool = True
    """Flag fields the response schema does not allow."""
    grounded_fields: list[str] = dataclasses.field(default_factory=list)
    """Dotted paths of a JSON output whose values must come from the vars or tool results."""
    grounded_patterns: list[str] = dataclasses.field(default_factory=list)
    """Regular expressions, tried together as one alternation; each match in the output must appear verbatim in
    the inputs or tool results."""

    def configure(self, policy: PolicyView) -> None:
        """Check the patterns compile for both Python and the DuckDB scan."""
        _check_patterns("hallucinated_fields", "grounded_patterns", self.grounded_patterns)

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile(self._combined) if self.grounded_patterns else None

    @property
    def _combined(self) -> str:
        # One alternation, so the output is scanned once (in SQL too); matches do not overlap.
        return "|".join(f"(?:{p})" for p in self.grounded_patterns)

    def check(self, ctx: RecordContext) -> Finding | None:
        """Collect undeclared fields and ungrounded values."""
        parsed = ctx.parsed
        problems: list[str] = []
        details: dict[str, Any] = {}
        info = ctx.version
        allowed = info.allowed_fields if info is not None else None
        if self.check_schema and allowed is not None and isinstance(parsed, dict):
            extra = [k for k in parsed if k not in allowed]
            if extra:
                problems.append("fields not allowed by the response schema: " + ", ".join(extra))
                details["undeclared_fields"] = extra
        if self.grounded_fields and isinstance(parsed, (dict, list)):
            bad = ungrounded_values(parsed, self.grounded_fields, [ctx.case_vars, *ctx.tool_outputs])
            if bad:
                problems.append("not grounded in vars or tool results: " + "; ".join(bad[:5]))
                details["ungrounded_fields"] = bad
        if self._pattern is not None and ctx.record.output:
            hay = inputs_text(ctx.record)
            values = [m.group(0) for m in self._pattern.finditer(ctx.record.output) if m.group(0) not in hay]
            values = list(dict.fromkeys(values))
            if values:
                problems.append("values not found in the inputs or tool results: " + ", ".join(values[:5]))
                details["ungrounded_values"] = values
        if not problems:
            return None
        expected: dict[str, Any] = {}
        if allowed is not None:
            expected["allowed_fields"] = list(allowed)
        evaluators = []
        if self.grounded_fields:
            evaluators.append(Spec(name="hallucinated_fields", args={"grounded_fields": list(self.grounded_fields)}))
        return Finding(reason="; ".join(problems), expected=expected, evaluators=evaluators, details=details)

    def sql(self, policy: PolicyView) -> SqlFilter:
        """Superset in SQL: keys outside the allowed list, grounded paths present, or unmatched pattern hits."""
        arms = []
        if self.check_schema:
            arms.append(
                "(out_obj IS NOT NULL AND "
                + _by_version(
                    policy,
                    lambda info: (
                        None
                        if info.allowed_fields is None
                        else f"NOT list_has_all({lit_list(info.allowed_fields)}, json_keys(out_obj))"
                    ),
                    default="false",
                )
                + ")"
            )
        if self.grounded_fields:
            tests = set()
            for path in self.grounded_fields:
                tests.add(f"json_exists(out_obj, {json_path(path)})")
                tests.add(f"json_exists(out_obj, {json_path(path.split('.')[0])})")
            arms.append("(out_obj IS NOT NULL AND (" + " OR ".join(sorted(tests)) + "))")
        if self.grounded_patterns:
            arms.append(
                f"coalesce(list_bool_or(list_transform(regexp_extract_all(output, {lit(self._combined)}), "
                "lambda m: NOT contains(inputs_text, m))), false)"
            )
        return SqlFilter(row="(" + " OR ".join(arms or ["false"]) + ")")


# ---------------------------------------------------------------------------------------------------------------
# excessive_verbosity
# ---------------------------------------------------------------------------------------------------------------


def length_text(record: LogRecord, parsed: Any, field_name: str | None) -> str:
    """The text whose words are counted: the JSON output's `field` when it is text, else the whole output."""
    if field_name is not None and isinstance(parsed, dict) and isinstance(parsed.get(field_name), str):
        return str(parsed[field_name])
    return record.output or ""


def group_key(record: LogRecord, by: Sequence[str]) -> str:
    """The usual-length group of a record: its prompt and its values of the `by` dimensions (`version` is the
    served version)."""
    values = (record.version if d == "version" else record.segment.get(d, "") for d in by)
    return "\x1f".join([record.prompt, *values])


def sql_group_key(by: Sequence[str], *, intent: str | None = None) -> str:
    """SQL for `group_key` (the `intent` column stands in for the intent dimension, already extracted)."""
    parts = (
        "version"
        if d == "version"
        else "coalesce(intent, '')"
        if d == intent
        else f"coalesce(segment->>{json_path(d)}, '')"
        for d in by
    )
    return "concat_ws(chr(31), prompt" + "".join(f", {p}" for p in parts) + ")"


@detectors.register("excessive_verbosity")
@dataclass(kw_only=True)
class ExcessiveVerbosity(Detector):
    """Answers above the version's word budget, or far above their segment's usual length.

    Usual length is the median word count of the harvested records with the same prompt and `by` values (served
    version and segment dimensions; only trusted with at least `min_group` records). The regression case gets
    `max_words`: the version's budget, else `factor` times the usual length.
    """

    factor: Annotated[float, Field(gt=1)] = 3.0
    """How far above the segment's median word count counts as excessive."""
    by: list[str] = dataclasses.field(default_factory=lambda: ["version", "intent"])
    """Segment dimensions that define "the segment" for the usual length; `version` means the served version
    (so a version that is meant to be longer is compared with itself)."""
    min_group: Annotated[int, Field(ge=1)] = 20
    """Records a segment needs before its median is trusted."""
    field: str | None = None
    """Count the words of this top-level field of a JSON output (e.g. `reply`) instead of the whole output."""
    use_budget: bool = True
    """Also flag answers above the version's `max_words` in the policy."""

    def length_stat(self) -> LengthStat:
        """Words of `field`, grouped by prompt and `by`."""
        return LengthStat(field=self.field, by=tuple(self.by))

    def check(self, ctx: RecordContext) -> Finding | None:
        """Compare the answer's words with the budget and with the segment's median."""
        words = count_words(length_text(ctx.record, ctx.parsed, self.field))
        info = ctx.version
        budget = info.max_words if (self.use_budget and info is not None) else None
        problems = []
        if budget is not None and words > budget:
            problems.append(f"{words} words, over the version's budget of {budget}")
        usual = ctx.group.median if ctx.group is not None and ctx.group.count >= self.min_group else None
        if usual is not None and usual > 0 and words > self.factor * usual:
            problems.append(f"{words} words, {words / usual:.1f}x the segment's median of {usual:g}")
        if not problems:
            return None
        limit = budget if budget is not None else max(1, math.ceil(self.factor * (usual or 0)))
        what = f" ({self.field})" if self.field else ""
        return Finding(
            reason="; ".join(problems) + what,
            expected={"max_words": limit},
            details={"words": words, "segment_median": usual},
        )

    def sql(self, policy: PolicyView) -> SqlFilter:
        """Same decision over the summary columns (`words` is measured as `length_stat` says)."""
        arms = [
            f"(group_count >= {self.min_group} AND group_median > 0 AND words > {float(self.factor)!r} * group_median)"
        ]
        if self.use_budget:
            budget = _by_version(
                policy, lambda info: None if info.max_words is None else str(info.max_words), default="NULL"
            )
            arms.append(f"coalesce(words > {budget}, false)")
        return SqlFilter(final="(" + " OR ".join(arms) + ")")


# ---------------------------------------------------------------------------------------------------------------
# outcome
# ---------------------------------------------------------------------------------------------------------------

Signal = Literal["escalation", "manual_correction", "fallback", "negative_feedback"]


@detectors.register("outcome")
@dataclass(kw_only=True)
class OutcomeSignals(Detector):
    """Responses followed by an escalation, a manual correction, a fallback or negative feedback.

    Outcomes that arrive later as outcome records are joined by request id. When a human corrected the answer,
    the regression case expects the correction: its short fields (for a JSON correction) or its text.
    """

    signals: list[Signal] = dataclasses.field(default_factory=lambda: ["escalation", "manual_correction"])
    """Which outcome signals mark a failure."""

    def check(self, ctx: RecordContext) -> Finding | None:
        """Flag the record when one of the chosen signals is present."""
        o = ctx.outcome
        seen = {
            "escalation": o.escalation,
            "manual_correction": o.manual_correction is not None,
            "fallback": o.fallback,
            "negative_feedback": o.user_feedback == "negative",
        }
        hits = [s for s in self.signals if seen[s]]
        if not hits:
            return None
        words = {
            "escalation": "escalated to a human",
            "manual_correction": "manually corrected",
            "fallback": "served by the fallback",
            "negative_feedback": "rated negative by the user",
        }
        expected: dict[str, Any] = {}
        if "manual_correction" in hits and o.manual_correction is not None:
            corrected = parse_json_output(o.manual_correction)
            if isinstance(corrected, dict):
                short = {k: v for k, v in corrected.items() if _short_value(v)}
                if short:
                    expected["fields"] = short
            else:
                expected["output"] = o.manual_correction
        details: dict[str, Any] = {"signals": hits}
        if o.feedback_comment and "negative_feedback" in hits:
            details["feedback_comment"] = o.feedback_comment
        return Finding(reason="; ".join(words[h] for h in hits), expected=expected, details=details)

    def sql(self, policy: PolicyView) -> SqlFilter:
        """The merged outcome flags."""
        columns = {
            "escalation": "escalation",
            "manual_correction": "corrected",
            "fallback": "fallback",
            "negative_feedback": "negative",
        }
        return SqlFilter(final="(" + " OR ".join(columns[s] for s in self.signals) + ")" if self.signals else "false")


def _short_value(value: Any) -> bool:
    if isinstance(value, (bool, int, float)) or value is None:
        return True
    return isinstance(value, str) and len(value.split()) <= 3 and len(value) <= 60


def detector_names() -> list[str]:
    """Registered detector names."""
    return detectors.names()
