"""Exporting a comparison directory as a signed bundle, and co-signing an existing bundle.

Bundle layout (every file is an in-toto subject; `bundle.dsse.json` holds the signed statement)::

    runs/baseline/{run.json,artifact.json,cases.jsonl,results.jsonl}
    runs/candidate/{run.json,artifact.json,cases.jsonl,results.jsonl}
    comparison.json, tables/*.csv
    gate.json                 when the comparison was gated
    reviews/*.json            review sign-offs, when present
    report.html, summary.md   when present
    environment.json          python, platform, package versions, git commit at export
    bundle.dsse.json          DSSE envelope: in-toto Statement v1 + signatures
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from promptlab._util.canonical import content_hash, sha256_hex
from promptlab._util.environment import git_commit, package_versions
from promptlab._util.files import validate_data, validation_problems
from promptlab.bundles._archive import BundleLimits, write_archive
from promptlab.bundles._dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from promptlab.bundles._keys import PublicKey, key_id, load_private_key
from promptlab.bundles._statement import (
    OPTIONAL_FILES,
    RUN_FILES,
    SUMMARY_FIELDS,
    ArtifactInfo,
    BundlePredicate,
    Decision,
    GateInfo,
    ReviewInfo,
    RunInfo,
    build_statement,
    gate_info,
    parse_statement,
)
from promptlab.bundles._verify import ENVELOPE_NAME, about, check_files, unpack, verify_bundle
from promptlab.comparison import comparison_identity
from promptlab.errors import FileFormatError, InputError, VerificationError
from promptlab.review import load_signoffs, signoff_path
from promptlab.runner import RunManifest

__all__ = ["SignedBundle", "environment", "export_bundle", "sign_bundle"]


@dataclass(kw_only=True, frozen=True)
class SignedBundle:
    """A bundle just written or co-signed."""

    path: Path
    key_id: str
    """The key that signed in this step."""
    added: bool
    """False when that key had already signed the envelope."""
    signatures: int
    """Signatures now on the envelope."""
    files: dict[str, str]
    """Subject name -> sha256 hex."""
    decision: str
    """The decision the bundle records."""


def environment() -> dict[str, Any]:
    """Describe the exporting environment: python, platform, package versions and the git commit of the cwd."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(),
    }


def _private_key(key: Ed25519PrivateKey | str | Path, passphrase: str | bytes | None) -> Ed25519PrivateKey:
    return key if isinstance(key, Ed25519PrivateKey) else load_private_key(key, passphrase=passphrase)


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(path, f"malformed JSON ({exc})") from None


def _regular_files(folder: Path, pattern: str) -> list[Path]:
    found = []
    for path in sorted(folder.glob(pattern)):
        if path.is_symlink():
            raise InputError(f"{path}: is a symbolic link; bundles hold only regular files")
        if path.is_file() and not path.name.startswith("."):
            found.append(path)
    return found


def _comparison_side(comparison: dict[str, Any], side: str, source: Path) -> tuple[Path, str, dict[str, str]]:
    entry = comparison.get(side)
    if not isinstance(entry, dict):
        raise FileFormatError(source, "expected the run's description", field=side)
    run_dir, run_hash, files = entry.get("run_dir"), entry.get("run_hash"), entry.get("files")
    if not isinstance(run_dir, str) or not run_dir:
        raise FileFormatError(source, "expected the path of the run directory", field=f"{side}.run_dir")
    if not isinstance(run_hash, str):
        raise FileFormatError(source, "expected the run directory's hash", field=f"{side}.run_hash")
    if not isinstance(files, dict) or any(not isinstance(files.get(n), str) for n in RUN_FILES):
        raise FileFormatError(source, f"expected the sha256 of {', '.join(RUN_FILES)}", field=f"{side}.files")
    if content_hash(files) != run_hash:
        raise FileFormatError(source, "does not match the recorded file hashes", field=f"{side}.run_hash")
    return Path(run_dir), run_hash, files


def _read_run(side: str, run_dir: Path, recorded: dict[str, str], source: Path) -> tuple[RunManifest, dict[str, bytes]]:
    if not run_dir.is_dir():
        raise InputError(f"{source}: {side}.run_dir: {run_dir}: run directory not found")
    files: dict[str, bytes] = {}
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_symlink() or not path.is_file():
            raise InputError(f"{path}: missing from the {side} run directory (or not a regular file)")
        data = path.read_bytes()
        if "sha256:" + sha256_hex(data) != recorded[name]:
            raise InputError(
                f"{path}: changed since the comparison (its sha256 differs from {side}.files in {source}); "
                "re-run the comparison"
            )
        files[name] = data
    try:
        raw = orjson.loads(files["run.json"])
    except orjson.JSONDecodeError as exc:
        raise FileFormatError(run_dir / "run.json", f"malformed JSON ({exc})") from None
    return validate_data(run_dir / "run.json", RunManifest, raw), files


def _run_info(side: str, manifest: RunManifest, run_hash: str) -> RunInfo:
    a = manifest.artifact
    return RunInfo(
        run_id=manifest.run_id,
        artifact=ArtifactInfo(name=a.name, version=a.version, hash=a.hash),
        run_hash=run_hash,
        dataset_hash=manifest.dataset_hash,
        case_count=manifest.case_count,
        repeats=manifest.repeats,
        evaluators_hash=manifest.evaluators_hash,
        provider=manifest.provider,
        status=manifest.status,
        git_commit=manifest.git_commit,
        folder=f"runs/{side}",
    )


def _summary(comparison: dict[str, Any], source: Path) -> dict[str, Any]:
    summary = comparison.get("summary")
    if not isinstance(summary, dict):
        raise FileFormatError(source, "expected the comparison's summary", field="summary")
    return {k: summary[k] for k in SUMMARY_FIELDS if k in summary}


def _reviews(folder: Path, comparison_hash: str) -> tuple[dict[str, bytes], list[ReviewInfo]]:
    files: dict[str, bytes] = {}
    infos = []
    for signoff in load_signoffs(folder):
        path = signoff_path(folder, signoff.layer, signoff.reviewer)
        if path.is_symlink():
            raise InputError(f"{path}: is a symbolic link; bundles hold only regular files")
        name = path.relative_to(folder).as_posix()
        files[name] = path.read_bytes()
        infos.append(
            ReviewInfo(
                file=name,
                layer=signoff.layer,
                reviewer=signoff.reviewer,
                decision=signoff.decision,
                signed_at=signoff.signed_at.isoformat(),
                comparison_hash=signoff.comparison_hash,
                current=signoff.comparison_hash == comparison_hash,
            )
        )
    return files, infos


def _gate(compare_dir: Path, comparison_hash: str) -> tuple[Decision, bytes | None, GateInfo | None]:
    path = compare_dir / "gate.json"
    if path.is_symlink():
        raise InputError(f"{path}: is a symbolic link; bundles hold only regular files")
    if not path.is_file():
        return "ungated", None, None
    raw = path.read_bytes()
    data = _parse_json(path, raw)
    if not isinstance(data, dict):
        raise FileFormatError(path, "expected a JSON object")
    judged = data.get("comparison_hash")
    if judged != comparison_hash:
        # A gate decision about an earlier comparison must not travel as the verdict on this one.
        raise InputError(
            f"{path}: comparison_hash: the gate judged another comparison ({judged}, this one is {comparison_hash}); "
            "re-run `promptlab gate`"
        )
    try:
        info = gate_info(data)
    except ValidationError as exc:
        field, problem = validation_problems(exc)[0]
        raise FileFormatError(path, problem, field=field) from None
    return info.decision, raw, info


def export_bundle(
    compare_dir: str | Path,
    out: str | Path,
    *,
    key: Ed25519PrivateKey | str | Path,
    passphrase: str | bytes | None = None,
) -> SignedBundle:
    """Pack a comparison directory, both runs, the gate decision, reviews and report into a signed bundle.

    The archive is deterministic: the same inputs and key give byte-identical bundles.

    Raises:
        InputError: the comparison directory or a run directory is missing, malformed or changed since comparing.
    """
    signing_key = _private_key(key, passphrase)
    folder = Path(compare_dir)
    source = folder / "comparison.json"
    if not folder.is_dir():
        raise InputError(f"{folder}: comparison directory not found")
    if not source.is_file():
        raise InputError(f"{folder}: not a comparison directory (no comparison.json; run `promptlab compare` first)")
    comparison_bytes = source.read_bytes()
    comparison = _parse_json(source, comparison_bytes)
    if not isinstance(comparison, dict):
        raise FileFormatError(source, "expected a JSON object at the top level")
    if comparison.get("format_version") != 1:
        raise FileFormatError(
            source, f"expected format_version 1, got {comparison.get('format_version')!r}", field="format_version"
        )
    evaluators = comparison.get("evaluators")
    if not isinstance(evaluators, list):
        raise FileFormatError(source, "expected a list of evaluator specs", field="evaluators")
    comparison_hash = comparison_identity(comparison)

    files: dict[str, bytes] = {}
    runs: dict[str, RunInfo] = {}
    for side in ("baseline", "candidate"):
        run_dir, run_hash, recorded = _comparison_side(comparison, side, source)
        manifest, run_files = _read_run(side, run_dir, recorded, source)
        runs[side] = _run_info(side, manifest, run_hash)
        files.update({f"runs/{side}/{name}": data for name, data in run_files.items()})
    files["comparison.json"] = comparison_bytes
    for path in _regular_files(folder, "tables/**/*"):
        files[path.relative_to(folder).as_posix()] = path.read_bytes()
    for name in OPTIONAL_FILES:
        path = folder / name
        if path.is_symlink():
            raise InputError(f"{path}: is a symbolic link; bundles hold only regular files")
        if path.is_file():
            files[name] = path.read_bytes()
    review_files, reviews = _reviews(folder, comparison_hash)
    files.update(review_files)
    env = environment()
    files["environment.json"] = json.dumps(env, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    decision, gate_bytes, gate = _gate(folder, comparison_hash)
    if gate_bytes is not None:
        files["gate.json"] = gate_bytes
    candidate = runs["candidate"]
    predicate = BundlePredicate(
        baseline=runs["baseline"],
        candidate=candidate,
        dataset_hash=str(comparison.get("dataset_hash") or candidate.dataset_hash),
        evaluators=evaluators,
        comparison_hash=comparison_hash,
        summary=_summary(comparison, source),
        decision=decision,
        gate=gate,
        reviews=reviews,
        environment=env,
    )
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    envelope = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=build_statement(digests, predicate))
    envelope.sign(signing_key)
    write_archive(out, {**files, ENVELOPE_NAME: envelope.to_json()})
    return SignedBundle(
        path=Path(out), key_id=key_id(signing_key), added=True, signatures=1, files=digests, decision=decision
    )


def sign_bundle(
    path: str | Path,
    *,
    key: Ed25519PrivateKey | str | Path,
    passphrase: str | bytes | None = None,
    out: str | Path | None = None,
    trusted_keys: Sequence[str | Path | Ed25519PublicKey | PublicKey] | None = None,
    limits: BundleLimits | None = None,
) -> SignedBundle:
    """Co-sign a bundle: add a signature over the unchanged payload and rewrite the archive.

    The files are always checked against the statement first, so nobody co-signs modified files; with
    `trusted_keys` the whole bundle is verified first (recommended for reviewers).

    Raises:
        VerificationError: the bundle is malformed, fails verification, or its files do not match its statement.
    """
    signing_key = _private_key(key, passphrase)
    try:
        if trusted_keys:
            verify_bundle(path, trusted_keys=trusted_keys, limits=limits)
        with about(path):
            members, envelope, _ = unpack(path, limits)
            if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
                raise VerificationError(f"unsupported payloadType {envelope.payload_type!r}")
            _, digests, predicate = parse_statement(envelope.payload)
            check_files(members, digests)
    except VerificationError as exc:
        raise VerificationError(f"refusing to co-sign {exc}") from None
    added = envelope.sign(signing_key) is not None
    target = Path(out) if out is not None else Path(path)
    if added or target != Path(path):
        write_archive(target, {**members, ENVELOPE_NAME: envelope.to_json()})
    return SignedBundle(
        path=target,
        key_id=key_id(signing_key),
        added=added,
        signatures=len(envelope.signatures),
        files=digests,
        decision=predicate.decision,
    )
