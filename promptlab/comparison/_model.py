"""The comparison's in-memory values, its `comparison.json` form and its tables.

Every value is a keyword-only dataclass. The same classes define the on-disk format: pydantic validates
`comparison.json` against them when it is read back, and `comparison_schema()` derives the JSON Schema that ships as
`comparison.schema.json` (the field docstrings become its descriptions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from promptlab._util.canonical import content_hash
from promptlab._util.files import MultiFileFormatError, atomic_write, parse_json, read_bytes, validation_problems
from promptlab.errors import FileFormatError, InputError

__all__ = [
    "ArtifactInfo",
    "Behaviour",
    "BehaviourChange",
    "COMPARISON_FILE",
    "CaseChange",
    "Comparability",
    "Comparison",
    "ComparisonSettings",
    "DeclaredChange",
    "EvaluatorRate",
    "FlippedEvaluator",
    "GroupPower",
    "GroupResult",
    "LatencyCost",
    "MetricDelta",
    "PairedStats",
    "Planning",
    "RunInfo",
    "SCHEMA_PATH",
    "Stability",
    "StabilityVersion",
    "Summary",
    "comparison_identity",
    "comparison_schema",
    "describe_identity_change",
    "identity_parts",
    "load_comparison",
]

COMPARISON_FILE = "comparison.json"
TABLES_DIR = "tables"
SCHEMA_PATH = Path(__file__).with_name("comparison.schema.json")

_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_serialization_defaults_required=True)

Verdict = Literal["improved", "regressed", "no_significant_change", "not_enough_data"]
Direction = Literal["increase", "decrease", "change", "none"]


@dataclass(kw_only=True)
class ArtifactInfo:
    """Which artifact a run evaluated."""

    __pydantic_config__ = _CONFIG

    ref: str
    """`name@version`."""
    name: str
    """Prompt name."""
    version: str
    """Version label."""
    hash: str
    """Content hash of the artifact (`sha256:...`)."""


@dataclass(kw_only=True)
class RunInfo:
    """One side of the comparison: where its run directory is and what it ran."""

    __pydantic_config__ = _CONFIG

    run_dir: str
    """Absolute path of the run directory."""
    run_hash: str
    """Hash over the run directory's contract files (`run.json`, `artifact.json`, `cases.jsonl`, `results.jsonl`)."""
    files: dict[str, str]
    """sha256 of each contract file, by file name."""
    run_id: str
    """The run's id from `run.json`."""
    status: str
    """The run's status from `run.json` (`complete`, `running`, `interrupted`)."""
    artifact: ArtifactInfo
    """The artifact that ran."""
    dataset_hash: str
    """Content hash of the cases that ran."""
    evaluators_hash: str
    """Hash of the evaluator specs (suite and per-case)."""
    evaluators: list[Any]
    """The suite-level evaluator specs, as written back to YAML."""
    provider: Any
    """The provider spec."""
    repeats: int
    """Repeats per case declared by the run."""
    case_count: int
    """Cases in the run's dataset."""
    result_rows: int
    """Rows in `results.jsonl` (cases x repeats that finished)."""


@dataclass(kw_only=True)
class ComparisonSettings:
    """The options the comparison ran with: the same inputs and settings give the same numbers."""

    __pydantic_config__ = _CONFIG

    alpha: float
    """Significance level; intervals are (1 - alpha) two-sided."""
    min_n: int
    """Groups with fewer cases are reported as `not_enough_data`."""
    correction: Literal["holm", "bh"]
    """Multiple-comparison correction across segment and tag groups (and across behaviour metrics)."""
    n_boot: int
    """Bootstrap resamples per interval."""
    n_permutations: int
    """Monte Carlo sign patterns for sign-flip tests with many non-zero differences."""
    seed: int
    """Seed of every random procedure."""
    allow_different_datasets: bool
    """Whether differing datasets were explicitly allowed (comparison on the shared case ids)."""
    allow_different_evaluators: bool
    """Whether differing evaluator specs were explicitly allowed."""
    risk_dimension: str
    """Segment dimension whose value (high, medium, low) weighs regressions."""


@dataclass(kw_only=True)
class Comparability:
    """What, if anything, differs between the two runs' inputs."""

    __pydantic_config__ = _CONFIG

    same_dataset: bool
    """True when both runs ran the same cases (same ids, same content)."""
    same_evaluators: bool
    """True when both runs used the same evaluator specs (equal hashes)."""
    cases_compared: int
    """Number of case ids compared (present in both runs)."""
    only_in_baseline: list[str]
    """Case ids present only in the baseline run."""
    only_in_candidate: list[str]
    """Case ids present only in the candidate run."""
    changed_cases: list[str]
    """Case ids present in both runs whose content differs."""
    evaluator_differences: list[str]
    """One line per evaluator difference."""
    notes: list[str]
    """How differences were handled."""


@dataclass(kw_only=True)
class PairedStats:
    """Sufficient statistics of a group's paired pass-rate difference: any interval or one-sided test at any level
    can be recomputed from them (the gate does, at the levels of its own multiple-comparison family)."""

    __pydantic_config__ = _CONFIG

    method: Literal["tango_score", "adjusted_t"]
    """`tango_score`: one repeat per case, Tango's score interval and McNemar's score test; `adjusted_t`: repeats,
    a t-interval and t-test on per-case mean differences with two pseudo-cases (+1 and -1) added."""
    n: int
    """Cases."""
    pass_to_fail: int | None
    """tango_score: cases passing under the baseline only."""
    fail_to_pass: int | None
    """tango_score: cases passing under the candidate only."""
    mean: float | None
    """adjusted_t: mean per-case difference (candidate minus baseline) including the pseudo-cases."""
    se: float | None
    """adjusted_t: its standard error."""
    df: int | None
    """adjusted_t: degrees of freedom (cases - 1)."""


@dataclass(kw_only=True)
class GroupPower:
    """What a group's size can detect: the smallest drop, and the cases a planned drop needs."""

    __pydantic_config__ = _CONFIG

    alpha: float
    """One-sided significance level assumed (alpha split evenly over the family the group is judged in)."""
    power: float
    """Probability of detection the figures are for (0.8)."""
    min_detectable_drop: float | None
    """Smallest pass-rate drop (a fraction) detected with that probability at the current size; null when even a
    100-point drop would not be."""
    target_drop: float
    """The drop planned for (a policy's margin, or 10 points)."""
    cases_needed: int
    """Cases needed to detect `target_drop` with that probability."""
    more_cases_needed: int
    """`cases_needed` minus the cases the group has (0 when it has enough)."""


@dataclass(kw_only=True)
class Planning:
    """The assumptions behind every group's power figures."""

    __pydantic_config__ = _CONFIG

    discordance: float
    """Share of cases on which two runs of the same version disagree with one repeat each (the noise)."""
    discordance_source: str
    """Where that figure comes from, in words."""
    repeats: int
    """Repeats per case and version (the fewest any compared case has)."""
    power: float
    """Probability of detection the figures are for."""
    target_drop: float
    """The drop planned for."""
    family_size: int
    """Groups in the comparison's multiple-comparison family (each group's alpha is alpha / family_size)."""


@dataclass(kw_only=True)
class GroupResult:
    """Paired pass-rate comparison over one group of cases: everything, a segment value, or a tag."""

    __pydantic_config__ = _CONFIG

    key: str
    """Stable identifier: `overall`, `segment:<dimension>=<value>` or `tag:<tag>`."""
    kind: Literal["overall", "segment", "tag"]
    """What defines the group."""
    dimension: str | None
    """Segment dimension (segments only)."""
    value: str | None
    """Segment value, or the tag."""
    label: str
    """Human label: `overall`, `intent=refund`, `#hard-negative:adversarial`."""
    hard_negative: bool
    """True for the hard-negative tag categories."""
    n: int
    """Cases in the group."""
    baseline_pass_rate: float | None
    """Baseline pass rate (each case's pass rate averaged over its repeats, then over cases)."""
    candidate_pass_rate: float | None
    """Candidate pass rate, computed the same way."""
    delta: float | None
    """Candidate minus baseline pass rate (the mean paired per-case difference)."""
    ci_low: float | None
    """Lower end of the (1 - alpha) paired interval of `delta` (method in `ci_method`); never of zero width."""
    ci_high: float | None
    """Upper end of that interval."""
    ci_method: str | None
    """The interval's method, in words."""
    paired: PairedStats | None
    """Sufficient statistics to recompute the interval and one-sided tests at other levels."""
    p_drop: float | None
    """Unadjusted one-sided p-value that the candidate is worse (the test `paired` inverts)."""
    power: GroupPower | None
    """What the group's size can detect, at the comparison's alpha over its family."""
    n_pass_to_fail: int
    """Cases that pass under the baseline and fail under the candidate (majority of repeats)."""
    n_fail_to_pass: int
    """Cases that fail under the baseline and pass under the candidate (majority of repeats)."""
    test: str | None
    """Paired test used: `mcnemar_exact` (one repeat), `sign_flip_exact` or `sign_flip_monte_carlo` (repeats)."""
    p_value: float | None
    """Unadjusted two-sided p-value of the paired test."""
    p_adjusted: float | None
    """p-value adjusted across the tested segment and tag groups (the overall group is not adjusted)."""
    verdict: Verdict
    """improved / regressed (adjusted p < alpha), no_significant_change, or not_enough_data (n < min_n)."""


@dataclass(kw_only=True)
class EvaluatorRate:
    """One evaluator's pass rate under each version."""

    __pydantic_config__ = _CONFIG

    label: str
    """Evaluator label (its name, or `name_2` ... when a name repeats)."""
    spec: Any
    """The evaluator spec, when it is a suite-level evaluator."""
    weight: float
    """Weight used when ranking regressions."""
    n: int
    """Cases graded pass/fail by this evaluator under both versions."""
    baseline_pass_rate: float | None
    """Baseline pass rate over those cases."""
    candidate_pass_rate: float | None
    """Candidate pass rate over those cases."""
    delta: float | None
    """Candidate minus baseline."""
    n_pass_to_fail: int
    """Cases this evaluator passed under the baseline and failed under the candidate."""
    n_fail_to_pass: int
    """Cases this evaluator failed under the baseline and passed under the candidate."""
    test: str | None
    """Paired test used."""
    p_value: float | None
    """Unadjusted two-sided p-value."""
    baseline_mean_score: float | None
    """Mean score under the baseline, for evaluators that give scores."""
    candidate_mean_score: float | None
    """Mean score under the candidate."""
    baseline_errors: int
    """Results where the evaluator itself raised, under the baseline."""
    candidate_errors: int
    """Results where the evaluator itself raised, under the candidate."""


@dataclass(kw_only=True)
class FlippedEvaluator:
    """An evaluator whose verdict flipped on a case, with its reason on the failing side."""

    __pydantic_config__ = _CONFIG

    label: str
    """Evaluator label, or `error:<kind>` when the model call failed, or `evaluator_error`."""
    weight: float
    """Its weight."""
    reason: str
    """The evaluator's reason on the failing side."""
    error: str | None
    """The evaluator's or the provider's error message on the failing side, if any."""


@dataclass(kw_only=True)
class CaseChange:
    """A case that regressed (pass -> fail) or improved (fail -> pass), both outputs side by side."""

    __pydantic_config__ = _CONFIG

    case_id: str
    """Case id."""
    kind: Literal["regression", "improvement"]
    """Which way it flipped."""
    rank: int
    """Position in the severity ranking, from 1."""
    severity: float
    """Sum of the flipped evaluators' weights times the risk factor (high 3, medium 2, low or none 1)."""
    risk: str | None
    """The case's value of the risk dimension."""
    segment: dict[str, str]
    """The case's segment."""
    tags: list[str]
    """The case's tags."""
    baseline_pass_rate: float
    """The case's pass rate over baseline repeats."""
    candidate_pass_rate: float
    """The case's pass rate over candidate repeats."""
    flipped: list[FlippedEvaluator]
    """Evaluators that flipped, with their reasons on the failing side."""
    baseline_output: str | None
    """Baseline output (from a passing repeat for regressions, a failing one for improvements)."""
    candidate_output: str | None
    """Candidate output (from a failing repeat for regressions, a passing one for improvements)."""
    baseline_outcome: str
    """Outcome of the shown baseline repeat."""
    candidate_outcome: str
    """Outcome of the shown candidate repeat."""


@dataclass(kw_only=True)
class MetricDelta:
    """A latency, token or cost figure under both versions."""

    __pydantic_config__ = _CONFIG

    metric: str
    """Metric name, e.g. `latency_p95_s`, `cost_per_case_usd`, `total_cost_usd`."""
    unit: str
    """Unit: s, tokens, usd."""
    n: int
    """Cases contributing."""
    baseline: float | None
    """Baseline value."""
    candidate: float | None
    """Candidate value."""
    delta: float | None
    """Candidate minus baseline."""
    delta_pct: float | None
    """Relative change in percent of the baseline value."""
    ci_low: float | None
    """Lower end of the (1 - alpha) paired cluster-bootstrap interval of `delta`; for totals, the per-case interval
    scaled by the number of results (only when every case has as many results under both versions)."""
    ci_high: float | None
    """Upper end of that interval."""


@dataclass(kw_only=True)
class LatencyCost:
    """Latency percentiles, tokens and cost, per case and in total."""

    __pydantic_config__ = _CONFIG

    latency_source: dict[str, str]
    """For each version, which latencies were used (uncached calls, or recorded latencies when all were hits)."""
    metrics: list[MetricDelta]
    """The figures."""
    notes: list[str]
    """How the figures were computed."""


@dataclass(kw_only=True)
class BehaviourChange:
    """An observed behaviour metric under both versions, tested and matched against the declared changes."""

    __pydantic_config__ = _CONFIG

    behaviour: Literal["verbosity", "refusal_rate", "tool_usage", "output_format", "latency", "cost", "quality"]
    """Behaviour family, as in an artifact's `expected_changes`."""
    metric: str
    """The measured metric, e.g. `words_per_case`, `calls_to:lookup_order`, `json_valid_rate`."""
    scope: dict[str, str]
    """Segment the metric covers; empty means all compared cases."""
    n: int
    """Cases contributing."""
    baseline: float | None
    """Baseline value (mean over cases of per-case means over repeats)."""
    candidate: float | None
    """Candidate value."""
    delta: float | None
    """Candidate minus baseline."""
    delta_pct: float | None
    """Relative change in percent of the baseline value."""
    ci_low: float | None
    """Lower end of the (1 - alpha) paired bootstrap interval of `delta`."""
    ci_high: float | None
    """Upper end of that interval."""
    test: str | None
    """Paired test used; null for descriptive rows."""
    p_value: float | None
    """Unadjusted p-value."""
    p_adjusted: float | None
    """p-value adjusted across the tested behaviour metrics (quality rows reuse their group's p-values)."""
    significant: bool | None
    """Whether the change is significant at alpha after adjustment; null for descriptive rows."""
    direction: Direction
    """Observed direction of a significant change (`change` for descriptive rows with changes), else `none`."""
    status: Literal["declared_change", "undeclared_change", "no_change", "descriptive"]
    """declared_change when it matches an expected change of the candidate (behaviour, scope, direction)."""
    declaration: str | None
    """The matching (or, for no_change, the relevant) declaration of the candidate, in words."""
    detail: str
    """Extra description (e.g. example case ids for tool sequence changes)."""


@dataclass(kw_only=True)
class DeclaredChange:
    """An expected change the candidate declares that was not observed."""

    __pydantic_config__ = _CONFIG

    behaviour: str
    """Declared behaviour."""
    direction: str
    """Declared direction."""
    description: str
    """The author's words."""
    segment: dict[str, str]
    """Declared scope."""
    observed: str
    """What the comparison measured instead."""


@dataclass(kw_only=True)
class Behaviour:
    """Observed behaviour shifts and the declared changes that did not show."""

    __pydantic_config__ = _CONFIG

    changes: list[BehaviourChange]
    """Every measured behaviour metric."""
    declared_not_observed: list[DeclaredChange]
    """Declared changes without a matching significant observation."""


@dataclass(kw_only=True)
class StabilityVersion:
    """Outcome flips between repeats of one version."""

    __pydantic_config__ = _CONFIG

    repeats: int
    """Most repeats any compared case has."""
    n_cases: int
    """Cases with at least two repeats."""
    n_flaky: int | None
    """Cases whose outcome (pass or not) differs between repeats; null without repeats."""
    flaky_rate: float | None
    """n_flaky / n_cases."""
    case_ids: list[str]
    """The flaky case ids."""


@dataclass(kw_only=True)
class Stability:
    """Flaky cases under each version."""

    __pydantic_config__ = _CONFIG

    baseline: StabilityVersion
    """Under the baseline."""
    candidate: StabilityVersion
    """Under the candidate."""


@dataclass(kw_only=True)
class Summary:
    """The headline numbers and a few lines for humans."""

    __pydantic_config__ = _CONFIG

    headline: str
    """One sentence: what was compared and the overall result."""
    verdict: Verdict
    """The overall group's verdict."""
    n_cases: int
    """Cases compared."""
    baseline_pass_rate: float | None
    """Overall baseline pass rate."""
    candidate_pass_rate: float | None
    """Overall candidate pass rate."""
    delta: float | None
    """Overall delta."""
    correction: str
    """Which multiple-comparison correction was applied, and over which groups, in words."""
    segment_verdicts: dict[str, int]
    """How many segment and tag groups got each verdict."""
    regressed_groups: list[str]
    """Labels of groups with a significant drop."""
    n_regressions: int
    """Cases pass -> fail."""
    n_improvements: int
    """Cases fail -> pass."""
    n_undeclared_changes: int
    """Significant behaviour changes the candidate did not declare."""
    n_declared_not_observed: int
    """Declared changes that did not show."""
    lines: list[str]
    """A short human summary, one line each."""
    notes: list[str]
    """Caveats: intersections, latency sources, repeats."""


@dataclass(kw_only=True)
class Comparison:
    """A paired comparison of a candidate run against a baseline run.

    `to_dict()` is the content of `comparison.json`; `write(out)` writes it with the tables; `load_comparison(dir)`
    reads it back. `hash` identifies the content (review sign-offs and gate approvals refer to it).
    """

    __pydantic_config__ = _CONFIG

    format_version: Literal[1] = 1
    """Version of the comparison format."""
    promptlab_version: str
    """promptlab version that computed the comparison."""
    settings: ComparisonSettings
    """Options the comparison ran with."""
    baseline: RunInfo
    """The baseline run."""
    candidate: RunInfo
    """The candidate run."""
    dataset_hash: str
    """The dataset hash (the candidate's, when datasets differ and that was allowed)."""
    evaluators: list[Any]
    """Suite-level evaluator specs (the candidate's, when they differ and that was allowed)."""
    comparability: Comparability
    """What differs between the runs' inputs."""
    summary: Summary
    """Headline numbers and human lines."""
    overall: GroupResult
    """All compared cases."""
    segments: list[GroupResult]
    """Every segment dimension/value, then every tag (hard-negative categories and `regression` included)."""
    hard_negatives: list[GroupResult]
    """Each hard-negative category, including those with no cases (n = 0)."""
    planning: Planning
    """The assumptions of the groups' power figures."""
    evaluator_rates: list[EvaluatorRate]
    """Per-evaluator pass rates."""
    regressions: list[CaseChange]
    """Cases pass -> fail, most severe first."""
    improvements: list[CaseChange]
    """Cases fail -> pass, most severe first."""
    latency_cost: LatencyCost
    """Latency, tokens and cost."""
    behaviour: Behaviour
    """Behaviour changes."""
    stability: Stability
    """Flaky cases with repeats."""
    path: Annotated[str | None, Field(exclude=True)] = field(default=None, compare=False)
    """Directory the comparison was written to or read from (not part of the file)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content of `comparison.json`."""
        data: dict[str, Any] = _adapter().dump_python(self, mode="json")
        return data

    @property
    def hash(self) -> str:
        """Content identity of the comparison (`sha256:...`): what was compared, not where or when it ran.

        See `comparison_identity`: a re-run of the same inputs gives the same hash, so sign-offs and approvals
        survive it, and any change to an artifact, the cases, the evaluators, the results or the settings changes it.
        """
        return comparison_identity(self.to_dict())

    def identity_parts(self) -> dict[str, str]:
        """The named parts of `hash`, so a stale sign-off can say what changed."""
        return identity_parts(self.to_dict())

    def group(self, key: str) -> GroupResult | None:
        """The overall, segment or tag group with this key (`overall`, `segment:intent=refund`, `tag:x`)."""
        if key == "overall":
            return self.overall
        for g in [*self.segments, *self.hard_negatives]:
            if g.key == key:
                return g
        return None

    def metric(self, name: str) -> MetricDelta | None:
        """A latency/cost figure by name (e.g. `latency_p95_s`, `cost_per_case_usd`)."""
        return next((m for m in self.latency_cost.metrics if m.metric == name), None)

    def tables(self) -> dict[str, Any]:
        """One pandas DataFrame per section, as written to `tables/<name>.csv`."""
        import pandas as pd

        def frame(rows: list[dict[str, Any]]) -> Any:
            return pd.DataFrame(rows)

        data = self.to_dict()
        groups = [data["overall"], *data["segments"]]
        changes = {}
        for name in ("regressions", "improvements"):
            changes[name] = frame(
                [
                    {
                        **{k: v for k, v in c.items() if k not in ("flipped", "segment", "tags")},
                        "segment": _flat(c["segment"]),
                        "tags": ";".join(c["tags"]),
                        "flipped": ";".join(f["label"] for f in c["flipped"]),
                        "reasons": " | ".join(f"{f['label']}: {f['error'] or f['reason']}" for f in c["flipped"]),
                    }
                    for c in data[name]
                ]
            )
        stability = [
            {
                "version": side,
                **{k: v for k, v in data["stability"][side].items() if k != "case_ids"},
                "case_ids": ";".join(data["stability"][side]["case_ids"]),
            }
            for side in ("baseline", "candidate")
        ]
        return {
            "segments": frame(groups),
            "hard_negatives": frame(data["hard_negatives"]),
            "evaluators": frame([{**e, "spec": orjson.dumps(e["spec"]).decode()} for e in data["evaluator_rates"]]),
            "regressions": changes["regressions"],
            "improvements": changes["improvements"],
            "latency_cost": frame(data["latency_cost"]["metrics"]),
            "behaviour": frame([{**b, "scope": _flat(b["scope"])} for b in data["behaviour"]["changes"]]),
            "declared_not_observed": frame(
                [{**d, "segment": _flat(d["segment"])} for d in data["behaviour"]["declared_not_observed"]]
            ),
            "stability": frame(stability),
        }

    def write(self, out: str | Path) -> Path:
        """Write `comparison.json` and `tables/*.csv` into `out` (created if needed); return the directory."""
        directory = Path(out)
        try:
            (directory / TABLES_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{directory}: cannot create the output directory ({exc.strerror})") from None
        atomic_write(directory / COMPARISON_FILE, orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        columns = _TABLE_COLUMNS
        for name, table in self.tables().items():
            # Empty sections still get a header row so readers know the columns.
            if table.empty and name in columns:
                table = table.reindex(columns=columns[name])
            atomic_write(directory / TABLES_DIR / f"{name}.csv", table.to_csv(index=False).encode("utf-8"))
        self.path = str(directory.resolve())
        return directory


_CASE_CHANGE_COLUMNS = [
    "case_id",
    "kind",
    "rank",
    "severity",
    "risk",
    "baseline_pass_rate",
    "candidate_pass_rate",
    "baseline_output",
    "candidate_output",
    "baseline_outcome",
    "candidate_outcome",
    "segment",
    "tags",
    "flipped",
    "reasons",
]

_TABLE_COLUMNS: dict[str, list[str]] = {
    "regressions": _CASE_CHANGE_COLUMNS,
    "improvements": _CASE_CHANGE_COLUMNS,
    "declared_not_observed": ["behaviour", "direction", "description", "segment", "observed"],
    "evaluators": ["label", "spec", "weight", "n", "baseline_pass_rate", "candidate_pass_rate", "delta"],
}


def _flat(mapping: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in mapping.items())


@cache
def _adapter() -> TypeAdapter[Comparison]:
    return TypeAdapter(Comparison)


def comparison_schema() -> dict[str, Any]:
    """The JSON Schema of `comparison.json`, derived from the dataclasses (shipped as `comparison.schema.json`)."""
    schema: dict[str, Any] = _adapter().json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://promptlab.dev/schemas/comparison-1.json",
        **schema,
    }


def load_comparison(directory: str | Path) -> Comparison:
    """Read `comparison.json` from a comparison directory and validate it.

    Raises:
        InputError: the directory holds no `comparison.json`.
        FileFormatError: the file is malformed or does not match the format (names the field).
    """
    d = Path(directory)
    path = d / COMPARISON_FILE if d.is_dir() or not d.suffix else d
    if not path.is_file():
        raise InputError(f"{d}: not a comparison directory (no {COMPARISON_FILE}; run `promptlab compare` first)")
    data = parse_json(path, read_bytes(path))
    if not isinstance(data, dict):
        raise FileFormatError(path, "expected a JSON object at the top level")
    if data.get("format_version") != 1:
        raise FileFormatError(
            path, f"unsupported format_version {data.get('format_version')!r} (expected 1)", field="format_version"
        )
    try:
        comparison = _adapter().validate_python(data)
    except ValidationError as exc:
        raise MultiFileFormatError(path, validation_problems(exc)) from None
    comparison.path = str(path.parent.resolve())
    return comparison


# Fields of a run that say where and when it ran, not what ran: a re-run of the same inputs changes only these.
_RUN_LOCATION = ("run_dir", "run_id", "run_hash", "status")
_RUN_VOLATILE_FILES = ("run.json",)


def _identity_content(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for side in ("baseline", "candidate"):
        run = data.get(side)
        if isinstance(run, dict):
            kept = {k: v for k, v in run.items() if k not in _RUN_LOCATION}
            files = run.get("files")
            if isinstance(files, dict):
                kept["files"] = {k: v for k, v in files.items() if k not in _RUN_VOLATILE_FILES}
            out[side] = kept
    return out


def comparison_identity(data: dict[str, Any]) -> str:
    """The content identity of a comparison's JSON (`sha256:...`).

    It covers what was compared: both artifacts, the dataset, the evaluator specs, the provider, the results'
    content (the digests of `artifact.json`, `cases.jsonl` and `results.jsonl`), the settings and every computed
    figure; it leaves out the run ids, the run directories and `run.json` (which records when and where a run
    happened), so re-running identical inputs keeps review sign-offs and gate approvals valid.
    """
    return content_hash(_identity_content(data))


def identity_parts(data: dict[str, Any]) -> dict[str, str]:
    """Named digests of the parts of a comparison's identity (artifacts, cases, evaluators, results, settings)."""
    content = _identity_content(data)
    parts: dict[str, str] = {}
    for side in ("baseline", "candidate"):
        run = content.get(side) or {}
        files = run.get("files") or {}
        parts[f"{side} artifact"] = content_hash(run.get("artifact"))
        parts[f"{side} cases"] = content_hash([run.get("dataset_hash"), files.get("cases.jsonl")])
        parts[f"{side} evaluators"] = content_hash([run.get("evaluators_hash"), run.get("evaluators")])
        parts[f"{side} provider"] = content_hash(run.get("provider"))
        parts[f"{side} results"] = content_hash(files.get("results.jsonl"))
    parts["settings"] = content_hash([content.get("settings"), content.get("promptlab_version")])
    return parts


def describe_identity_change(old: dict[str, str], new: dict[str, str]) -> str:
    """What differs between two comparisons' identity parts, in words (`candidate results, settings`)."""
    changed = [name for name in new if old.get(name) != new[name]]
    return ", ".join(changed) if changed else "the computed figures"
