"""Rollout by traffic segment: the plan file, sticky assignment, and canary analysis."""

from promptlab.rollout._assign import BUCKETS, RequestContext, StageRule, bucket, compile_stages, match_stage
from promptlab.rollout._canary import CanaryReport, CohortStats, MetricResult, analyze_canary
from promptlab.rollout._plan import RolloutPlan, Stage, load_plan, parse_duration
from promptlab.rollout._stats import fisher_exact_greater, proportion_test, two_proportion_z_greater

__all__ = [
    "BUCKETS",
    "CanaryReport",
    "CohortStats",
    "MetricResult",
    "RequestContext",
    "RolloutPlan",
    "Stage",
    "StageRule",
    "analyze_canary",
    "bucket",
    "compile_stages",
    "fisher_exact_greater",
    "load_plan",
    "match_stage",
    "parse_duration",
    "proportion_test",
    "two_proportion_z_greater",
]
