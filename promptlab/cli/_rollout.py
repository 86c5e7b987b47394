"""`promptlab rollout start|status|advance|freeze|resume|abort`, `promptlab rollback`, `promptlab canary check|record`.

`promptlab canary check NAME` exit codes (for cron and CI), keeping a failed measurement apart from a failed
rollout as Argo Rollouts does (Error vs Failed):

    0  healthy: advanced, or holding until the stage's minimum duration and requests are met
    1  breach: the rollout was frozen (and routed back, as the policy says), or already is
    2  bad input: unknown rollout, bad flags or files
    3  inconclusive: not enough data yet (what is missing is printed); the rollout holds
    5  could not measure: the store is unreachable or corrupt, or other writers kept changing the rollout
       (after retries); nothing was decided and the rollout holds as it was
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import NoReturn

import click
from sqlalchemy.exc import DBAPIError

from promptlab.cli._common import echo_json, json_option, notify_option
from promptlab.cli._registry import (
    audit_line,
    evidence_options,
    forced,
    label_option,
    lock_timeout_option,
    open_registry,
    reason_option,
    registry_options,
)
from promptlab.errors import ConcurrentChangeError, InputError, RegistryUnavailableError
from promptlab.gate import load_policy
from promptlab.registry import CanaryCheck, RolloutState, load_outcome_events
from promptlab.rollout import RollbackCriteria, format_duration, load_plan


def _criteria(plan_path: Path, policy: str | None, plan_policy: Path | None) -> RollbackCriteria:
    path = Path(policy) if policy else plan_policy
    if path is None:
        raise InputError(
            f"{plan_path}: policy: no rollback criteria: pass --policy FILE (a gate policy with a rollback "
            f"section) or name it as `policy:` in the plan"
        )
    return load_policy(path).rollback


def _describe(ro: RolloutState) -> str:
    stage = ro.current_stage
    lines = [
        f"rollout #{ro.id} of {ro.name} on '{ro.label}': {ro.baseline} -> {ro.candidate}, {ro.status}",
        f"  stage {ro.stage + 1}/{len(ro.plan.stages)} '{stage.name}'"
        + (f" (since {format_duration(time.time() - ro.stage_started_at)} ago)" if ro.status == "active" else ""),
    ]
    if ro.status_reason:
        lines.append(f"  reason: {ro.status_reason}")
    return "\n".join(lines)


def _echo_check(result: CanaryCheck, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(_describe(result.rollout))
    report = result.report
    if report is not None:
        click.echo(
            f"  canary: {report.verdict}; candidate {report.candidate.version} n={report.candidate.requests}, "
            f"control {report.control.version} n={report.control.requests}"
        )
        for m in report.metrics:
            click.echo(f"    [{m.status}] {m.detail}")
    click.echo(f"  {result.action}: {result.note}")


@click.group()
def rollout() -> None:
    """Roll a candidate out by traffic segment, stage by stage."""


@rollout.command()
@click.argument("name")
@click.option("--candidate", required=True, help="Version to roll out (published).")
@click.option("--plan", "plan_file", required=True, type=click.Path(dir_okay=False), help="Rollout plan file.")
@click.option("--policy", type=click.Path(dir_okay=False), help="Gate policy holding the rollback criteria.")
@label_option
@reason_option
@evidence_options
@registry_options
def start(
    name: str,
    candidate: str,
    plan_file: str,
    policy: str | None,
    label_: str,
    reason: str,
    bundle: str | None,
    trusted_keys: tuple[str, ...],
    force: bool,
    url: str | None,
    actor: str,
) -> None:
    """Start a rollout at its first stage.

    Example:

    \b
        promptlab rollout start support-triage --candidate v2 --plan examples/support-triage/rollout/plan.yaml \\
            --policy examples/support-triage/gate-policy.yaml --reason "v2: better order status answers"
    """
    plan_path = Path(plan_file)
    plan = load_plan(plan_path)
    criteria = _criteria(plan_path, policy, plan.policy_path(plan_path))
    with open_registry(url) as reg:
        ro = forced(
            lambda: reg.start_rollout(
                name,
                candidate,
                plan,
                criteria=criteria,
                label=label_,
                actor=actor,
                reason=reason,
                bundle=bundle,
                trusted_keys=trusted_keys,
                force=force,
            )
        )
    click.echo(_describe(ro))


@rollout.command()
@click.argument("name")
@label_option
@json_option
@click.option("--url", envvar="PROMPTLAB_REGISTRY_URL", default=None, help="Registry store URL.")
def status(name: str, label_: str, as_json: bool, url: str | None) -> None:
    """Show the rollout, its stage, and a dry-run canary analysis of the stage.

    Example:

    \b
        promptlab rollout status support-triage
    """
    with open_registry(url) as reg:
        ro = reg.rollout(name, label=label_)
        if ro is None:
            raise InputError(f"no rollout of {name} on '{label_}'")
        if ro.live:
            _echo_check(reg.check_canary(name, label=label_, apply=False), as_json)
            return
    if as_json:
        echo_json({"rollout": ro.to_dict()})
    else:
        click.echo(_describe(ro))


@rollout.command()
@click.argument("name")
@label_option
@reason_option
@evidence_options
@registry_options
def advance(
    name: str,
    label_: str,
    reason: str,
    bundle: str | None,
    trusted_keys: tuple[str, ...],
    force: bool,
    url: str | None,
    actor: str,
) -> None:
    """Move to the next stage (the last stage completes the rollout).

    Example:

    \b
        promptlab rollout advance support-triage --reason "stage healthy"
    """
    with open_registry(url) as reg:
        ro = forced(
            lambda: reg.advance_rollout(
                name, label=label_, actor=actor, reason=reason, bundle=bundle, trusted_keys=trusted_keys, force=force
            )
        )
    click.echo(_describe(ro))


@rollout.command()
@click.argument("name")
@label_option
@reason_option
@click.option("--in-place", is_flag=True, help="Keep the candidate cohort on the candidate; only stop advancing.")
@registry_options
def freeze(name: str, label_: str, reason: str, in_place: bool, url: str | None, actor: str) -> None:
    """Freeze the rollout and route its traffic back to the baseline.

    Example:

    \b
        promptlab rollout freeze support-triage --reason "investigating escalations"
    """
    with open_registry(url) as reg:
        ro = reg.freeze_rollout(name, label=label_, actor=actor, reason=reason, route_back=not in_place)
    click.echo(_describe(ro))


@rollout.command()
@click.argument("name")
@label_option
@reason_option
@registry_options
def resume(name: str, label_: str, reason: str, url: str | None, actor: str) -> None:
    """Unfreeze the rollout at its current stage (its canary window starts afresh).

    Example:

    \b
        promptlab rollout resume support-triage --reason "fixed upstream"
    """
    with open_registry(url) as reg:
        ro = reg.resume_rollout(name, label=label_, actor=actor, reason=reason)
    click.echo(_describe(ro))


@rollout.command()
@click.argument("name")
@label_option
@reason_option
@registry_options
def abort(name: str, label_: str, reason: str, url: str | None, actor: str) -> None:
    """Abort the rollout; the baseline serves everyone.

    Example:

    \b
        promptlab rollout abort support-triage --reason "wrong candidate"
    """
    with open_registry(url) as reg:
        ro = reg.abort_rollout(name, label=label_, actor=actor, reason=reason)
    click.echo(_describe(ro))


@click.command()
@click.argument("name")
@click.option("--to", "to", default=None, help="Version to go back to (default: the previous one).")
@label_option
@reason_option
@notify_option
@lock_timeout_option
@registry_options
def rollback(
    name: str,
    to: str | None,
    label_: str,
    reason: str,
    notify: tuple[str, ...],
    lock_timeout: float | None,
    url: str | None,
    actor: str,
) -> None:
    """Switch back at once: abort a live rollout, or move the label to the previous version.

    Exits 0 when applied, 2 when refused, 1 when the store is unreachable or broken, 75 when another writer held
    the write lock past --lock-timeout (nothing applied).

    Example:

    \b
        promptlab rollback support-triage --reason "escalations up"
    """
    with open_registry(url, lock_timeout=lock_timeout) as reg:
        entry = reg.rollback(name, to=to, label=label_, actor=actor, reason=reason, notify=notify)
    click.echo(audit_line(entry))


@click.group()
def canary() -> None:
    """Canary analysis of live rollouts, and outcome events to feed it."""


@canary.command()
@click.argument("name")
@label_option
@click.option("--dry-run", is_flag=True, help="Analyse only: neither freeze nor advance.")
@json_option
@registry_options
def check(name: str, label_: str, dry_run: bool, as_json: bool, url: str | None, actor: str) -> None:
    """Analyse the current stage: freeze on a breach (exit 1), advance when healthy and ready (exit 0), hold
    when inconclusive (exit 3); exit 5 when the store could not be read or written (nothing decided).

    Example:

    \b
        promptlab canary check support-triage          # cron: 0 healthy, 1 breach, 3 inconclusive
    """
    try:
        with open_registry(url) as reg:
            for attempt in range(1, RACE_ATTEMPTS + 1):
                try:
                    result = reg.check_canary(name, label=label_, actor=actor, apply=not dry_run)
                    break
                except ConcurrentChangeError:
                    # Another checker or an operator moved the rollout: decide again on the new state.
                    if attempt == RACE_ATTEMPTS:
                        raise
    except (RegistryUnavailableError, ConcurrentChangeError) as exc:
        _could_not_measure(str(exc))
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        orig = getattr(exc, "orig", None) or exc
        _could_not_measure(f"registry store is unreadable: {str(orig).strip().splitlines()[0] if str(orig) else exc}")
    _echo_check(result, as_json)
    sys.exit(result.exit_code)


RACE_ATTEMPTS = 3
COULD_NOT_MEASURE = 5


def _could_not_measure(reason: str) -> NoReturn:
    click.echo(f"error: could not measure (exit {COULD_NOT_MEASURE}, nothing decided): {reason}", err=True)
    sys.exit(COULD_NOT_MEASURE)


@canary.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--url", envvar="PROMPTLAB_REGISTRY_URL", default=None, help="Registry store URL.")
def record(files: tuple[str, ...], url: str | None) -> None:
    """Record outcome events from JSONL files (served requests and late outcomes).

    An invalid line is rejected with one line naming it and its field; the valid lines are still recorded, and the
    command exits 2 when any line was rejected.

    Example:

    \b
        promptlab canary record events.jsonl
    """
    batches = []
    rejected_total = 0
    for f in files:
        rejected: list[str] = []
        batches.append((f, load_outcome_events(f, rejected=rejected), rejected))
        for line in rejected[:MAX_REJECTS_SHOWN]:
            click.echo(f"rejected: {line}", err=True)
        if len(rejected) > MAX_REJECTS_SHOWN:
            click.echo(f"rejected: ... and {len(rejected) - MAX_REJECTS_SHOWN} more lines of {f}", err=True)
        rejected_total += len(rejected)
    with open_registry(url) as reg:
        for f, events, rejected in batches:
            new = reg.record_outcomes(events)
            note = f", {len(rejected)} lines rejected" if rejected else ""
            click.echo(f"{f}: {len(events)} events, {new} new requests{note}")
    if rejected_total:
        sys.exit(2)


MAX_REJECTS_SHOWN = 20
