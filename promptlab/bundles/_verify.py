"""Verifying a bundle against the verifier's own trusted keys, and inspecting one without keys.

Order of checks: the archive's structure (safe names, regular files, limits) while streaming it into memory; the
envelope's signatures over the exact PAE bytes against the trusted keys only; the payload type; the statement;
every file's sha256 against its subject; that the files present are exactly the subjects; and finally that the
predicate agrees, field by field, with the signed files it describes (comparison.json and the run digests it
recorded, the run manifests, gate.json, the review sign-offs, environment.json). A trusted key vouches for who
signed, not for the statement being right: a statement swapping baseline and candidate is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from promptlab._util.canonical import canonical_json, content_hash
from promptlab.bundles._archive import BundleLimits, read_archive
from promptlab.bundles._dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from promptlab.bundles._keys import PublicKey, load_public_key
from promptlab.bundles._statement import (
    APPROVED_DECISIONS,
    RUN_FILES,
    SUMMARY_FIELDS,
    BundlePredicate,
    RunInfo,
    gate_info,
    parse_statement,
)
from promptlab.comparison import comparison_identity
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


def _mismatch(field: str, against: str) -> VerificationError:
    return VerificationError(
        f"predicate {field} does not match {against} (the signed statement describes other evidence)"
    )


def _same(a: Any, b: Any) -> bool:
    return bool(canonical_json(a) == canonical_json(b))


def _check_consistency(members: dict[str, bytes], predicate: BundlePredicate) -> None:
    """Check that the predicate describes the signed files it sits next to, field by field.

    A trusted key may sign a statement that is wrong (a bug, a mistake, a swapped baseline and candidate); what
    consumers act on must agree with comparison.json (whose hash the predicate carries), the run manifests, the
    member digests that comparison.json recorded, gate.json, the review sign-offs and environment.json.
    """
    comparison = _json(members, "comparison.json")
    # The comparison's content identity; bundles signed before identities left out run ids and paths carry the
    # plain content hash, which is accepted as well.
    if not isinstance(comparison, dict) or predicate.comparison_hash not in (
        comparison_identity(comparison),
        content_hash(comparison),
    ):
        raise VerificationError("predicate comparison_hash does not match comparison.json")
    for side, run in (("baseline", predicate.baseline), ("candidate", predicate.candidate)):
        name = f"{run.folder}/run.json"
        manifest = _json(members, name)
        recorded = manifest.get("artifact") if isinstance(manifest, dict) else None
        if not isinstance(manifest, dict) or not isinstance(recorded, dict):
            raise VerificationError(f"predicate {side}.folder: {name} is missing or not a run manifest")
        if manifest.get("run_id") != run.run_id or any(recorded.get(k) != v for k, v in _run_ref(run).items()):
            raise VerificationError(f"predicate {side} does not describe {name} (run id or artifact differ)")
        if run.folder != f"runs/{side}":
            raise _mismatch(f"{side}.folder", f"the bundle layout (expected 'runs/{side}', got {run.folder!r})")
        for key in ("dataset_hash", "case_count", "repeats", "evaluators_hash", "status", "git_commit"):
            if manifest.get(key) != getattr(run, key):
                raise _mismatch(f"{side}.{key}", name)
        if not _same(manifest.get("provider"), run.provider):
            raise _mismatch(f"{side}.provider", name)
        described = comparison.get(side)
        if not isinstance(described, dict):
            raise _mismatch(side, f"comparison.json {side}")
        if described.get("run_hash") != run.run_hash:
            raise _mismatch(f"{side}.run_hash", f"comparison.json {side}.run_hash")
        if "run_id" in described and described.get("run_id") != run.run_id:
            raise _mismatch(f"{side}.run_id", f"comparison.json {side}.run_id")
        artifact = described.get("artifact")
        if isinstance(artifact, dict) and any(artifact.get(k) != v for k, v in _run_ref(run).items()):
            raise _mismatch(f"{side}.artifact", f"comparison.json {side}.artifact")
        digests = described.get("files")
        if not isinstance(digests, dict) or content_hash(digests) != run.run_hash:
            raise _mismatch(f"{side}.run_hash", f"comparison.json {side}.files")
        for file in RUN_FILES:
            data = members.get(f"{run.folder}/{file}")
            if data is None or digests.get(file) != "sha256:" + hashlib.sha256(data).hexdigest():
                raise VerificationError(
                    f"{run.folder}/{file} does not match comparison.json {side}.files.{file} "
                    "(the runs are not the ones compared)"
                )
    if predicate.dataset_hash != (comparison.get("dataset_hash") or predicate.candidate.dataset_hash):
        raise _mismatch("dataset_hash", "comparison.json dataset_hash")
    if not _same(predicate.evaluators, comparison.get("evaluators")):
        raise _mismatch("evaluators", "comparison.json evaluators")
    summary = comparison.get("summary")
    if not isinstance(summary, dict) or not _same(
        predicate.summary, {k: summary[k] for k in SUMMARY_FIELDS if k in summary}
    ):
        raise _mismatch("summary", "comparison.json summary")
    _check_gate(members, predicate)
    _check_reviews(members, predicate)
    if "environment.json" in members and not _same(_json(members, "environment.json"), predicate.environment):
        raise _mismatch("environment", "environment.json")


def _check_gate(members: dict[str, bytes], predicate: BundlePredicate) -> None:
    if "gate.json" not in members:
        if predicate.decision != "ungated" or predicate.gate is not None:
            raise VerificationError(f"predicate decision is {predicate.decision!r} but the bundle holds no gate.json")
        return
    gate = _json(members, "gate.json")
    if not isinstance(gate, dict) or predicate.gate is None or gate.get("decision") != predicate.decision:
        raise VerificationError("predicate decision does not match gate.json")
    try:
        recorded = gate_info(gate)
    except ValidationError:
        raise VerificationError("gate.json is not a gate decision") from None
    mine, theirs = recorded.model_dump(mode="json"), predicate.gate.model_dump(mode="json")
    for key in ("decision", "policy_hash", "comparison_hash", "rules", "approvals"):
        if not _same(mine[key], theirs[key]):
            raise _mismatch(f"gate.{key}", f"gate.json {key}")
    if recorded.comparison_hash != predicate.comparison_hash:
        raise VerificationError("gate.json judged another comparison than comparison.json")


def _check_reviews(members: dict[str, bytes], predicate: BundlePredicate) -> None:
    listed = {r.file for r in predicate.reviews}
    present = {n for n in members if n.startswith("reviews/")}
    if listed != present:
        name = sorted(listed ^ present)[0]
        raise _mismatch("reviews", f"the review files in the bundle ({name!r})")
    for i, review in enumerate(predicate.reviews):
        data = _json(members, review.file)
        if not isinstance(data, dict):
            raise VerificationError(f"{review.file} is not a review sign-off")
        signed_at = data.get("signed_at")
        try:
            same_time = isinstance(signed_at, str) and datetime.fromisoformat(signed_at) == datetime.fromisoformat(
                review.signed_at
            )
        except ValueError:
            same_time = False
        expected = {
            "layer": data.get("layer"),
            "reviewer": data.get("reviewer"),
            "decision": data.get("decision"),
            "comparison_hash": data.get("comparison_hash"),
        }
        for key, value in expected.items():
            if getattr(review, key) != value:
                raise _mismatch(f"reviews[{i}].{key}", review.file)
        if not same_time:
            raise _mismatch(f"reviews[{i}].signed_at", review.file)
        if review.current != (review.comparison_hash == predicate.comparison_hash):
            raise _mismatch(f"reviews[{i}].current", "the predicate's comparison_hash")


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
