"""`promptlab harvest LOGS... --policy FILE --out DIR [--dry-run] [--since ISO]`."""

from __future__ import annotations

import click

from promptlab.cli._common import echo_json, json_option


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--policy", "policy_path", required=True, type=click.Path(dir_okay=False), help="Harvest policy (YAML or JSON)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Regression-cases directory (e.g. regression_cases/).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--since", default=None, help="Only responses at or after this ISO date or date-time (UTC if no offset).")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "python"]),
    default="duckdb",
    show_default=True,
    help="duckdb: streaming scan for large logs; python: every record through every detector (reference).",
)
@click.option(
    "--max-malformed-rate",
    type=click.FloatRange(0, 1),
    default=None,
    help="Exit 3 when more than this share of lines is malformed (e.g. 0.01); the rest is still harvested.",
)
@click.option("--show", default=20, show_default=True, help="How many malformed lines and new cases to list.")
@json_option
def harvest(
    logs: tuple[str, ...],
    policy_path: str,
    out: str,
    dry_run: bool,
    since: str | None,
    engine: str,
    max_malformed_rate: float | None,
    show: int,
    as_json: bool,
) -> None:
    """Turn production failures in LOGS into regression cases under --out.

    LOGS are JSONL/NDJSON or Parquet log files, OTLP JSON trace exports, or directories of them. Prints counts by
    detector and by segment, and every malformed line with its file and line number (malformed lines never stop
    the run). Re-running over the same logs adds nothing; existing cases are never overwritten.

    Exit codes: 0 harvested; 2 bad input (policy, paths, or no valid record at all: every line malformed or every
    file unreadable); 3 harvested, but an input file could not be read (corrupt Parquet, another schema) or the
    malformed lines exceed --max-malformed-rate.

    Example:

    \b
        promptlab harvest examples/support-triage/production/logs \\
            --policy examples/support-triage/production/harvest-policy.yaml --out regression_cases --dry-run
    """
    from promptlab.harvest import harvest as run_harvest

    report = run_harvest(
        list(logs),
        policy=policy_path,
        out=out,
        dry_run=dry_run,
        since=since,
        engine="python" if engine == "python" else "duckdb",
    )
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.to_text(max_lines=show), nl=False)
    problem = report.problem(max_malformed_rate=max_malformed_rate)
    if problem is not None:
        code, reason = problem
        click.echo(f"error: {reason}", err=True)
        raise click.exceptions.Exit(code)
