"""`promptlab review show|cases|case|sign`: the two-layer review without a notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from promptlab.cli._common import echo_json, json_option, notify_option

if TYPE_CHECKING:
    from promptlab.review import Review

_LAYER = click.Choice(["product", "technical"])


def _open(compare_dir: str) -> Review:
    """The review of a comparison directory, with the coverage threshold of its gate policy when it was gated."""
    from promptlab.errors import PromptlabError
    from promptlab.gate import load_gate
    from promptlab.review import Review

    try:
        decision = load_gate(compare_dir)
    except PromptlabError:
        decision = None  # an unreadable gate.json only loses the policy's threshold, as before
    return Review.open(compare_dir, gate=decision)


@click.group()
def review() -> None:
    """Review a comparison (product and technical layers) and sign it off."""


@review.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option("--layer", type=_LAYER, default=None, help="Only this layer (default: both).")
@json_option
def show(compare_dir: str, layer: str | None, as_json: bool) -> None:
    """Print the checklist items with their evidence, and the hard-negative coverage.

    Example:

    \b
        promptlab review show out/cmp --layer product
    """
    from promptlab.review import LAYERS

    r = _open(compare_dir)
    layers = [layer] if layer else list(LAYERS)
    checklists = [r.checklist(name) for name in layers]
    if as_json:
        echo_json(
            {
                "comparison_hash": r.hash,
                "notes": r.notes,
                "layers": {
                    c.layer: [
                        {
                            "id": it.id,
                            "title": it.title,
                            "question": it.definition.question,
                            "required": it.definition.required,
                            "attention": it.attention,
                            "evidence": it.evidence,
                        }
                        for it in c.items
                    ]
                    for c in checklists
                },
                "coverage": [
                    {
                        "category": row.category,
                        "n": row.n,
                        "baseline_pass_rate": row.baseline_pass_rate,
                        "candidate_pass_rate": row.candidate_pass_rate,
                        "covered": row.covered,
                    }
                    for row in r.coverage()
                ],
            }
        )
        return
    cmp = r.comparison
    click.echo(f"{cmp.candidate.artifact.ref} vs {cmp.baseline.artifact.ref} (comparison {r.hash[:19]})")
    for note in r.notes:
        click.echo(f"note: {note}")
    for c in checklists:
        click.echo(f"\n{c.layer} review")
        for it in c.items:
            flag = "  <- look at this" if it.attention else ""
            click.echo(f"  [{it.id}] {it.definition.question}{flag}")
            for line in it.evidence:
                click.echo(f"      {line}")
    click.echo(f"\nhard-negative coverage (covered: at least {r.min_cases} cases)")
    for row in r.coverage():
        click.echo(f"  {row.line()}")


@review.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option("--category", default=None, help="Only cases with this tag, e.g. hard-negative:adversarial.")
def cases(compare_dir: str, category: str | None) -> None:
    """List the cases failing under the candidate (regressions first).

    Example:

    \b
        promptlab review cases out/cmp --category hard-negative:adversarial
    """
    for c in _open(compare_dir).failing_cases(category=category):
        click.echo(c.label() + (f": {c.reason}" if c.reason else ""))


@review.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.argument("case_id")
def case(compare_dir: str, case_id: str) -> None:
    """Show one case under both versions: every repeat's outcome, failed evaluators, tool calls and output.

    Example:

    \b
        promptlab review case out/cmp st-refund-001
    """
    detail = _open(compare_dir).case(case_id)
    seg = ", ".join(f"{k}={v}" for k, v in detail.segment.items())
    click.echo(f"{detail.case_id}  {seg}" + (f"  tags: {', '.join(detail.tags)}" if detail.tags else ""))
    for key, value in detail.vars.items():
        click.echo(f"  {key}: {value}")
    for side, attempts in (("baseline", detail.baseline), ("candidate", detail.candidate)):
        for a in attempts:
            click.echo(f"\n--- {side} repeat {a.repeat}: {a.outcome}")
            if a.error:
                click.echo(f"error: {a.error}")
            for label, reason in a.failed:
                click.echo(f"failed {label}: {reason}")
            for call in a.tool_calls:
                click.echo(f"tool {call}")
            click.echo(a.output if a.output is not None else "(no output)")


@review.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option("--layer", type=_LAYER, required=True, help="Review layer.")
@click.option("--reviewer", required=True, help="Your name.")
@click.option("--decision", type=click.Choice(["approve", "request_changes"]), required=True, help="Your decision.")
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="ITEM=yes|no[: note]",
    help="Answer a checklist item (every required item of the layer must be answered).",
)
@click.option("--comment", default="", help="Comments (required with request_changes).")
@notify_option
def sign(
    compare_dir: str,
    layer: str,
    reviewer: str,
    decision: str,
    checks: tuple[str, ...],
    comment: str,
    notify: tuple[str, ...],
) -> None:
    """Record a review sign-off in COMPARE_DIR/reviews/ (read by the gate and the bundle).

    Example:

    \b
        promptlab review sign out/cmp --layer product --reviewer Ana --decision approve \
            --check tone=yes --check policy_alignment=yes --check user_value=yes
    """
    from promptlab.errors import InputError

    answers: dict[str, str] = {}
    for raw in checks:
        item, sep, answer = raw.partition("=")
        item = item.strip()
        if not sep or not item:
            raise InputError(f"--check {raw!r}: expected ITEM=yes or ITEM=no (optionally ITEM=no: note)")
        if item in answers:
            raise InputError(f"--check: item '{item}' answered more than once")
        answers[item] = answer
    review = _open(compare_dir)
    path = review.sign(layer, reviewer=reviewer, decision=decision, answers=answers, comments=comment)
    click.echo(f"signed: {path}")
    if notify:
        from promptlab.notify import Event, resolve_targets
        from promptlab.notify import notify as send

        cmp = review.comparison
        verdict = "approved" if decision == "approve" else "changes requested"
        event = Event(
            kind="review.approval",
            subject=cmp.candidate.artifact.ref,
            summary=f"{layer} review of {cmp.candidate.artifact.ref} by {reviewer}: {verdict}",
            status=verdict,
            details=[comment] if comment else [],
            data={"layer": layer, "reviewer": reviewer, "decision": decision, "comparison_hash": review.hash},
        )
        send(event, resolve_targets(list(notify)))
