"""The SQL of the scan's first pass: validate, type and flag every log line in one DuckDB query.

Each line is parsed once into a struct of JSON fragments (one per known key) plus its key list; every check
after that works on small fragments. The checks mirror the pydantic models in `_records.py` rule by rule (keys,
types, required fields, timestamps, nested tool calls / messages / usage / outcome); `tests/harvest` feeds both
the same malformed variants and compares the verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from promptlab.harvest._detectors import sql_group_key
from promptlab.harvest._policy import ResolvedPolicy
from promptlab.harvest._records import (
    FEEDBACK,
    MESSAGE_KEYS,
    OUTCOME_KEYS,
    RESPONSE_KEYS,
    RFC3339,
    TOOL_CALL_KEYS,
)
from promptlab.harvest._sqltext import PY_WHITESPACE, WORD_RE2, json_path, lit, lit_list, sql_json_body

__all__ = ["pass1_sql", "recs_ddl", "sql_count_words", "sql_output_object"]

ALL_KEYS = tuple(dict.fromkeys([*RESPONSE_KEYS, *OUTCOME_KEYS]))
STRUCT_ALL_JSON = json.dumps({k: "JSON" for k in ALL_KEYS})
TOOLS_JSON = '[{"id":"JSON","name":"JSON","arguments":"JSON","result":"JSON","error":"JSON"}]'
_JSON_WS = " \t\n\r"
_OTHER_WS = "".join(c for c in PY_WHITESPACE if c not in _JSON_WS)
_TS = "j.timestamp->>'$'"


def sql_count_words(expr: str) -> str:
    """SQL equal to `len(text.split())`: splitting on spaces when the text's only whitespace is single spaces
    between words (most answers), a regular-expression count otherwise."""
    irregular = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE if c != " ") + "]|  |^ | $"
    return (
        f"(CASE WHEN {expr} IS NULL OR {expr} = '' THEN 0 "
        f"WHEN NOT regexp_matches({expr}, {lit(irregular)}) THEN len(string_split({expr}, ' ')) "
        f"ELSE coalesce(len(regexp_extract_all({expr}, {lit(WORD_RE2)})), 0) END)"
    )


def sql_output_object(expr: str) -> str:
    """SQL for the output text when it parses as a JSON object (as `parse_json_output` sees it), else NULL."""
    body = sql_json_body(expr)
    all_ws, json_ws = lit(PY_WHITESPACE), lit(_JSON_WS)
    is_object = "(ascii({0}) = 123 OR (ascii({0}) IN (9, 10, 13, 32) AND regexp_matches({0}, '^[ \\t\\n\\r]*\\{{')))"
    return (
        f"(CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN NOT contains({expr}, '```') AND json_valid({expr}) "
        f"THEN (CASE WHEN {is_object.format(expr)} THEN {expr} END) "
        f"WHEN contains({expr}, '```') OR length(trim({expr}, {all_ws})) <> length(trim({expr}, {json_ws})) "
        f"THEN (CASE WHEN json_valid({body}) AND {is_object.format(body)} THEN {body} END) END)"
    )


_STR = r'"(?:[^"\\]|\\.)*"'
_INT = "(?:0|[1-9][0-9]{0,11}|1000000000000)"  # 0 .. MAX_TOKENS, as yyjson writes integers
_SEP = "chr(31)"
# Nullable optional keys and required keys need no presence test: absent, null and wrong type all show in the
# fragment's type. These keys are optional but may not be null, so presence must be known.
_NOT_NULL_OPTIONAL = ("type", "segment", "tool_calls", "metadata", "fallback", "escalation")


def _type_of(fragment: str) -> str:
    """The JSON type of a fragment from `json_transform(..., 'JSON')`, read off its first character (yyjson writes
    fragments minified, so no parse is needed): VARCHAR, OBJECT, ARRAY, BOOLEAN, NULL or NUMBER; NULL for SQL NULL.
    (NaN and Infinity, which yyjson accepts and JSON does not, are caught on the whole line.)"""
    return (
        f"(CASE ascii({fragment}::VARCHAR) WHEN 34 THEN 'VARCHAR' WHEN 123 THEN 'OBJECT' WHEN 91 THEN 'ARRAY' "
        "WHEN 116 THEN 'BOOLEAN' WHEN 102 THEN 'BOOLEAN' WHEN 110 THEN 'NULL' WHEN 45 THEN 'NUMBER' "
        "WHEN 48 THEN 'NUMBER' WHEN 49 THEN 'NUMBER' WHEN 50 THEN 'NUMBER' WHEN 51 THEN 'NUMBER' WHEN 52 THEN 'NUMBER' "
        "WHEN 53 THEN 'NUMBER' WHEN 54 THEN 'NUMBER' WHEN 55 THEN 'NUMBER' WHEN 56 THEN 'NUMBER' WHEN 57 THEN 'NUMBER' "
        "ELSE NULL END)"
    )


def _types() -> str:
    """Per key: the JSON type of its value (NULL when absent or null); `p_<key>` whether present, where needed."""
    types = [f"{_type_of('j.' + k)} AS t_{k}" for k in ALL_KEYS]
    present = [f"contains(sig, {_SEP} || {lit(k)} || {_SEP}) AS p_{k}" for k in _NOT_NULL_OPTIONAL]
    return ", ".join(types + present)


def _non_null_count() -> str:
    """How many known keys have a non-null value: when it equals the number of keys, no key repeats (the
    distinct-keys test, which costs more, only runs when it does not)."""
    return "(" + " + ".join(f"(t_{k} IS NOT NULL)::INTEGER" for k in ALL_KEYS) + ")"


def _is_string(fragment: str) -> str:
    """Whether a fragment is a JSON string: `_type_of(fragment) = 'VARCHAR'`, but cheap enough to run per element
    inside a lambda (the long CASE of `_type_of` costs more there than the rest of the check)."""
    return f"starts_with({fragment}::VARCHAR, '\"')"


def _str(key: str, *, nonempty: bool = True) -> str:
    return f"(t_{key} = 'VARCHAR' AND length(j.{key}->>'$') > 0)" if nonempty else f"(t_{key} = 'VARCHAR')"


def _nullable(key: str, *types: str) -> str:
    allowed = ", ".join(lit(t) for t in types)
    return f"(t_{key} IS NULL OR t_{key} IN ({allowed}))"


def _absent_or(key: str, *types: str) -> str:
    allowed = ", ".join(lit(t) for t in types)
    return f"(NOT p_{key} OR t_{key} IN ({allowed}))"


def _ts_ok(expr: str) -> str:
    return f"(regexp_full_match({expr}, {lit(RFC3339)}) AND try_cast({expr} AS TIMESTAMPTZ) IS NOT NULL)"


def _keys_regex(keys: Sequence[str]) -> str:
    alternatives = "|".join(re.escape(k) for k in keys)
    return f"\x1f(?:(?:{alternatives})\x1f)+"


def _outcome_object_regex() -> str:
    item = (
        f'"fallback":(?:true|false)|"escalation":(?:true|false)|"manual_correction":(?:null|{_STR})'
        f'|"feedback_comment":(?:null|{_STR})|"user_feedback":(?:null|"positive"|"negative"|"neutral")'
    )
    return rf"\{{(?:(?:{item})(?:,(?:{item}))*)?\}}"


def _each(list_expr: str, ok: str) -> str:
    """Every element of a list satisfies `ok` (over `c`); a NULL element fails."""
    return f"coalesce(list_bool_and(list_transform({list_expr}, lambda c: coalesce({ok}, false))), true)"


def _response_ok() -> str:
    message_ok = (
        f"(json_type(c) = 'OBJECT' AND list_has_all({lit_list(MESSAGE_KEYS)}, json_keys(c)) "
        f"AND json_type(c, '$.role') = 'VARCHAR' AND list_contains(['system', 'user', 'assistant', 'tool'], "
        "c->>'$.role') AND coalesce(json_type(c, '$.content'), 'NULL') IN ('NULL', 'VARCHAR') "
        "AND coalesce(json_type(c, '$.name'), 'NULL') IN ('NULL', 'VARCHAR') "
        "AND coalesce(json_type(c, '$.tool_call_id'), 'NULL') IN ('NULL', 'VARCHAR'))"
    )
    call_ok = (
        f"({_is_string('c.name')} AND c.name::VARCHAR <> '\"\"' "
        f"AND (c.id IS NULL OR {_is_string('c.id')}) "
        f"AND (c.error IS NULL OR {_is_string('c.error')}))"
    )
    # A non-object element transforms to a struct without `name` (or NULL), so `call_ok` rejects it.
    calls = (
        f"(len(tcj) = 0 OR (list_has_all({lit_list(TOOL_CALL_KEYS)}, flatten(json_keys(j.tool_calls, '$[*]'))) "
        f"AND {_each('tcj', call_ok)}))"
    )
    messages = (
        "coalesce(list_bool_and(list_transform(json_transform(j.messages, '[\"JSON\"]'), "
        f"lambda c: coalesce({message_ok}, false))), true)"
    )
    usage_re = rf'\{{"input_tokens":{_INT},"output_tokens":{_INT}\}}|\{{"output_tokens":{_INT},"input_tokens":{_INT}\}}'
    segment_re = rf"\{{(?:{_STR}:{_STR}(?:,{_STR}:{_STR})*)?\}}"
    usage = f"regexp_full_match(j.usage::VARCHAR, {lit(usage_re)})"
    segment = f"regexp_full_match(j.segment::VARCHAR, {lit(segment_re)})"
    return " AND ".join(
        [
            f"regexp_full_match(sig, {lit(_keys_regex(RESPONSE_KEYS))})",
            "(NOT p_type OR (t_type = 'VARCHAR' AND j.type->>'$' = 'response'))",
            _str("request_id"),
            f"({_str('timestamp', nonempty=False)} AND {_ts_ok(_TS)})",
            _str("prompt"),
            _str("version"),
            f"(NOT p_segment OR (t_segment = 'OBJECT' AND {segment}))",
            _nullable("vars", "OBJECT"),
            f"(t_messages IS NULL OR (t_messages = 'ARRAY' AND {messages}))",
            "(t_vars IS NOT NULL OR t_messages IS NOT NULL)",
            _nullable("output", "VARCHAR"),
            f"(NOT p_tool_calls OR (t_tool_calls = 'ARRAY' AND {calls}))",
            "(t_latency_ms IS NULL OR (t_latency_ms = 'NUMBER' AND j.latency_ms::DOUBLE >= 0))",
            f"(t_usage IS NULL OR {usage})",
            _nullable("model", "VARCHAR"),
            f"(t_outcome IS NULL OR regexp_full_match(j.outcome::VARCHAR, {lit(_outcome_object_regex())}))",
            _absent_or("metadata", "OBJECT"),
        ]
    )


def _outcome_ok() -> str:
    return " AND ".join(
        [
            f"regexp_full_match(sig, {lit(_keys_regex(OUTCOME_KEYS))})",
            _str("request_id"),
            f"(t_timestamp IS NULL OR (t_timestamp = 'VARCHAR' AND {_ts_ok(_TS)}))",
            _absent_or("fallback", "BOOLEAN"),
            _absent_or("escalation", "BOOLEAN"),
            _nullable("manual_correction", "VARCHAR"),
            _nullable("feedback_comment", "VARCHAR"),
            "(t_user_feedback IS NULL OR (t_user_feedback = 'VARCHAR' AND "
            f"list_contains({lit_list(FEEDBACK)}, j.user_feedback->>'$')))",
            _absent_or("metadata", "OBJECT"),
        ]
    )


def recs_ddl(n_detectors: int) -> str:
    """The table the first pass fills: one compact row per non-blank line."""
    flags = "".join(f", c{i} BOOLEAN" for i in range(n_detectors))
    return (
        "CREATE TEMP TABLE recs (src INTEGER, lineno BIGINT, off BIGINT, kind VARCHAR, request_id VARCHAR, "
        "ts TIMESTAMPTZ, prompt_ok BOOLEAN, version VARCHAR, intent VARCHAR, grp UBIGINT, words INTEGER, "
        f"o_fallback BOOLEAN, o_escalation BOOLEAN, o_corrected BOOLEAN, o_negative BOOLEAN{flags})"
    )


def pass1_sql(policy: ResolvedPolicy, src: int, source_sql: str) -> str:
    """The first pass over one source (`source_sql` yields `lineno`, `off`, `txt`): one row per line into `recs`."""
    stat = policy.length
    rows = []
    for detector in policy.detectors:
        sql = detector.sql(policy.view)
        rows.append(sql.row if sql is not None else "TRUE")
    uses = " ".join(rows)
    # As a CASE WHEN condition, a prefilter's AND and OR short-circuit row by row (as a projected value, DuckDB
    # evaluates every arm on every row): its costly arms (lambdas over tool calls, regular expressions) then only
    # run on the rows its cheap arms leave undecided. NULL still counts as false.
    flag_cols = "".join(
        f", CASE WHEN kind = 'response' AND ({row}) THEN true ELSE false END AS c{i}" for i, row in enumerate(rows)
    )
    extra = []
    if "tool_names" in uses:
        extra.append("list_transform(tools, lambda c: c.name) AS tool_names")
    if "inputs_text" in uses:
        extra.append(
            "concat_ws(chr(10), coalesce(vars::VARCHAR, messages::VARCHAR, '[]'), array_to_string(list_transform("
            "tools, lambda c: concat_ws(chr(10), c.result::VARCHAR, c.error)), chr(10))) AS inputs_text"
        )
    field = stat.field if stat is not None else None
    if "out_obj" in uses or field is not None:
        extra.append(f"CASE WHEN kind = 'response' THEN {sql_output_object('output')} END AS out_obj")
    extra_cols = "".join(f", {e}" for e in extra)
    if stat is None:
        length_frag, length_text = "NULL", "''"
    elif field is None:
        length_frag, length_text = "NULL", "coalesce(output, '')"
    else:
        length_frag = f"json_extract(out_obj, {json_path(field)})"
        length_text = "(CASE WHEN ascii(len_frag::VARCHAR) = 34 THEN len_frag->>'$' ELSE coalesce(output, '') END)"
    words = sql_count_words("len_text") if stat else "0"
    grp = f"hash({sql_group_key(stat.by, intent=policy.view.intent_dimension)})" if stat else "hash(prompt)"
    prompt_ok = f"prompt = {lit(policy.policy.prompt)}" if policy.policy.prompt is not None else "true"
    return f"""
INSERT INTO recs
SELECT {src}, lineno, off, kind, request_id, ts, {prompt_ok}, version, intent,
       CASE WHEN kind = 'response' THEN {grp} END,
       CASE WHEN kind = 'response' THEN {words} ELSE 0 END,
       o_fallback, o_escalation, o_corrected, o_negative{flag_cols}
FROM (
 SELECT *, CASE WHEN kind = 'response' THEN {length_text} END AS len_text
 FROM (
  SELECT *, {length_frag} AS len_frag
  FROM (
   SELECT *{extra_cols}
   FROM (
    SELECT lineno, off, kind,
      CASE WHEN kind <> 'bad' THEN j.request_id->>'$' END AS request_id,
      CASE WHEN kind = 'response' THEN CAST(j.timestamp->>'$' AS TIMESTAMPTZ) END AS ts,
      CASE WHEN kind = 'response' THEN j.prompt->>'$' END AS prompt,
      CASE WHEN kind = 'response' THEN j.version->>'$' END AS version,
      CASE WHEN kind = 'response' THEN j.segment END AS segment,
      CASE WHEN kind = 'response' THEN j.segment->>{json_path(policy.view.intent_dimension)} END AS intent,
      CASE WHEN kind = 'response' THEN j.output->>'$' END AS output,
      CASE WHEN kind = 'response' THEN list_transform(tcj, lambda c: {{'id': c.id->>'$', 'name': c.name->>'$',
           'arguments': c.arguments, 'result': c.result, 'error': c.error->>'$'}}) END AS tools,
      CASE WHEN kind = 'response' THEN j.vars END AS vars,
      CASE WHEN kind = 'response' THEN j.messages END AS messages,
      CASE kind WHEN 'response' THEN coalesce(json_extract(j.outcome, '$.fallback')::BOOLEAN, false)
                WHEN 'outcome' THEN coalesce(j.fallback::BOOLEAN, false) END AS o_fallback,
      CASE kind WHEN 'response' THEN coalesce(json_extract(j.outcome, '$.escalation')::BOOLEAN, false)
                WHEN 'outcome' THEN coalesce(j.escalation::BOOLEAN, false) END AS o_escalation,
      CASE kind WHEN 'response' THEN coalesce(json_type(j.outcome, '$.manual_correction') = 'VARCHAR', false)
                WHEN 'outcome' THEN coalesce(t_manual_correction = 'VARCHAR', false) END AS o_corrected,
      CASE kind WHEN 'response' THEN coalesce(j.outcome->>'$.user_feedback' = 'negative', false)
                WHEN 'outcome' THEN coalesce(j.user_feedback->>'$' = 'negative', false) END AS o_negative
    FROM (
      SELECT lineno, off, j, tcj, t_manual_correction,
        CASE WHEN j IS NULL OR keys IS NULL OR len(keys) = 0
               THEN (CASE WHEN txt IS NOT NULL AND regexp_full_match(txt, '[ \t\r\n]*') THEN 'blank' ELSE 'bad' END)
             WHEN len(keys) > {_non_null_count()} AND len(keys) <> len(list_distinct(keys)) THEN 'bad'
             WHEN (contains(txt, 'NaN') OR contains(txt, 'Infinity'))
                  AND regexp_matches(regexp_replace(txt, {lit(_STR)}, '""', 'g'), 'NaN|Infinity') THEN 'bad'
             WHEN t_type = 'VARCHAR' AND j.type->>'$' = 'outcome'
               THEN (CASE WHEN {_outcome_ok()} THEN 'outcome' ELSE 'bad' END)
             WHEN {_response_ok()} THEN 'response'
             ELSE 'bad' END AS kind
      FROM (
        SELECT lineno, off, txt, j, keys, sig, {_types()},
          CASE WHEN starts_with(j.tool_calls::VARCHAR, '[') THEN json_transform(j.tool_calls, '{TOOLS_JSON}')
               ELSE [] END AS tcj
        FROM (
          SELECT lineno, off, txt, j, keys, {_SEP} || array_to_string(keys, {_SEP}) || {_SEP} AS sig
          FROM (
            SELECT lineno, off, txt, try(json_transform(txt, '{STRUCT_ALL_JSON}')) AS j, try(json_keys(txt)) AS keys
            FROM ({source_sql})
          )
        )
      )
    )
   )
  )
 )
)
"""
