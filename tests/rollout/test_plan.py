"""The rollout plan file: strict validation with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlab.errors import FileFormatError
from promptlab.rollout import load_plan, parse_duration

GOOD = """\
cohort_key: user_id
policy: policy.yaml
stages:
  - {name: internal, internal: true, min_duration: 30m, min_requests: 200}
  - {name: low-risk, segments: {intent: [password_reset]}, min_duration: 2h, min_requests: 300}
  - {name: germany, segments: {geo: [de]}, min_duration: 1d}
  - {name: ten-percent, percent: 10, min_duration: 1h30m}
  - {name: everyone}
"""


def _plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_a_valid_plan_loads_with_durations_in_seconds(tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, GOOD))
    assert [s.name for s in plan.stages] == ["internal", "low-risk", "germany", "ten-percent", "everyone"]
    assert [s.min_duration for s in plan.stages] == [1800, 7200, 86400, 5400, 0]
    assert plan.salt_for("triage", "v2") == "triage:v2"
    assert plan.policy_path(tmp_path / "plan.yaml") == tmp_path / "policy.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("min_requests: 200", "min_requets: 200"), "stages[0].min_requets: unknown key"),
        (
            GOOD.replace("min_duration: 30m", "min_duration: soon"),
            "stages[0].min_duration: value error, expected a duration",
        ),
        (GOOD.replace("percent: 10", "percent: 150"), "stages[3].percent: input should be less than or equal to 100"),
        (
            GOOD.replace("- {name: everyone}", "- {name: everyone, percent: 50}"),
            "the last stage ('everyone') must send everyone",
        ),
        (GOOD.replace("name: germany", "name: internal"), "'internal' appears twice"),
        (GOOD.replace("cohort_key: user_id", "cohort_key: ip"), "cohort_key: input should be 'user_id'"),
        (GOOD.replace("{geo: [de]}", "{geo: []}"), "segment 'geo' lists no values"),
        ("stages: [{name: everyone}]", "stages: list should have at least 2 items"),
        ("stages: [", "malformed YAML"),
    ],
)
def test_bad_plans_give_one_line_errors_naming_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _plan(tmp_path, text)
    with pytest.raises(FileFormatError) as exc:
        load_plan(path)
    first = str(exc.value).splitlines()[0]
    assert first.startswith(f"{path}: ") and expected in first


def test_bad_plan_exits_2_from_the_cli_without_a_traceback(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = _plan(tmp_path, GOOD.replace("percent: 10", "percent: ten"))
    result = run_cli(
        "rollout",
        "start",
        "triage",
        "--candidate",
        "v2",
        "--plan",
        path,
        "--reason",
        "r",
        "--url",
        f"sqlite:///{tmp_path / 'r.db'}",
    )
    assert result.code == 2
    assert result.err.startswith(f"error: {path}: stages[3].percent:") and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(45, 45.0), ("45s", 45.0), ("30m", 1800.0), ("1h30m", 5400.0), ("2d", 172800.0), ("0.5h", 1800.0)],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m30", "-5", -5, True, "1w"])
def test_bad_durations_are_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
