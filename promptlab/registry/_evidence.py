"""Evidence-driven promotion: a signed bundle whose gate passed (or was approved) for exactly this artifact."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptlab.errors import RegistryError, VerificationError

__all__ = ["bundle_digest", "verify_evidence"]


def bundle_digest(path: Path) -> str:
    """`sha256:<hex>` of the bundle file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def verify_evidence(
    bundle: str | Path, trusted_keys: Sequence[str | Path], *, name: str, version: str, content_hash: str
) -> dict[str, Any]:
    """Check that `bundle` verifies with a trusted key and approves exactly `name@version` with `content_hash`.

    Returns:
        The evidence summary recorded in the audit log.

    Raises:
        RegistryError: the bundle does not verify, its gate blocked, or it is about another artifact.
    """
    from promptlab.bundles import verify_bundle  # imported on use: serving processes never need it

    path = Path(bundle)
    if not trusted_keys:
        raise RegistryError(f"{path}: no trusted key given to verify the evidence bundle against (--trusted-key)")
    try:
        verified = verify_bundle(path, trusted_keys=list(trusted_keys))
    except VerificationError as exc:
        detail = str(exc).removeprefix(f"{path}: ")
        raise RegistryError(f"refused: evidence bundle {path} does not verify: {detail}") from None
    cand = verified.candidate
    if (cand.get("name"), cand.get("version")) != (name, version):
        raise RegistryError(
            f"refused: evidence bundle {path} is about {cand.get('name')}@{cand.get('version')}, not {name}@{version}"
        )
    if cand.get("hash") != content_hash:
        raise RegistryError(
            f"refused: evidence bundle {path} was made for {name}@{version} with hash {cand.get('hash')}, but the "
            f"published artifact has hash {content_hash}"
        )
    if not verified.approved:
        raise RegistryError(
            f"refused: evidence bundle {path} records gate decision '{verified.decision}' for {name}@{version} "
            f"(expected pass, or needs_approval with every trade-off approved)"
        )
    return {
        "bundle": str(path.absolute()),
        "bundle_digest": bundle_digest(path),
        "statement_sha256": verified.statement_sha256,
        "decision": verified.decision,
        "signers": list(verified.signers),
        "candidate": dict(cand),
        "baseline": dict(verified.baseline),
    }
