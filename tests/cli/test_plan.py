"""`promptlab plan` and the power figures of `promptlab dataset stats`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult

Cli = Callable[..., CliResult]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-triage"


def test_plan_says_how_many_more_cases_each_group_needs(run_cli: Cli) -> None:
    args = ["plan", "--suite", EXAMPLE / "suite.yaml", "--policy", EXAMPLE / "gate-policy.yaml"]
    r = run_cli(*args, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    groups = {g["key"]: g for g in data["groups"]}
    billing, other = groups["segment:intent=billing"], groups["segment:intent=other"]
    assert billing["n"] == 50 and billing["judged"] and other["n"] == 10 and not other["judged"]
    assert other["min_detectable_drop"] > billing["min_detectable_drop"]
    assert billing["target_drop"] == 0.05  # the policy's margin
    assert billing["more_cases_needed"] == billing["cases_needed"] - 50 > 0
    # Three repeats average noise away: fewer cases needed for the same drop.
    r3 = json.loads(run_cli(*args, "--repeats", "3", "--json").out)
    assert {g["key"]: g for g in r3["groups"]}["segment:intent=billing"]["cases_needed"] < billing["cases_needed"]
    text = run_cli(*args).out
    assert "intent=other: n=10, not judged (n < min_n)" in text and "needs " in text


def test_dataset_stats_shows_the_smallest_detectable_drop(run_cli: Cli) -> None:
    r = run_cli("dataset", "stats", EXAMPLE / "suite.yaml", "--suite", "--discordance", "0.05")
    assert r.code == 0, r.err
    assert "noise given with --discordance" in r.out
    assert "  intent=billing: n=50, judged, detects " in r.out
