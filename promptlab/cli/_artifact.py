"""`promptlab artifact validate|hash|diff|render`."""

from __future__ import annotations

import json
import sys

import click

from promptlab.artifacts import PromptArtifact, diff_artifacts
from promptlab.cli._common import echo_json, json_option
from promptlab.errors import PromptlabError


@click.group()
def artifact() -> None:
    """Validate, hash and diff prompt artifacts."""


@artifact.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Validate artifact files strictly; print one line per problem.

    Example:

    \b
        promptlab artifact validate examples/support-triage/v1.yaml examples/support-triage/v2.yaml
    """
    failed = False
    for path in files:
        try:
            a = PromptArtifact.from_file(path)
        except PromptlabError as exc:
            failed = True
            for line in str(exc).splitlines():
                click.echo(line, err=True)
            continue
        click.echo(f"{path}: ok ({a.ref}, {a.content_hash[:19]})")
    if failed:
        sys.exit(2)


@artifact.command("hash")
@click.argument("file", type=click.Path(dir_okay=False))
def hash_(file: str) -> None:
    """Print the artifact's content hash.

    Example:

    \b
        promptlab artifact hash examples/support-triage/v2.yaml
    """
    click.echo(PromptArtifact.from_file(file).content_hash)


@artifact.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@json_option
def diff(old: str, new: str, as_json: bool) -> None:
    """Show what changed between two artifacts, grouped by area.

    Example:

    \b
        promptlab artifact diff examples/support-triage/v1.yaml examples/support-triage/v2.yaml
    """
    d = diff_artifacts(PromptArtifact.from_file(old), PromptArtifact.from_file(new))
    if as_json:
        echo_json(d.to_dict())
    else:
        click.echo(d.to_text(), nl=False)


@artifact.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--vars", "vars_json", required=True, help="Template variables as a JSON object.")
def render(file: str, vars_json: str) -> None:
    """Render the artifact's messages with the given variables.

    Example:

    \b
        promptlab artifact render examples/support-triage/v1.yaml \\
            --vars '{"tenant_name": "Acme", "customer_name": "Ana", "locale": "de", "country": "DE", "message": "Hi"}'
    """
    try:
        variables = json.loads(vars_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"expected a JSON object: {exc.msg}", param_hint="--vars") from None
    if not isinstance(variables, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--vars")
    echo_json(PromptArtifact.from_file(file).render(variables))
