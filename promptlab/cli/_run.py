"""`promptlab run`: run an artifact over a suite and write a run directory.

Exit codes: 0 the run is complete and its error rate is within `--max-error-rate`; 2 bad input (nothing ran, or
a directory that cannot be used); 4 the run is complete but too many cases could not be evaluated (the provider
failed after retries, the answer was malformed): the rows are kept, fix the cause and rerun; 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Any, cast

import click
import yaml

from promptlab.errors import RunErrorRateError
from promptlab.providers import CACHE_MODES, CacheMode


def _provider_option(value: str | None) -> Any:
    """`openai`, `python:pkg.mod:function`, or an inline YAML/JSON mapping such as `{openai: {base_url: ...}}`."""
    if value is None or not value.lstrip().startswith("{"):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise click.BadParameter(
            f"expected openai, python:module:function or a {{name: {{...}}}} mapping ({problem})",
            param_hint="--provider",
        ) from None
    return parsed


@click.command()
@click.option("--artifact", required=True, type=click.Path(dir_okay=False), help="Prompt artifact file.")
@click.option("--suite", required=True, type=click.Path(dir_okay=False), help="Suite file.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to create (or resume).")
@click.option(
    "--provider",
    help="Provider spec: openai, python:pkg.mod:function, or '{openai: {base_url: URL}}'. "
    "Default: the artifact's model.provider.",
)
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight.")
@click.option("--adaptive", is_flag=True, help="Back off on rate limits (429) and recover after sustained success.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per case.")
@click.option(
    "--cache-mode",
    type=click.Choice(CACHE_MODES),
    help="Response cache mode (default: read-write when there is a cache directory, else off).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    help="Response cache directory (default: the suite's `cache`).",
)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), help="Per-request timeout (s).")
@click.option(
    "--retries",
    "max_retries",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Retries after 429 / 5xx / timeouts / dropped connections.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out (calls only unfinished cases).")
@click.option(
    "--baseline",
    "baseline_run",
    type=click.Path(file_okay=False),
    help="Baseline run directory (for relative evaluators such as a verbosity ratio).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.option(
    "--max-error-rate",
    type=click.FloatRange(min=0, max=1),
    default=0.0,
    show_default=True,
    help="Exit 4 when a larger share of rows are errors (cases that could not be evaluated at all: provider "
    "failures after retries, malformed answers). Failed evaluations are not errors.",
)
def run(
    artifact: str,
    suite: str,
    out: str,
    provider: str | None,
    concurrency: int,
    adaptive: bool,
    repeats: int,
    cache_mode: str | None,
    cache_dir: str | None,
    timeout_s: float | None,
    max_retries: int,
    resume: bool,
    baseline_run: str | None,
    progress: bool | None,
    max_error_rate: float,
) -> None:
    """Run ARTIFACT over every case of SUITE and write the results to OUT.

    Exit codes: 0 done; 2 bad input; 4 done, but more rows than --max-error-rate are errors (cases that could
    not be evaluated: provider failures after retries, malformed answers); 130 interrupted (resume with --resume).

    Example:

    \b
        promptlab run --artifact examples/support-triage/v2.yaml --suite examples/support-triage/suite.yaml \\
            --out out/run-v2
    """
    from promptlab.runner import run as run_suite

    try:
        summary = run_suite(
            artifact,
            suite,
            out,
            provider=_provider_option(provider),
            concurrency=concurrency,
            adaptive=adaptive,
            repeats=repeats,
            cache_mode=cast(CacheMode | None, cache_mode),
            cache_dir=cache_dir,
            timeout_s=timeout_s,
            max_retries=max_retries,
            resume=resume,
            baseline_run=baseline_run,
            progress=progress,
        )
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: finished rows are kept in {out}; continue with the same command plus --resume", err=True
        )
        sys.exit(130)
    click.echo(f"Run complete: {summary.text()}")
    if summary.error_rate > max_error_rate:
        raise RunErrorRateError(
            f"{summary.errors_text()}: error rate {summary.error_rate:.1%} exceeds --max-error-rate "
            f"{max_error_rate:.1%}; the rows are kept in {out}"
        )
    if summary.outcomes.get("error"):
        click.echo(f"warning: {summary.errors_text()}", err=True)
