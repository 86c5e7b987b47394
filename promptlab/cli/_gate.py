"""`promptlab gate COMPARE_DIR --policy FILE [--approve "NAME: REASON"]...`."""

from __future__ import annotations

import sys

import click

from promptlab.cli._common import echo_json, json_option, notify_option
from promptlab.gate import GATE_FILE, evaluate_gate


@click.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option("--policy", required=True, type=click.Path(dir_okay=False), help="Gate policy file (YAML or JSON).")
@click.option(
    "--approve",
    "approvals",
    multiple=True,
    metavar='"NAME: REASON"',
    help='Accept the trade-offs needing approval (all, or only those of "NAME [RULE, ...]: REASON").',
)
@notify_option
@json_option
def gate(compare_dir: str, policy: str, approvals: tuple[str, ...], notify: tuple[str, ...], as_json: bool) -> None:
    """Apply a gate policy to a comparison; exit 0 pass, 1 block, 3 needs approval.

    Example:

    \b
        promptlab gate out/cmp --policy examples/support-triage/gate-policy.yaml
    """
    decision = evaluate_gate(compare_dir, policy, approvals=approvals)
    if as_json:
        echo_json(decision.to_dict())
    else:
        for line in decision.lines():
            click.echo(line)
        click.echo(f"wrote {compare_dir}/{GATE_FILE}")
    if notify:
        # After gate.json is written: a webhook never changes the decision, a failed delivery only warns.
        from promptlab.notify import gate_event, resolve_targets
        from promptlab.notify import notify as send

        send(gate_event(decision), resolve_targets(list(notify)))
    sys.exit(decision.exit_code)
