"""Verifying a bundle against the verifier's own trusted keys, and inspecting one without keys.

Order of checks: the archive's structure (safe names, regular files, limits) while reading it into memory; the
envelope's signatures over the exact PAE bytes against the trusted keys only; the payload type; the statement;
every file's sha256 against its subject; and finally that the files present are exactly the subjects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from promptlab._util.canonical import content_hash
from promptlab.bundles._archive import BundleLimits, read_archive
from promptlab.bundles._dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from promptlab.bundles._keys import PublicKey, load_public_key
from promptlab.bundles._statement import APPROVED_DECISIONS, BundlePredicate, RunInfo, parse_statement
from promptlab.errors import InputError, VerificationError

__all__ = [
    "BundleContents",
    "ENVELOPE_NAME",
    "VerifiedBundle",
    "inspect_bundle",
    "verify_bundle",
]

ENVELOPE_NAME = "bundle.dsse.json"


@dataclass(kw_only=True, frozen=True)
class VerifiedBundle:
    """A bundle whose signatures and files verified; its files are held in memory."""

    path: Path
    statement: dict[str, Any]
    """The signed in-toto statement."""
    predicate: dict[str, Any]
    """The statement's predicate (`https://promptlab.dev/evaluation-bundle/v1`)."""
    signers: list[str]
    """Ids of the trusted keys whose signatures verified."""
    signer_names: dict[str, str]
    """Key id -> name, for trusted keys whose file names them."""
    files: dict[str, str]
    """File name -> sha256 hex, exactly the statement's subjects."""
    decision: str
    """pass, block, needs_approval, approved or ungated."""
    approved: bool
    """True when the gate passed, or needed approval and every trade-off was approved."""
    candidate: dict[str, str]
    """The candidate artifact: name, version, hash."""
    baseline: dict[str, str]
    """The baseline artifact: name, version, hash."""
    statement_sha256: str
    """sha256 of the signed payload: identifies the evidence independently of who co-signed."""
    _contents: dict[str, bytes] = field(repr=False, compare=False)

    def read(self, name: str) -> bytes:
        """Return a verified file's bytes."""
        try:
            return self._contents[name]
        except KeyError:
            raise InputError(f"{self.path}: {name}: no such file in the bundle") from None


@dataclass(kw_only=True, frozen=True)
class BundleContents:
    """What a bundle claims, read without checking any signature."""

    path: Path
    members: dict[str, int]
    """Member name -> size in bytes (the envelope included)."""
    payload_type: str
    claimed_keyids: list[str]
    """Key ids the signatures claim: unauthenticated hints."""
    statement: dict[str, Any]
    predicate: BundlePredicate
    files: dict[str, str]
    mismatched: list[str]
    """Subjects whose bytes do not match their digest, or are missing."""
    unlisted: list[str]
    """Members that are not subjects."""


@contextmanager
def about(path: str | Path) -> Iterator[None]:
    """Prefix the reason of any `VerificationError` raised inside with the bundle's path."""
    try:
        yield
    except VerificationError as exc:
        raise VerificationError(f"{path}: {exc}") from None


def unpack(path: str | Path, limits: BundleLimits | None) -> tuple[dict[str, bytes], Envelope, int]:
    """Read a bundle's members into memory and parse its envelope (nothing is trusted yet)."""
    members = read_archive(path, limits=limits)
    raw = members.pop(ENVELOPE_NAME, None)
    if raw is None:
        raise VerificationError(f"no {ENVELOPE_NAME}: not a signed bundle")
    return members, Envelope.from_json(raw, source=ENVELOPE_NAME), len(raw)


def check_files(members: dict[str, bytes], files: dict[str, str]) -> None:
    """Check that the members are exactly the subjects, each with its signed digest."""
    for name, expected in files.items():
        data = members.get(name)
        if data is None:
            raise VerificationError(f"file {name!r} is listed in the signed statement but missing from the bundle")
        if hashlib.sha256(data).hexdigest() != expected:
            raise VerificationError(f"file {name!r} does not match its signed sha256 digest (modified after signing)")
    extra = sorted(set(members) - set(files))
    if extra:
        raise VerificationError(f"file {extra[0]!r} is in the bundle but not in the signed statement")


def _run_ref(run: RunInfo) -> dict[str, str]:
    return {"name": run.artifact.name, "version": run.artifact.version, "hash": run.artifact.hash}


def _json(members: dict[str, bytes], name: str) -> Any:
    try:
        return orjson.loads(members[name])
    except (KeyError, orjson.JSONDecodeError):
        return None


def _check_consistency(members: dict[str, bytes], predicate: BundlePredicate) -> None:
    # Consumers act on the predicate; make sure it describes the signed files it sits next to.
    for side, run in (("baseline", predicate.baseline), ("candidate", predicate.candidate)):
        name = f"{run.folder}/run.json"
        manifest = _json(members, name)
        recorded = manifest.get("artifact") if isinstance(manifest, dict) else None
        if not isinstance(recorded, dict):
            raise VerificationError(f"predicate {side}.folder: {name} is missing or not a run manifest")
        if manifest.get("run_id") != run.run_id or any(recorded.get(k) != v for k, v in _run_ref(run).items()):
            raise VerificationError(f"predicate {side} does not describe {name} (run id or artifact differ)")
    comparison = _json(members, "comparison.json")
    if comparison is None or content_hash(comparison) != predicate.comparison_hash:
        raise VerificationError("predicate comparison_hash does not match comparison.json")
    gate = _json(members, "gate.json")
    if "gate.json" in members:
        if not isinstance(gate, dict) or predicate.gate is None or gate.get("decision") != predicate.decision:
            raise VerificationError("predicate decision does not match gate.json")
    elif predicate.decision != "ungated" or predicate.gate is not None:
        raise VerificationError(f"predicate decision is {predicate.decision!r} but the bundle holds no gate.json")


def verify_bundle(
    path: str | Path,
    *,
    trusted_keys: Sequence[str | Path | Ed25519PublicKey | PublicKey],
    require_all: bool = False,
    limits: BundleLimits | None = None,
) -> VerifiedBundle:
    """Verify a bundle against the verifier's trusted public keys.

    Args:
        path: The bundle file.
        trusted_keys: Public keys (PEM paths, PEM text or key objects); keys inside the bundle are never trusted.
        require_all: Require a valid signature from every trusted key, not just one.
        limits: Member count and size limits for reading the archive.

    Raises:
        VerificationError: the bundle is not valid; the message gives the reason in one line.
        InputError: a trusted key or the bundle file cannot be read.
    """
    if isinstance(trusted_keys, (str, Path, Ed25519PublicKey)):
        trusted_keys = [trusted_keys]
    keys = [load_public_key(k) for k in trusted_keys]
    if not keys:
        raise InputError("no trusted keys given; pass at least one public key to verify against")
    with about(path):
        return _check(path, keys, require_all=require_all, limits=limits)


def _check(
    path: str | Path, keys: list[PublicKey], *, require_all: bool, limits: BundleLimits | None
) -> VerifiedBundle:
    members, envelope, _ = unpack(path, limits)
    message = envelope.pae()
    accepted: dict[str, PublicKey] = {}
    for signature in envelope.signatures:
        for key in keys:
            if key.key_id not in accepted and signature.verifies(key.key, message):
                accepted[key.key_id] = key
    if not accepted:
        claimed = ", ".join(s.keyid or "(none)" for s in envelope.signatures)
        trusted = ", ".join(k.key_id for k in keys)
        raise VerificationError(
            f"no signature verifies with a trusted key (signatures claim key ids {claimed}; trusted: {trusted})"
        )
    if require_all:
        missing = [k.key_id for k in keys if k.key_id not in accepted]
        if missing:
            raise VerificationError(f"not signed by every trusted key: no valid signature from {', '.join(missing)}")
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationError(
            f"unsupported payloadType {envelope.payload_type!r} (expected {IN_TOTO_PAYLOAD_TYPE!r})"
        )
    statement, files, predicate = parse_statement(envelope.payload)
    if ENVELOPE_NAME in files:
        raise VerificationError(f"statement lists {ENVELOPE_NAME} as a subject; it cannot cover its own signature")
    check_files(members, files)
    _check_consistency(members, predicate)
    return VerifiedBundle(
        path=Path(path),
        statement=statement,
        predicate=statement["predicate"],
        signers=list(accepted),
        signer_names={kid: k.name for kid, k in accepted.items() if k.name},
        files=files,
        decision=predicate.decision,
        approved=predicate.decision in APPROVED_DECISIONS,
        candidate=_run_ref(predicate.candidate),
        baseline=_run_ref(predicate.baseline),
        statement_sha256=hashlib.sha256(envelope.payload).hexdigest(),
        _contents=members,
    )


def inspect_bundle(path: str | Path, *, limits: BundleLimits | None = None) -> BundleContents:
    """Read what a bundle claims without trusting it: no signature is checked."""
    with about(path):
        members, envelope, envelope_size = unpack(path, limits)
        statement, files, predicate = parse_statement(envelope.payload)
    mismatched = [
        name for name, sha in files.items() if name not in members or hashlib.sha256(members[name]).hexdigest() != sha
    ]
    sizes = {name: len(data) for name, data in members.items()}
    sizes[ENVELOPE_NAME] = envelope_size
    return BundleContents(
        path=Path(path),
        members=dict(sorted(sizes.items())),
        payload_type=envelope.payload_type,
        claimed_keyids=[s.keyid for s in envelope.signatures],
        statement=statement,
        predicate=predicate,
        files=files,
        mismatched=mismatched,
        unlisted=sorted(set(members) - set(files)),
    )
