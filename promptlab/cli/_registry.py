"""`promptlab registry publish|label|resolve|history`.

Exit codes: 0 done; 2 bad input or refused (unknown prompt, missing evidence ...); 1 the store is unreachable,
missing, corrupt or behind what was already served (nothing changed); 75 another writer held the store's write
lock past `--lock-timeout` (nothing changed; retry).
"""

from __future__ import annotations

import getpass
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import click

from promptlab.artifacts import PromptArtifact
from promptlab.cli._common import echo_json, json_option, notify_option
from promptlab.registry import AuditEntry, ForcedPromotionWarning, Registry, RequestContext

F = TypeVar("F", bound=Callable[..., Any])


def _default_actor() -> str:
    try:
        return os.environ.get("PROMPTLAB_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def registry_options(f: F) -> F:
    """`--url` and `--actor`, shared by every registry, rollout and canary command."""
    f = click.option(
        "--actor",
        default=_default_actor,
        show_default="$PROMPTLAB_ACTOR or the login name",
        help="Who makes the change (recorded in the audit log).",
    )(f)
    return click.option(
        "--url",
        envvar="PROMPTLAB_REGISTRY_URL",
        default=None,
        help="Registry store: sqlite:///path/registry.db or postgresql://user@host:port/db "
        "[env: PROMPTLAB_REGISTRY_URL; default: sqlite:///.promptlab/registry.db].",
    )(f)


def evidence_options(f: F) -> F:
    """`--bundle`, `--trusted-key` and `--force` for commands that promote a version."""
    f = click.option("--force", is_flag=True, help="Go ahead without verified evidence (audited as forced).")(f)
    f = click.option(
        "--trusted-key",
        "trusted_keys",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Public key the bundle must verify with (repeatable).",
    )(f)
    return click.option(
        "--bundle", type=click.Path(dir_okay=False), help="Signed evaluation bundle for the version being promoted."
    )(f)


label_option = click.option("--label", "label_", default="production", show_default=True, help="Label (environment).")
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    envvar="PROMPTLAB_REGISTRY_LOCK_TIMEOUT",
    default=None,
    help="Seconds to wait for another writer's lock before giving up with exit 75 [env: "
    "PROMPTLAB_REGISTRY_LOCK_TIMEOUT; default: 5].",
)
reason_option = click.option("--reason", required=True, help="Why (recorded in the audit log).")


def open_registry(url: str | None, *, lock_timeout: float | None = None) -> Registry:
    """A registry for a one-shot command (no background thread)."""
    return Registry(url, watch=False, lock_timeout=lock_timeout)


def forced(call: Callable[[], Any]) -> Any:
    """Run a promotion; if it was forced, say so loudly on stderr instead of as a Python warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ForcedPromotionWarning)
        result = call()
    for w in caught:
        if issubclass(w.category, ForcedPromotionWarning):
            click.secho(f"WARNING: {w.message}", fg="red", bold=True, err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def audit_line(e: AuditEntry) -> str:
    """One line per audit entry."""
    where = f"{e.label} " if e.label else ""
    version = f"-> {e.version} " if e.version else ""
    prev = f"(was {e.previous['version']}) " if e.previous and e.previous.get("version") else ""
    flags = "FORCED " if e.forced else ""
    digest = f" [evidence {e.bundle_digest[:19]}]" if e.bundle_digest else ""
    return (
        f"#{e.seq} {e.at.strftime('%Y-%m-%d %H:%M:%S')}Z {e.actor}: {flags}{e.action} {where}{version}{prev}"
        f"- {e.reason}{digest}"
    )


@click.group()
def registry() -> None:
    """Publish versions, move labels, resolve what a request gets, read the audit log."""


@registry.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--reason", default="", help="Why (recorded in the audit log).")
@lock_timeout_option
@registry_options
def publish(files: tuple[str, ...], reason: str, lock_timeout: float | None, url: str | None, actor: str) -> None:
    """Publish artifact files (immutable: the same version with other content is refused); the first publish
    creates the store.

    Example:

    \b
        promptlab registry publish examples/support-triage/v1.yaml examples/support-triage/v2.yaml
    """
    artifacts = [PromptArtifact.from_file(f) for f in files]  # validate every file before publishing any
    with open_registry(url, lock_timeout=lock_timeout) as reg:
        for a in artifacts:
            r = reg.publish(a, actor=actor, reason=reason)
            state = f"published (#{r.seq})" if r.created else "unchanged (already published)"
            click.echo(f"{r.ref}: {state} {r.content_hash}")


@registry.command("label")
@click.argument("name")
@click.argument("version")
@label_option
@reason_option
@evidence_options
@notify_option
@lock_timeout_option
@registry_options
def label_(
    name: str,
    version: str,
    label_: str,
    reason: str,
    bundle: str | None,
    trusted_keys: tuple[str, ...],
    force: bool,
    notify: tuple[str, ...],
    lock_timeout: float | None,
    url: str | None,
    actor: str,
) -> None:
    """Point a label at a version; protected labels (production) need a verified evidence bundle.

    Example:

    \b
        promptlab registry label support-triage v1 --reason baseline --bundle v1-evidence.tar.gz \\
            --trusted-key release.pub
    """
    with open_registry(url, lock_timeout=lock_timeout) as reg:
        entry = forced(
            lambda: reg.label(
                name,
                version,
                label=label_,
                actor=actor,
                reason=reason,
                bundle=bundle,
                trusted_keys=trusted_keys,
                force=force,
                notify=notify,
            )
        )
    click.echo(audit_line(entry) if entry else f"{name}: '{label_}' already serves {version}")


@registry.command()
@click.argument("name")
@label_option
@click.option("--user", help="User id.")
@click.option("--tenant", help="Tenant id.")
@click.option("--conversation", help="Conversation id.")
@click.option("--intent", help="Intent.")
@click.option("--geo", help="Geography.")
@click.option("--internal", is_flag=True, help="The user is internal.")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="Another segment dimension (repeatable).")
@json_option
@click.option("--url", envvar="PROMPTLAB_REGISTRY_URL", default=None, help="Registry store URL.")
def resolve(
    name: str,
    label_: str,
    user: str | None,
    tenant: str | None,
    conversation: str | None,
    intent: str | None,
    geo: str | None,
    internal: bool,
    attrs: tuple[str, ...],
    as_json: bool,
    url: str | None,
) -> None:
    """Show which version a request with this context gets, and why.

    Example:

    \b
        promptlab registry resolve support-triage --user u-42 --intent refund --geo DE
    """
    attributes: dict[str, str] = {}
    for a in attrs:
        key, sep, value = a.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {a!r}", param_hint="--attr")
        attributes[key] = value
    ctx = RequestContext(
        user_id=user,
        tenant_id=tenant,
        conversation_id=conversation,
        intent=intent,
        geo=geo,
        internal=internal,
        attributes=attributes,
    )
    with open_registry(url) as reg:
        res = reg.resolve(name, ctx, label=label_)
    data = {
        "name": res.name,
        "label": res.label,
        "version": res.version,
        "content_hash": res.artifact.content_hash,
        "cohort": res.cohort,
        "rollout_id": res.rollout_id,
        "stale": res.stale,
        "reason": res.reason,
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(f"{res.name}@{res.version}  ({res.reason})")


@registry.command()
@click.argument("name")
@click.option("--label", "label_", default=None, help="Only this label.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the most recent N entries.")
@json_option
@click.option("--url", envvar="PROMPTLAB_REGISTRY_URL", default=None, help="Registry store URL.")
def history(name: str, label_: str | None, limit: int | None, as_json: bool, url: str | None) -> None:
    """The audit log of a prompt, oldest first.

    Example:

    \b
        promptlab registry history support-triage --label production
    """
    with open_registry(url) as reg:
        entries = reg.history(name, label=label_, limit=limit)
    if as_json:
        echo_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo(f"{name}: no history")
    for e in entries:
        click.echo(audit_line(e))
