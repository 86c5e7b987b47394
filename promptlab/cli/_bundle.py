"""`promptlab keys generate|id` and `promptlab bundle export|sign|verify|show`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from promptlab.bundles import (
    BundleLimits,
    export_bundle,
    generate_keys,
    inspect_bundle,
    key_id,
    load_private_key,
    load_public_key,
    sign_bundle,
    verify_bundle,
)
from promptlab.cli._common import echo_json, json_option
from promptlab.errors import InputError, VerificationError


def _passphrase(env_var: str | None, from_stdin: bool) -> str | None:
    if env_var and from_stdin:
        raise click.UsageError("give either --passphrase-env or --passphrase-stdin, not both")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise InputError(f"--passphrase-env: environment variable {env_var} is not set or empty")
        return value
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InputError("--passphrase-stdin: no passphrase on standard input")
        return line
    return None


def _passphrase_options(func: Any) -> Any:
    func = click.option(
        "--passphrase-stdin", is_flag=True, help="Read the passphrase from the first line of standard input."
    )(func)
    return click.option("--passphrase-env", metavar="VAR", help="Read the passphrase from this environment variable.")(
        func
    )


@click.group()
def keys() -> None:
    """Create and inspect Ed25519 signing keys."""


@keys.command()
@click.option("--out", "prefix", metavar="PREFIX", help="Write PREFIX.key and PREFIX.pub (default: NAME or 'signing').")
@click.option("--name", help="Signer name recorded in the public key file.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@_passphrase_options
def generate(
    prefix: str | None, name: str | None, force: bool, passphrase_env: str | None, passphrase_stdin: bool
) -> None:
    """Generate a key pair; the private key is encrypted when a passphrase is given.

    Example:

    \b
        promptlab keys generate --out release
    """
    passphrase = _passphrase(passphrase_env, passphrase_stdin)
    pair = generate_keys(prefix or name or "signing", passphrase=passphrase, name=name, overwrite=force)
    click.echo(pair.key_id)
    state = "encrypted" if pair.encrypted else "NOT encrypted: no passphrase given"
    click.echo(f"private key: {pair.private_path} (mode 0600, {state})", err=True)
    click.echo(f"public key:  {pair.public_path}", err=True)


@keys.command("id")
@click.argument("file", type=click.Path(dir_okay=False))
@_passphrase_options
def key_id_(file: str, passphrase_env: str | None, passphrase_stdin: bool) -> None:
    """Print the key id of a public (.pub) or private (.key) key file.

    Example:

    \b
        promptlab keys id release.pub
    """
    text = Path(file).read_bytes() if Path(file).is_file() else b""
    if b"PRIVATE KEY-----" in text:
        private = load_private_key(file, passphrase=_passphrase(passphrase_env, passphrase_stdin))
        click.echo(key_id(private))
    else:
        click.echo(load_public_key(file).key_id)


@click.group()
def bundle() -> None:
    """Export, co-sign, verify and inspect signed evaluation bundles."""


@bundle.command()
@click.argument("compare_dir", type=click.Path(file_okay=False))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Private key (.key).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Bundle file to write.")
@_passphrase_options
def export(compare_dir: str, key_path: str, out: str, passphrase_env: str | None, passphrase_stdin: bool) -> None:
    """Pack a comparison directory, its runs and decision into a signed bundle.

    Example:

    \b
        promptlab bundle export out/cmp --key release.key -o v2-evidence.tar.gz
    """
    key = load_private_key(key_path, passphrase=_passphrase(passphrase_env, passphrase_stdin))
    result = export_bundle(compare_dir, out, key=key)
    click.echo(f"wrote {result.path}: {len(result.files)} files, decision {result.decision}, signed by {result.key_id}")


@bundle.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Private key (.key).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write the co-signed bundle here (default: FILE).")
@click.option(
    "--trusted-key",
    "trusted",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Verify the bundle against this public key before co-signing; repeat for several.",
)
@_passphrase_options
def sign(
    file: str,
    key_path: str,
    out: str | None,
    trusted: tuple[str, ...],
    passphrase_env: str | None,
    passphrase_stdin: bool,
) -> None:
    """Add a signature (e.g. a reviewer's) to a bundle without changing what it says.

    Example:

    \b
        promptlab bundle sign v2-evidence.tar.gz --key second.key --trusted-key release.pub
    """
    key = load_private_key(key_path, passphrase=_passphrase(passphrase_env, passphrase_stdin))
    result = sign_bundle(file, key=key, out=out, trusted_keys=list(trusted) or None)
    if result.added:
        click.echo(f"signed {result.path} with {result.key_id} ({result.signatures} signatures)")
    else:
        click.echo(f"{result.path} is already signed by {result.key_id}; unchanged")


def _limits(max_members: int | None, max_member_bytes: int | None, max_total_bytes: int | None) -> BundleLimits:
    defaults = BundleLimits()
    return BundleLimits(
        max_members=max_members or defaults.max_members,
        max_member_bytes=max_member_bytes or defaults.max_member_bytes,
        max_total_bytes=max_total_bytes or defaults.max_total_bytes,
    )


def _limit_options(func: Any) -> Any:
    for flag, text in (
        ("--max-total-bytes", "Largest total size of all members."),
        ("--max-member-bytes", "Largest size of one member."),
        ("--max-members", "Most members."),
    ):
        func = click.option(flag, type=click.IntRange(min=1), help=text)(func)
    return func


@bundle.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--trusted-key",
    "trusted",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="Public key (.pub) to trust; repeat for several.",
)
@click.option("--require-all", is_flag=True, help="Require a signature from every trusted key.")
@_limit_options
@json_option
def verify(
    file: str,
    trusted: tuple[str, ...],
    require_all: bool,
    max_members: int | None,
    max_member_bytes: int | None,
    max_total_bytes: int | None,
    as_json: bool,
) -> None:
    """Verify a bundle against trusted keys: exit 0 if valid, 1 with the reason if not.

    Example:

    \b
        promptlab bundle verify v2-evidence.tar.gz --trusted-key release.pub
    """
    limits = _limits(max_members, max_member_bytes, max_total_bytes)
    try:
        result = verify_bundle(file, trusted_keys=list(trusted), require_all=require_all, limits=limits)
    except VerificationError as exc:
        raise VerificationError(f"invalid bundle {exc}") from None
    if as_json:
        echo_json(
            {
                "valid": True,
                "signers": result.signers,
                "decision": result.decision,
                "approved": result.approved,
                "candidate": result.candidate,
                "baseline": result.baseline,
                "files": result.files,
                "statement_sha256": result.statement_sha256,
            }
        )
        return
    c = result.candidate
    click.echo(f"{file}: valid ({len(result.files)} files verified)")
    for kid in result.signers:
        name = result.signer_names.get(kid)
        click.echo(f"signed by: {kid}" + (f" ({name})" if name else ""))
    click.echo(f"candidate: {c['name']}@{c['version']} {c['hash']}")
    click.echo(f"decision: {result.decision} ({'approved for release' if result.approved else 'not approved'})")


@bundle.command()
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def show(file: str, as_json: bool) -> None:
    """Print a bundle's contents and what it claims, without checking signatures.

    Example:

    \b
        promptlab bundle show v2-evidence.tar.gz
    """
    try:
        contents = inspect_bundle(file)
    except VerificationError as exc:
        raise InputError(str(exc)) from None
    p = contents.predicate
    if as_json:
        echo_json(
            {
                "verified": False,
                "members": contents.members,
                "payload_type": contents.payload_type,
                "claimed_keyids": contents.claimed_keyids,
                "predicate": p.model_dump(mode="json"),
                "mismatched": contents.mismatched,
                "unlisted": contents.unlisted,
            }
        )
        return
    click.echo(f"{file}: UNVERIFIED (no signature checked; use `promptlab bundle verify --trusted-key`)")
    click.echo(f"signatures claim key ids: {', '.join(k or '(none)' for k in contents.claimed_keyids)}")
    for side, run in (("baseline", p.baseline), ("candidate", p.candidate)):
        a = run.artifact
        click.echo(f"{side}: {a.name}@{a.version} {a.hash} (run {run.run_id})")
    click.echo(f"dataset: {p.dataset_hash}")
    click.echo(f"decision: {p.decision}")
    if p.gate is not None:
        for rule in p.gate.rules:
            click.echo(f"  rule {rule.rule}: {rule.status}")
        for approval in p.gate.approvals:
            click.echo(f"  approved by {approval.approver} ({', '.join(approval.accepts)}): {approval.reason}")
    for review in p.reviews:
        stale = "" if review.current else " (of another comparison)"
        click.echo(f"review: {review.layer} by {review.reviewer}: {review.decision}{stale}")
    for key, value in p.summary.items():
        if isinstance(value, float):
            click.echo(f"summary.{key}: {value:.4g}")
        elif not isinstance(value, (dict, list)):
            click.echo(f"summary.{key}: {value}")
    click.echo("files:")
    for name, size in contents.members.items():
        flag = ""
        if name in contents.mismatched:
            flag = "  DIGEST MISMATCH"
        elif name in contents.unlisted:
            flag = "  NOT IN STATEMENT"
        click.echo(f"  {size:>10}  {name}{flag}")
    for name in contents.mismatched:
        if name not in contents.members:
            click.echo(f"  {'':>10}  {name}  MISSING")
