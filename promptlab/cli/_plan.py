"""`promptlab plan --suite SUITE --policy POLICY [--baseline-run DIR]`: power planning before anything runs."""

from __future__ import annotations

from typing import Any

import click

from promptlab.cli._common import echo_json, json_option
from promptlab.comparison import DEFAULT_DISCORDANCE
from promptlab.datasets import load_suite


def power_options(f: Any) -> Any:
    """The planning assumptions shared by `plan` and `dataset stats`."""
    f = click.option(
        "--discordance",
        type=click.FloatRange(0.001, 1),
        default=None,
        help=f"Share of cases on which two runs of one version disagree (default: measured from --baseline-run, "
        f"else {DEFAULT_DISCORDANCE:g}).",
    )(f)
    f = click.option("--repeats", type=click.IntRange(min=1), default=None, help="Repeats per case (default 1).")(f)
    f = click.option(
        "--baseline-run", type=click.Path(file_okay=False), default=None, help="A previous run to measure noise from."
    )(f)
    return f


def assumptions(baseline_run: str | None, repeats: int | None, discordance: float | None) -> tuple[float, int, str]:
    """(discordance, repeats, source) from the options."""
    from promptlab.gate import discordance_from_run

    if baseline_run is not None:
        measured, run_repeats, source = discordance_from_run(baseline_run)
    else:
        measured, run_repeats, source = DEFAULT_DISCORDANCE, 1, f"assumed default {DEFAULT_DISCORDANCE:g}"
    if discordance is not None:
        measured, source = discordance, "given with --discordance"
    return measured, repeats or run_repeats, source


def plan_lines(rows: list[Any], note: str, source: str) -> list[str]:
    """Human lines of a plan."""
    out = [f"planning: {note}; noise {source}"]
    for r in rows:
        mdd = "none" if r.min_detectable_drop is None else f"{r.min_detectable_drop * 100:.0f} pts"
        status = "judged" if r.judged else "not judged (n < min_n)"
        need = (
            f"needs {r.more_cases_needed} more cases for a {r.target_drop * 100:g}-pt drop"
            if r.more_cases_needed
            else "enough cases"
        )
        out.append(f"  {r.label}: n={r.n}, {status}, detects {mdd}; {need}")
    return out


@click.command()
@click.option("--suite", "suite_path", required=True, type=click.Path(dir_okay=False), help="Suite file.")
@click.option("--policy", required=True, type=click.Path(dir_okay=False), help="Gate policy file.")
@power_options
@json_option
def plan(
    suite_path: str,
    policy: str,
    baseline_run: str | None,
    repeats: int | None,
    discordance: float | None,
    as_json: bool,
) -> None:
    """Before anything runs: the smallest drop each group can detect, and how many cases the policy needs.

    Example:

    \b
        promptlab plan --suite examples/support-triage/suite.yaml --policy examples/support-triage/gate-policy.yaml
    """
    from promptlab.gate import load_policy, plan_groups

    noise, reps, source = assumptions(baseline_run, repeats, discordance)
    rows, note = plan_groups(load_suite(suite_path).dataset, load_policy(policy), repeats=reps, discordance=noise)
    if as_json:
        echo_json({"note": note, "discordance_source": source, "groups": [r.__dict__ for r in rows]})
        return
    for line in plan_lines(rows, note, source):
        click.echo(line)
