"""Build comparison directories and signed bundles for tests, and craft tampered or malicious bundle archives.

    cmp = make_compare_dir(tmp_path)                       # two small runs + their real comparison
    keys = generate_keys(tmp_path / "alice", name="alice")
    export_bundle(cmp, tmp_path / "b.tar.gz", key=keys.private_path)

`craft` writes any tar.gz (symlinks, `../` names, duplicates ...) without going through promptlab's checks.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from promptlab.comparison import compare
from promptlab.gate import evaluate_gate
from promptlab.review import ReviewSignoff, save_signoff
from tests._support.runs import Profile, make_cases, write_run
from tests._support.scenarios import costly_improvement

__all__ = [
    "COST_POLICY",
    "Entry",
    "craft",
    "make_compare_dir",
    "make_gated_compare_dir",
    "read_members",
    "regular",
    "rewrite",
]

COST_POLICY = """\
name: bundle test policy
rules:
  - min_pass_rate: 0.5
  - cost_budget: {max_increase_pct: 200, approval_above_pct: 10}
  - required_reviews: {layers: [product]}
"""
WHEN = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def make_compare_dir(root: Path, *, candidate_pass: float = 0.85, n_cases: int = 24) -> Path:
    """Two small runs over the same cases and their real comparison in `root/cmp` (few resamples: fast, still real).

    Also writes `summary.md` and `report.html` so bundles carry every optional file.
    """
    cases = make_cases(n_cases, tags={"hard-negative:adversarial": 4})
    base = write_run(root / "base", cases=cases, profile=Profile(version="v1", pass_prob=0.7), seed=1)
    cand = write_run(root / "cand", cases=cases, profile=Profile(version="v2", pass_prob=candidate_pass), seed=2)
    out = root / "cmp"
    compare(base, cand, out=out, n_boot=50, n_permutations=50, min_n=5)
    (out / "summary.md").write_text("# triage v1 -> v2\n\nCandidate passes more cases.\n")
    (out / "report.html").write_text("<!doctype html><title>report</title><p>triage v1 -> v2</p>\n")
    return out


def make_gated_compare_dir(root: Path, *, approve: str | None = None) -> Path:
    """A costlier but better candidate (cost +50%), gated by `COST_POLICY` into needs_approval, with a current
    product sign-off and a stale technical one; with `approve` ("name: reason") the trade-off is approved."""
    base, cand = costly_improvement(root / "runs", n=60)
    out = root / "cmp"
    cmp = compare(base, cand, out=out, n_boot=50, n_permutations=50, min_n=5)
    save_signoff(out, ReviewSignoff(layer="product", reviewer="Pat Product", decision="approve",
                                    signed_at=WHEN, comparison_hash=cmp.hash))  # fmt: skip
    save_signoff(out, ReviewSignoff(layer="technical", reviewer="Old Reviewer", decision="request_changes",
                                    signed_at=WHEN, comparison_hash="sha256:" + "0" * 64))  # fmt: skip
    (root / "policy.yaml").write_text(COST_POLICY)
    evaluate_gate(out, root / "policy.yaml", now=WHEN)
    if approve is not None:
        evaluate_gate(out, root / "policy.yaml", approvals=[approve], now=WHEN)
    return out


def read_members(path: Path) -> dict[str, bytes]:
    """Members of a well-formed bundle, read with the standard library (not the code under test)."""
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            stream = tar.extractfile(m)
            assert stream is not None
            out[m.name] = stream.read()
        return out


Entry = tuple[tarfile.TarInfo, "bytes | None"]


def regular(name: str, data: bytes) -> Entry:
    """A regular-file tar entry."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def craft(path: Path, entries: Iterable[Entry], *, fmt: int = tarfile.PAX_FORMAT) -> Path:
    """Write an arbitrary (possibly malicious) tar.gz, bypassing every check of the code under test."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path


def rewrite(path: Path, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    """Rewrite a bundle's members through `change`, as an attacker holding the file could."""
    members = change(read_members(path))
    return craft(path, [regular(name, data) for name, data in members.items()])
