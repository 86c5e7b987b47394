"""`promptlab ci --baseline A --candidate B --suite S --policy P --out DIR`: the release check in one CI step."""

from __future__ import annotations

import os
import sys

import click

CACHE_MODES = ("read-write", "read-only", "off")


def _details_url() -> str | None:
    """A link to this CI run: GitHub Actions' run page or GitLab's job page, when the variables are there."""
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or None


@click.command()
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="Baseline artifact (in production).")
@click.option("--candidate", required=True, type=click.Path(dir_okay=False), help="Candidate artifact.")
@click.option("--suite", required=True, type=click.Path(dir_okay=False), help="Test suite file.")
@click.option("--policy", required=True, type=click.Path(dir_okay=False), help="Gate policy file.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Directory to write everything to.")
@click.option(
    "--key", type=click.Path(dir_okay=False), default=None, help="Ed25519 signing key (default: one in OUT/keys)."
)
@click.option(
    "--key-passphrase-env", default=None, metavar="VAR", help="Environment variable holding the key's passphrase."
)
@click.option("--provider", default=None, help="Provider spec overriding the artifacts' own (e.g. openai).")
@click.option("--cache-mode", type=click.Choice(CACHE_MODES), default=None, help="Response cache mode.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True, help="Times each case runs.")
@click.option(
    "--approve", "approvals", multiple=True, metavar='"NAME: REASON"', help="Accept the gate's trade-offs on record."
)
@click.option(
    "--notify",
    "notify_specs",
    multiple=True,
    metavar="TARGET",
    help="Webhook for the decision: a URL, slack+URL, or a name from the targets file (repeatable).",
)
@click.option(
    "--notify-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Named notification targets (default: $PROMPTLAB_NOTIFY_FILE).",
)
@click.option("--details-url", default=None, help="Link to this CI run (default: from GitHub/GitLab variables).")
def ci(
    baseline: str,
    candidate: str,
    suite: str,
    policy: str,
    out: str,
    key: str | None,
    key_passphrase_env: str | None,
    provider: str | None,
    cache_mode: str | None,
    repeats: int,
    approvals: tuple[str, ...],
    notify_specs: tuple[str, ...],
    notify_file: str | None,
    details_url: str | None,
) -> None:
    """Run both versions, compare, gate, write report.html, summary.md, comment.md and the signed bundle.

    Appends the summary to $GITHUB_STEP_SUMMARY when it is set, notifies the --notify webhooks (a failed webhook
    only warns), prints the decision and the rules that decided it, and exits with the gate's code: 0 pass,
    1 block, 3 needs approval (2 for bad input).

    Example:

    \b
        promptlab ci --baseline examples/support-triage/v1.yaml --candidate examples/support-triage/v2.yaml \\
            --suite examples/support-triage/suite.yaml --policy examples/support-triage/gate-policy.yaml --out out/ci
    """
    from promptlab.errors import InputError
    from promptlab.notebook import append_step_summary, release_check
    from promptlab.notify import gate_event, notify, resolve_targets

    targets = resolve_targets(list(notify_specs), targets_file=notify_file) if notify_specs else []
    passphrase = None
    if key_passphrase_env:
        passphrase = os.environ.get(key_passphrase_env)
        if passphrase is None:
            raise InputError(f"--key-passphrase-env: environment variable {key_passphrase_env} is not set")
    link = details_url or _details_url()
    check = release_check(
        baseline=baseline,
        candidate=candidate,
        suite=suite,
        policy=policy,
        out=out,
        key=key,
        passphrase=passphrase,
        provider=provider,
        cache_mode=cache_mode,
        repeats=repeats,
        approvals=approvals,
        details_url=link,
    )
    step_summary = append_step_summary(check.summary.read_text(encoding="utf-8"))
    if targets:
        paths = {"report": str(check.report), "bundle": str(check.bundle)}
        notify(gate_event(check.decision, url=link, paths=paths), targets)
    for line in check.lines():
        click.echo(line)
    if step_summary is not None:
        click.echo(f"step summary: appended to {step_summary}")
    sys.exit(check.exit_code)
