"""`promptlab compare --baseline RUN --candidate RUN --out DIR`."""

from __future__ import annotations

import click

from promptlab.cli._common import echo_json, json_option
from promptlab.comparison import COMPARISON_FILE
from promptlab.comparison import compare as run_compare


@click.command()
@click.option("--baseline", required=True, type=click.Path(), help="Baseline run directory.")
@click.option("--candidate", required=True, type=click.Path(), help="Candidate run directory.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Comparison directory to write.")
@click.option(
    "--allow-different-datasets",
    is_flag=True,
    help="Compare the shared case ids of runs over different datasets (or unfinished runs).",
)
@click.option("--allow-different-evaluators", is_flag=True, help="Compare runs graded by different evaluator specs.")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level of tests and intervals.",
)
@click.option(
    "--min-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Groups with fewer cases are reported as not enough data.",
)
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh"]),
    default="holm",
    show_default=True,
    help="Multiple-comparison correction across segments: Holm or Benjamini-Hochberg.",
)
@click.option(
    "--n-boot", type=click.IntRange(min=10), default=2000, show_default=True, help="Bootstrap resamples per interval."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap and permutation tests.")
@json_option
def compare(
    baseline: str,
    candidate: str,
    out: str,
    allow_different_datasets: bool,
    allow_different_evaluators: bool,
    alpha: float,
    min_n: int,
    correction: str,
    n_boot: int,
    seed: int,
    as_json: bool,
) -> None:
    """Compare a candidate run with a baseline run over the same cases; write DIR/comparison.json and tables.

    Example:

    \b
        promptlab compare --baseline out/run-v1 --candidate out/run-v2 -o out/cmp
    """
    result = run_compare(
        baseline,
        candidate,
        out=out,
        allow_different_datasets=allow_different_datasets,
        allow_different_evaluators=allow_different_evaluators,
        alpha=alpha,
        min_n=min_n,
        correction="bh" if correction == "bh" else "holm",
        n_boot=n_boot,
        seed=seed,
    )
    if as_json:
        echo_json(result.to_dict()["summary"])
        return
    for line in result.summary.lines:
        click.echo(line)
    for note in result.summary.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}/{COMPARISON_FILE} and {out}/tables/")
