from __future__ import annotations

import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptlab.bundles import ENVELOPE_NAME, export_bundle, generate_keys, verify_bundle
from promptlab.errors import FileFormatError, InputError
from promptlab.gate import evaluate_gate
from tests._support.bundles import make_compare_dir, make_gated_compare_dir, read_members
from tests.bundles.conftest import Keys

WHEN = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def test_same_inputs_give_a_byte_identical_bundle(tmp_path: Path, session_compare_dir: Path, keys: Keys) -> None:
    first, second = tmp_path / "1.tar.gz", tmp_path / "2.tar.gz"
    export_bundle(session_compare_dir, first, key=keys.alice.private_path)
    export_bundle(session_compare_dir, second, key=keys.alice.private_path)
    assert first.read_bytes() == second.read_bytes()


def test_archive_metadata_is_fixed_and_names_are_sorted_relative_paths(bundle: Path) -> None:
    raw = bundle.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip header without a timestamp
    with tarfile.open(bundle, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert ENVELOPE_NAME in names
    for m in members:
        assert m.isreg() and not m.name.startswith("/") and ".." not in m.name.split("/")
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (315532800, 0, 0, "", "", 0o644)


def test_export_refuses_a_run_directory_changed_since_the_comparison(tmp_path: Path, keys: Keys) -> None:
    cmp = make_compare_dir(tmp_path)
    results = tmp_path / "cand" / "results.jsonl"
    results.write_bytes(results.read_bytes().replace(b'"outcome":"fail"', b'"outcome":"pass"', 1))
    with pytest.raises(InputError, match=r"cand/results\.jsonl: changed since the comparison .* re-run the comparison"):
        export_bundle(cmp, tmp_path / "b.tar.gz", key=keys.alice.private_path)
    assert not (tmp_path / "b.tar.gz").exists()


def test_export_refuses_a_missing_run_directory(tmp_path: Path, keys: Keys) -> None:
    cmp = make_compare_dir(tmp_path)
    (tmp_path / "base").rename(tmp_path / "moved")
    with pytest.raises(InputError, match=r"comparison\.json: baseline\.run_dir: .*/base: run directory not found"):
        export_bundle(cmp, tmp_path / "b.tar.gz", key=keys.alice.private_path)


def test_export_refuses_a_directory_without_comparison(tmp_path: Path, keys: Keys) -> None:
    with pytest.raises(InputError, match="not a comparison directory"):
        export_bundle(tmp_path, tmp_path / "b.tar.gz", key=keys.alice.private_path)
    with pytest.raises(InputError, match="comparison directory not found"):
        export_bundle(tmp_path / "nope", tmp_path / "b.tar.gz", key=keys.alice.private_path)


def test_export_reports_malformed_comparison_fields(compare_dir: Path, keys: Keys, tmp_path: Path) -> None:
    source = compare_dir / "comparison.json"
    data = json.loads(source.read_text())
    data["candidate"]["files"]["results.jsonl"] = "sha256:" + "0" * 64
    source.write_text(json.dumps(data))
    with pytest.raises(FileFormatError, match=r"comparison\.json: candidate\.run_hash: does not match the recorded"):
        export_bundle(compare_dir, tmp_path / "b.tar.gz", key=keys.alice.private_path)
    source.write_text("{broken")
    with pytest.raises(FileFormatError, match=r"comparison\.json: malformed JSON"):
        export_bundle(compare_dir, tmp_path / "b.tar.gz", key=keys.alice.private_path)
    source.write_text(json.dumps({"format_version": 2}))
    with pytest.raises(FileFormatError, match=r"format_version: expected format_version 1, got 2"):
        export_bundle(compare_dir, tmp_path / "b.tar.gz", key=keys.alice.private_path)


def test_export_refuses_symlinks_in_the_comparison_directory(compare_dir: Path, keys: Keys, tmp_path: Path) -> None:
    (compare_dir / "tables" / "secrets.csv").symlink_to("/etc/hostname")
    with pytest.raises(InputError, match=r"secrets\.csv: is a symbolic link"):
        export_bundle(compare_dir, tmp_path / "b.tar.gz", key=keys.alice.private_path)


def test_cost_tradeoff_bundle_needs_approval_then_records_the_approval(tmp_path: Path, keys: Keys) -> None:
    cmp = make_gated_compare_dir(tmp_path)
    pending = tmp_path / "pending.tar.gz"
    assert export_bundle(cmp, pending, key=keys.alice.private_path).decision == "needs_approval"
    result = verify_bundle(pending, trusted_keys=[keys.alice.public_path])
    assert (result.decision, result.approved) == ("needs_approval", False)
    gate = result.predicate["gate"]
    assert {r["rule"]: r["status"] for r in gate["rules"]}["cost_budget"] == "needs_approval"
    reviews = {r["reviewer"]: r for r in result.predicate["reviews"]}
    assert reviews["Pat Product"]["decision"] == "approve" and reviews["Pat Product"]["current"] is True
    assert reviews["Old Reviewer"]["current"] is False
    assert {"reviews/product-pat-product.json", "reviews/technical-old-reviewer.json", "gate.json"} <= set(result.files)

    evaluate_gate(cmp, tmp_path / "policy.yaml", approvals=["Carol Lead: quality gain is worth the cost"], now=WHEN)
    approved = tmp_path / "approved.tar.gz"
    export_bundle(cmp, approved, key=keys.alice.private_path)
    result = verify_bundle(approved, trusted_keys=[keys.alice.public_path])
    assert (result.decision, result.approved) == ("approved", True)
    [approval] = result.predicate["gate"]["approvals"]
    assert approval["approver"] == "Carol Lead" and "cost_budget:cost_per_case_usd" in approval["accepts"]
    assert json.loads(result.read("gate.json"))["decision"] == "approved"


def test_blocked_gate_is_not_approved(tmp_path: Path, keys: Keys, session_compare_dir: Path) -> None:
    cmp = tmp_path / "cmp"
    shutil.copytree(session_compare_dir, cmp)
    (tmp_path / "policy.yaml").write_text("name: strict\nrules:\n  - min_pass_rate: 0.99\n")
    evaluate_gate(cmp, tmp_path / "policy.yaml", now=WHEN)
    export_bundle(cmp, tmp_path / "b.tar.gz", key=keys.alice.private_path)
    result = verify_bundle(tmp_path / "b.tar.gz", trusted_keys=[keys.alice.public_path])
    assert (result.decision, result.approved) == ("block", False)


def test_export_refuses_a_gate_decision_about_another_comparison(compare_dir: Path, keys: Keys, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("name: lenient\nrules:\n  - min_pass_rate: 0.1\n")
    evaluate_gate(compare_dir, tmp_path / "policy.yaml", now=WHEN)
    source = compare_dir / "comparison.json"
    data = json.loads(source.read_text())
    data["summary"]["headline"] = "edited after gating"
    source.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"gate\.json: comparison_hash: the gate judged another comparison"):
        export_bundle(compare_dir, tmp_path / "b.tar.gz", key=keys.alice.private_path)


def test_export_with_an_encrypted_key_needs_its_passphrase(tmp_path: Path, session_compare_dir: Path) -> None:
    pair = generate_keys(tmp_path / "enc", passphrase="pw")
    with pytest.raises(InputError, match="private key is encrypted"):
        export_bundle(session_compare_dir, tmp_path / "b.tar.gz", key=pair.private_path)
    with pytest.raises(InputError, match="wrong passphrase"):
        export_bundle(session_compare_dir, tmp_path / "b.tar.gz", key=pair.private_path, passphrase="nope")
    export_bundle(session_compare_dir, tmp_path / "b.tar.gz", key=pair.private_path, passphrase="pw")
    assert verify_bundle(tmp_path / "b.tar.gz", trusted_keys=[pair.public_path]).signers == [pair.key_id]
    assert "enc.key" not in read_members(tmp_path / "b.tar.gz")
