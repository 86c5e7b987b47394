"""Rollout by traffic segment: the plan file, sticky assignment, rollback criteria and canary analysis.

The plan, assignment and criteria are light (a serving process resolving versions imports them); the canary
analysis and its statistics need numpy and scipy and load on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlab._util.lazy import lazy_attributes
from promptlab.rollout._assign import BUCKETS, RequestContext, StageRule, bucket, compile_stages, match_stage
from promptlab.rollout._criteria import KNOWN_CANARY_METRICS, BreachAction, MetricThreshold, RollbackCriteria
from promptlab.rollout._plan import COHORT_KEYS, RolloutPlan, Stage, format_duration, load_plan, parse_duration

if TYPE_CHECKING:
    from promptlab.rollout._canary import CanaryReport, ClockSkew, CohortStats, MetricResult, analyze_canary
    from promptlab.rollout._replay import CanaryCheckRow, ReplayClock, cohort_chart, cohort_windows, replay_canary
    from promptlab.rollout._stats import (
        UnitSums,
        fisher_exact_greater,
        msprt_log_lr,
        proportion_test,
        sequential_rate_test,
        two_proportion_z_greater,
    )

_LAZY = {
    "CanaryReport": "._canary",
    "ClockSkew": "._canary",
    "CohortStats": "._canary",
    "MetricResult": "._canary",
    "analyze_canary": "._canary",
    "CanaryCheckRow": "._replay",
    "ReplayClock": "._replay",
    "cohort_chart": "._replay",
    "cohort_windows": "._replay",
    "replay_canary": "._replay",
    "UnitSums": "._stats",
    "fisher_exact_greater": "._stats",
    "msprt_log_lr": "._stats",
    "proportion_test": "._stats",
    "sequential_rate_test": "._stats",
    "two_proportion_z_greater": "._stats",
}


__all__ = [
    "BUCKETS",
    "BreachAction",
    "COHORT_KEYS",
    "CanaryCheckRow",
    "CanaryReport",
    "ClockSkew",
    "CohortStats",
    "KNOWN_CANARY_METRICS",
    "MetricResult",
    "MetricThreshold",
    "ReplayClock",
    "RequestContext",
    "RollbackCriteria",
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
    "format_duration",
    "load_plan",
    "match_stage",
    "msprt_log_lr",
    "parse_duration",
    "proportion_test",
    "replay_canary",
    "sequential_rate_test",
    "two_proportion_z_greater",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
