from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from promptlab.bundles import generate_keys
from tests._support.bundles import make_gated_compare_dir, rewrite
from tests.bundles.conftest import Keys
from tests.conftest import CliResult


def test_export_verify_sign_show_round_trip(
    tmp_path: Path, session_compare_dir: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "evidence.tar.gz"
    exported = run_cli("bundle", "export", session_compare_dir, "--key", keys.alice.private_path, "-o", out)
    assert exported.code == 0, exported.err
    assert f"signed by {keys.alice.key_id}" in exported.out and "decision ungated" in exported.out

    ok = run_cli("bundle", "verify", out, "--trusted-key", keys.alice.public_path)
    assert ok.code == 0, ok.err
    assert f"signed by: {keys.alice.key_id} (alice)" in ok.out
    assert "decision: ungated (not approved)" in ok.out
    assert "candidate: triage@v2 sha256:" in ok.out

    signed = run_cli("bundle", "sign", out, "--key", keys.bob.private_path)
    assert signed.code == 0 and "2 signatures" in signed.out
    both = run_cli("bundle", "verify", out, "--trusted-key", keys.alice.public_path, "--trusted-key",
                   keys.bob.public_path, "--require-all", "--json")  # fmt: skip
    assert both.code == 0, both.err
    data = json.loads(both.out)
    assert data["valid"] is True and sorted(data["signers"]) == sorted([keys.alice.key_id, keys.bob.key_id])

    shown = run_cli("bundle", "show", out)
    assert shown.code == 0
    assert "UNVERIFIED" in shown.out and "decision: ungated" in shown.out
    assert "runs/candidate/results.jsonl" in shown.out and "MISMATCH" not in shown.out
    shown_json = json.loads(run_cli("bundle", "show", out, "--json").out)
    assert shown_json["verified"] is False and shown_json["predicate"]["decision"] == "ungated"
    assert shown_json["claimed_keyids"] == [keys.alice.key_id, keys.bob.key_id]


def test_show_and_verify_of_an_approved_trade_off(
    tmp_path: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    cmp = make_gated_compare_dir(tmp_path, approve="Carol Lead: quality gain is worth the cost")
    out = tmp_path / "b.tar.gz"
    assert run_cli("bundle", "export", cmp, "--key", keys.alice.private_path, "-o", out).code == 0
    shown = run_cli("bundle", "show", out).out
    assert "decision: approved" in shown
    assert "  rule cost_budget: approved" in shown and "  rule required_reviews: pass" in shown
    assert "approved by Carol Lead (cost_budget:cost_per_case_usd): quality gain is worth the cost" in shown
    assert "review: product by Pat Product: approve\n" in shown
    assert "review: technical by Old Reviewer: request_changes (of another comparison)" in shown
    verified = run_cli("bundle", "verify", out, "--trusted-key", keys.alice.public_path)
    assert verified.code == 0 and "decision: approved (approved for release)" in verified.out


def test_co_signing_with_trusted_key_refuses_an_untrusted_bundle(
    tmp_path: Path, session_compare_dir: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "m.tar.gz"
    assert run_cli("bundle", "export", session_compare_dir, "--key", keys.mallory.private_path, "-o", out).code == 0
    before = out.read_bytes()
    result = run_cli("bundle", "sign", out, "--key", keys.bob.private_path, "--trusted-key", keys.alice.public_path)
    assert result.code == 1 and "refusing to co-sign" in result.err
    assert out.read_bytes() == before


def test_verify_with_the_wrong_key_exits_1_with_one_line(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("bundle", "verify", bundle, "--trusted-key", keys.mallory.public_path)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"error: invalid bundle {bundle}: no signature verifies with a trusted key")
    assert result.err.count("\n") == 1


def test_verify_with_a_bad_trusted_key_file_exits_2(
    bundle: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("bundle", "verify", bundle, "--trusted-key", keys.alice.private_path)
    assert result.code == 2
    assert result.err.strip().endswith("expected a public key (.pub), got a private key")


def test_show_flags_tampered_files_without_keys(bundle: Path, run_cli: Callable[..., CliResult]) -> None:
    rewrite(bundle, lambda m: {**m, "summary.md": b"# all good\n", "extra.txt": b"x"})
    shown = run_cli("bundle", "show", bundle)
    assert shown.code == 0
    assert "summary.md  DIGEST MISMATCH" in shown.out and "extra.txt  NOT IN STATEMENT" in shown.out


def test_show_of_garbage_exits_2_with_one_line(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    path = tmp_path / "junk.tar.gz"
    path.write_bytes(b"not a bundle at all")
    result = run_cli("bundle", "show", path)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "not a bundle" in result.err


def test_export_with_encrypted_key_and_wrong_passphrase_exits_2(
    tmp_path: Path, session_compare_dir: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = generate_keys(tmp_path / "enc", passphrase="right")
    monkeypatch.setenv("PW", "wrong")
    out = tmp_path / "b.tar.gz"
    result = run_cli("bundle", "export", session_compare_dir, "--key", pair.private_path, "-o", out,
                     "--passphrase-env", "PW")  # fmt: skip
    assert (
        result.code == 2
        and result.err == f"error: {pair.private_path}: wrong passphrase for the encrypted private key\n"
    )
    assert not out.exists()
    missing = run_cli("bundle", "export", session_compare_dir, "--key", pair.private_path, "-o", out)
    assert missing.code == 2 and "private key is encrypted" in missing.err
    monkeypatch.setenv("PW", "right")
    ok = run_cli("bundle", "export", session_compare_dir, "--key", pair.private_path, "-o", out, "--passphrase-env",
                 "PW")  # fmt: skip
    assert ok.code == 0, ok.err


def test_export_of_a_directory_without_comparison_exits_2(
    tmp_path: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    result = run_cli("bundle", "export", tmp_path, "--key", keys.alice.private_path, "-o", tmp_path / "b.tar.gz")
    assert result.code == 2 and "not a comparison directory" in result.err and "Traceback" not in result.err


def test_installed_command_rejects_an_untrusted_bundle_with_exit_1_and_no_traceback(bundle: Path, keys: Keys) -> None:
    exe = Path(sys.executable).with_name("promptlab")
    bad = subprocess.run(
        [exe, "bundle", "verify", bundle, "--trusted-key", keys.bob.public_path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.startswith("error: invalid bundle") and bad.stderr.count("\n") == 1


def test_export_into_a_missing_directory_exits_2(
    tmp_path: Path, session_compare_dir: Path, keys: Keys, run_cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "no" / "such" / "b.tar.gz"
    result = run_cli("bundle", "export", session_compare_dir, "--key", keys.alice.private_path, "-o", out)
    assert result.code == 2 and result.err == f"error: {out}: directory {out.parent} does not exist\n"
