"""Rollout by traffic segment: the plan file, sticky assignment, and canary analysis."""

from promptlab.rollout._assign import BUCKETS, RequestContext, StageRule, bucket, compile_stages, match_stage
from promptlab.rollout._canary import CanaryReport, ClockSkew, CohortStats, MetricResult, analyze_canary
from promptlab.rollout._plan import RolloutPlan, Stage, load_plan, parse_duration
from promptlab.rollout._replay import CanaryCheckRow, ReplayClock, cohort_chart, cohort_windows, replay_canary
from promptlab.rollout._stats import (
    UnitSums,
    fisher_exact_greater,
    msprt_log_lr,
    proportion_test,
    sequential_rate_test,
    two_proportion_z_greater,
)

__all__ = [
    "BUCKETS",
    "CanaryCheckRow",
    "CanaryReport",
    "ClockSkew",
    "CohortStats",
    "MetricResult",
    "ReplayClock",
    "RequestContext",
    "RolloutPlan",
    "Stage",
    "StageRule",
    "UnitSums",
    "analyze_canary",
    "bucket",
    "cohort_chart",
    "cohort_windows",
    "compile_stages",
    "fisher_exact_greater",
    "load_plan",
    "match_stage",
    "msprt_log_lr",
    "parse_duration",
    "proportion_test",
    "replay_canary",
    "sequential_rate_test",
    "two_proportion_z_greater",
]
