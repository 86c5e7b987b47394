"""Power planning before anything runs: what each group a policy judges can detect, and the cases it still needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from promptlab.comparison import (
    DEFAULT_DISCORDANCE,
    DEFAULT_POWER,
    DEFAULT_TARGET_DROP,
    cases_needed,
    discordance_from_repeats,
    min_detectable_drop,
)
from promptlab.datasets import HARD_NEGATIVE_TAGS, Case
from promptlab.gate._policy import GatePolicy
from promptlab.gate._rules import NoSegmentRegression

__all__ = ["GroupPlan", "discordance_from_run", "plan_groups"]


@dataclass(kw_only=True)
class GroupPlan:
    """One group's planning figures."""

    key: str
    label: str
    n: int
    judged: bool
    """Whether the policy's segment rule judges it (n >= min_n)."""
    alpha: float
    """One-sided level per group (the rule's alpha over its family)."""
    min_detectable_drop: float | None
    target_drop: float
    cases_needed: int
    more_cases_needed: int
    """Cases still missing: to reach min_n, and to detect `target_drop` with 80% power."""


def discordance_from_run(run_dir: str | Path) -> tuple[float, int, str]:
    """(discordance, repeats, source) measured from a previous run's repeats; the default without repeats."""
    from promptlab.runner import RunDir

    run = RunDir.open(run_dir)
    by_case: dict[str, list[bool]] = {}
    for row in run.rows():
        by_case.setdefault(str(row["case_id"]), []).append(row.get("outcome") == "pass")
    repeats = min((len(v) for v in by_case.values()), default=1)
    found = discordance_from_repeats(list(by_case.values()))
    if found is None:
        return DEFAULT_DISCORDANCE, 1, f"assumed default {DEFAULT_DISCORDANCE:g} ({run_dir} has one repeat per case)"
    return max(found, 0.005), repeats, f"measured from the repeats of {run_dir} ({repeats} per case)"


def plan_groups(
    cases: Iterable[Case], policy: GatePolicy | None, *, repeats: int, discordance: float
) -> tuple[list[GroupPlan], str]:
    """Per group (overall, segment values, tags): the smallest detectable drop and the cases still needed.

    Uses the policy's `no_segment_regression` rule (min_n, margin, confidence, tags, overall) when it has one, and
    that rule's defaults otherwise; the level per group is alpha split over the groups the rule would judge.
    """
    rule = next((r for r in (policy.build_rules() if policy else []) if isinstance(r, NoSegmentRegression)), None)
    rule = rule or NoSegmentRegression()
    items = list(cases)
    groups: dict[str, tuple[str, int]] = {"overall": ("overall", len(items))} if rule.include_overall else {}
    counts: dict[str, tuple[str, int]] = {}
    for case in items:
        for dim, value in case.segment.items():
            key = f"segment:{dim}={value}"
            counts[key] = (f"{dim}={value}", counts.get(key, ("", 0))[1] + 1)
        if rule.include_tags:
            for tag in dict.fromkeys(case.tags):
                key = f"tag:{tag}"
                counts[key] = (f"#{tag}", counts.get(key, ("", 0))[1] + 1)
    for tag in HARD_NEGATIVE_TAGS:
        counts.setdefault(f"tag:{tag}", (f"#{tag}", 0))
    groups.update(sorted(counts.items()))
    judged = [k for k, (_, n) in groups.items() if n >= rule.min_n]
    alpha = (1 - rule.confidence) / max(len(judged), 1) if rule.adjusted else 1 - rule.confidence
    target = rule.margin if rule.margin > 0 else DEFAULT_TARGET_DROP
    needed = cases_needed(target, alpha=alpha, power=DEFAULT_POWER, discordance=discordance, repeats=repeats)
    out = []
    for key, (label, n) in groups.items():
        out.append(
            GroupPlan(
                key=key,
                label=label,
                n=n,
                judged=key in judged,
                alpha=alpha,
                min_detectable_drop=min_detectable_drop(
                    n, alpha=alpha, power=DEFAULT_POWER, discordance=discordance, repeats=repeats
                ),
                target_drop=target,
                cases_needed=max(needed, rule.min_n),
                more_cases_needed=max(0, max(needed, rule.min_n) - n),
            )
        )
    note = (
        f"one-sided alpha {1 - rule.confidence:g} over {len(judged)} judged groups = {alpha:.3g} per group, "
        f"{DEFAULT_POWER:.0%} power, {repeats} repeat{'s' if repeats != 1 else ''}, noise {discordance:.1%} "
        f"(share of cases two runs of one version disagree on), planned drop {target * 100:g} pts, min_n {rule.min_n}"
    )
    return out, note
