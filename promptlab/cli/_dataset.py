"""`promptlab dataset validate|hash|stats`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from promptlab.cli._common import echo_json, json_option
from promptlab.cli._plan import assumptions, plan_lines, power_options
from promptlab.datasets import HARD_NEGATIVE_TAGS, Dataset, load_dataset, load_suite


def _load(path: str, suite: bool) -> Dataset:
    return load_suite(path).dataset if suite else load_dataset(path)


suite_option = click.option("--suite", is_flag=True, help="PATH is a suite file: load all its datasets.")


@click.group()
def dataset() -> None:
    """Validate and describe test sets (a file, a directory, or a suite file)."""


@dataset.command()
@click.argument("path", type=click.Path())
@suite_option
def validate(path: str, suite: bool) -> None:
    """Validate every case; duplicate ids and empty sets are errors.

    Example:

    \b
        promptlab dataset validate examples/support-triage/suite.yaml --suite
    """
    ds = _load(path, suite)
    click.echo(f"{path}: ok ({len(ds)} cases, {ds.content_hash[:19]})")


@dataset.command("hash")
@click.argument("path", type=click.Path())
@suite_option
def hash_(path: str, suite: bool) -> None:
    """Print the dataset's content hash.

    Example:

    \b
        promptlab dataset hash examples/support-triage/suite.yaml --suite
    """
    click.echo(_load(path, suite).content_hash)


@dataset.command()
@click.argument("path", type=click.Path())
@suite_option
@click.option("--policy", type=click.Path(dir_okay=False), default=None, help="Gate policy to plan power for.")
@power_options
@json_option
def stats(
    path: str,
    suite: bool,
    policy: str | None,
    baseline_run: str | None,
    repeats: int | None,
    discordance: float | None,
    as_json: bool,
) -> None:
    """Count cases per segment value and per hard-negative category, and what each group can detect.

    Example:

    \b
        promptlab dataset stats suite.yaml --suite --policy gate-policy.yaml
    """
    from promptlab.gate import load_policy, plan_groups

    ds = _load(path, suite)
    segments: dict[str, Counter[str]] = {}
    for case in ds:
        for dim, value in case.segment.items():
            segments.setdefault(dim, Counter())[value] += 1
    hard = Counter(t for c in ds for t in c.hard_negatives)
    data: dict[str, Any] = {
        "cases": len(ds),
        "hash": ds.content_hash,
        "segments": {d: dict(sorted(c.items())) for d, c in sorted(segments.items())},
        "hard_negatives": {t: hard.get(t, 0) for t in HARD_NEGATIVE_TAGS},
    }
    noise, reps, source = assumptions(baseline_run, repeats, discordance)
    rows, note = plan_groups(ds, load_policy(policy) if policy else None, repeats=reps, discordance=noise)
    data["power"] = {"note": note, "discordance_source": source, "groups": [r.__dict__ for r in rows]}
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['cases']} cases  {ds.content_hash}")
    for dim, counts in data["segments"].items():
        click.echo(f"  {dim}: " + ", ".join(f"{v}={n}" for v, n in counts.items()))
    click.echo("  hard negatives: " + ", ".join(f"{t.split(':')[1]}={n}" for t, n in data["hard_negatives"].items()))
    for line in plan_lines(rows, note, source):
        click.echo(line)
