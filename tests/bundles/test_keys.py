from __future__ import annotations

import hashlib
import io
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from promptlab.bundles import generate_keys, key_id, load_private_key, load_public_key
from promptlab.errors import InputError
from tests.conftest import CliResult


def test_generate_writes_private_key_0600_and_public_key_with_name(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "alice", name="Alice Example")
    assert pair.private_path == tmp_path / "alice.key" and pair.public_path == tmp_path / "alice.pub"
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in pair.private_path.read_bytes()
    public = load_public_key(pair.public_path)
    assert public.name == "Alice Example"
    assert public.key_id == pair.key_id


def test_key_id_is_first_16_hex_of_sha256_of_raw_public_key(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k")
    raw = load_public_key(pair.public_path).key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert pair.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert key_id(load_private_key(pair.private_path)) == pair.key_id


def test_encrypted_key_round_trips_with_its_passphrase(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k", passphrase="correct horse")
    assert pair.encrypted
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in pair.private_path.read_bytes()
    key = load_private_key(pair.private_path, passphrase="correct horse")
    assert key_id(key) == pair.key_id


def test_encrypted_key_without_passphrase_is_a_one_line_error(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k", passphrase="s3cret")
    with pytest.raises(InputError, match=r"k\.key: private key is encrypted; give its passphrase") as exc:
        load_private_key(pair.private_path)
    assert "\n" not in str(exc.value)


def test_encrypted_key_with_wrong_passphrase_is_a_one_line_error(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k", passphrase="s3cret")
    with pytest.raises(InputError, match=r"k\.key: wrong passphrase for the encrypted private key"):
        load_private_key(pair.private_path, passphrase="guess")


def test_generate_refuses_to_overwrite_existing_keys(tmp_path: Path) -> None:
    generate_keys(tmp_path / "k")
    before = (tmp_path / "k.key").read_bytes()
    with pytest.raises(InputError, match=r"k\.key: already exists"):
        generate_keys(tmp_path / "k")
    assert (tmp_path / "k.key").read_bytes() == before
    assert generate_keys(tmp_path / "k", overwrite=True).private_path.read_bytes() != before


def test_public_key_loader_rejects_private_keys_garbage_and_other_algorithms(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k")
    with pytest.raises(InputError, match=r"expected a public key \(\.pub\), got a private key"):
        load_public_key(pair.private_path)
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(InputError, match=r"junk\.pub: not a PEM public key"):
        load_public_key(tmp_path / "junk.pub")
    ec_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "ec.pub").write_bytes(
        ec_pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InputError, match=r"ec\.pub: expected an Ed25519 public key, got"):
        load_public_key(tmp_path / "ec.pub")
    with pytest.raises(InputError, match=r"missing\.pub: public key file not found"):
        load_public_key(tmp_path / "missing.pub")


def test_private_key_loader_rejects_public_keys(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "k")
    with pytest.raises(InputError, match=r"k\.pub: expected a private key, got a public key"):
        load_private_key(pair.public_path)


def test_cli_generate_with_passphrase_env_prints_key_id(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNING_PASSPHRASE", "pw-123")
    result = run_cli("keys", "generate", "--out", tmp_path / "rev", "--name", "bob", "--passphrase-env",
                     "SIGNING_PASSPHRASE")  # fmt: skip
    assert result.code == 0, result.err
    printed = result.out.strip()
    assert printed == load_public_key(tmp_path / "rev.pub").key_id
    assert "encrypted" in result.err
    assert key_id(load_private_key(tmp_path / "rev.key", passphrase="pw-123")) == printed


def test_cli_generate_with_passphrase_stdin(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    result = run_cli("keys", "generate", "--out", tmp_path / "k", "--passphrase-stdin")
    assert result.code == 0, result.err
    load_private_key(tmp_path / "k.key", passphrase="from-stdin")


def test_cli_generate_with_unset_passphrase_variable_exits_2(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    result = run_cli("keys", "generate", "--out", tmp_path / "k", "--passphrase-env", "NOPE")
    assert result.code == 2
    assert result.err.strip() == "error: --passphrase-env: environment variable NOPE is not set or empty"
    assert not (tmp_path / "k.key").exists()


def test_cli_key_id_of_public_and_encrypted_private_key_agree(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = generate_keys(tmp_path / "k", passphrase="pw")
    monkeypatch.setenv("PW", "pw")
    assert run_cli("keys", "id", pair.public_path).out.strip() == pair.key_id
    assert run_cli("keys", "id", pair.private_path, "--passphrase-env", "PW").out.strip() == pair.key_id
    wrong = run_cli("keys", "id", pair.private_path)
    assert wrong.code == 2 and wrong.err.count("\n") == 1
    assert "private key is encrypted" in wrong.err


def test_cli_generate_defaults_the_prefix_to_the_name(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("keys", "generate", "--name", "carol")
    assert result.code == 0, result.err
    assert "NOT encrypted" in result.err
    assert load_public_key(tmp_path / "carol.pub").name == "carol"
    again = run_cli("keys", "generate", "--name", "carol")
    assert again.code == 2 and "carol.key: already exists" in again.err
