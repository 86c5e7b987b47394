"""Ed25519 signing keys: generate, store (encrypted when a passphrase is given), load, and name by key id.

A key pair is two files: `PREFIX.key` (PKCS8 PEM, encrypted with the best available scheme when a passphrase is
given, mode 0600) and `PREFIX.pub` (SubjectPublicKeyInfo PEM, preceded by `# name:` / `# keyid:` comment lines,
which RFC 7468 allows as explanatory text before the PEM block).

The key id is the first 16 hex digits of the sha256 of the raw 32-byte Ed25519 public key. DSSE treats key ids
as unauthenticated hints, and so does promptlab: a verifier tries its own trusted keys and reports the ids of the
keys that verified, never the id a signature claims.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from promptlab.errors import InputError

__all__ = [
    "KeyPair",
    "PublicKey",
    "generate_keys",
    "key_id",
    "load_private_key",
    "load_public_key",
]

KEYID_HEX_DIGITS = 16
_PUBLIC_BEGIN = b"-----BEGIN PUBLIC KEY-----"


@dataclass(kw_only=True, frozen=True)
class KeyPair:
    """The files `generate_keys` wrote."""

    key_id: str
    private_path: Path
    public_path: Path
    name: str | None = None
    encrypted: bool = False


@dataclass(kw_only=True, frozen=True)
class PublicKey:
    """A trusted public key with its id and, when its file names one, a human label."""

    key: Ed25519PublicKey
    key_id: str
    name: str | None = None
    source: str = "<key>"


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Return the key id: the first 16 hex digits of sha256(raw public key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEYID_HEX_DIGITS]


def _passphrase_bytes(passphrase: str | bytes | None) -> bytes | None:
    if passphrase is None:
        return None
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not data:
        raise InputError("the passphrase is empty; give a non-empty passphrase or none at all")
    return data


def generate_keys(
    prefix: str | Path,
    *,
    passphrase: str | bytes | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> KeyPair:
    """Generate an Ed25519 key pair and write `PREFIX.key` (mode 0600) and `PREFIX.pub`.

    Args:
        prefix: Path prefix of the two files.
        passphrase: Encrypts the private key when given.
        name: A label written into the public key file (e.g. the signer's name).
        overwrite: Replace existing files instead of refusing.
    """
    if name is not None and ("\n" in name or "\r" in name):
        raise InputError("--name: must be a single line")
    secret = _passphrase_bytes(passphrase)
    base = Path(prefix)
    private_path = base.with_name(base.name + ".key")
    public_path = base.with_name(base.name + ".pub")
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise InputError(f"{path}: already exists; choose another prefix or pass --force")
    if not base.parent.is_dir():
        raise InputError(f"{base.parent}: directory does not exist")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    kid = key_id(key)
    header = "# promptlab signing key (Ed25519)\n"
    if name:
        header += f"# name: {name}\n"
    header += f"# keyid: {kid}\n"
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_private(private_path, private_pem, overwrite=overwrite)
    public_path.write_bytes(header.encode("utf-8") + public_pem)
    return KeyPair(key_id=kid, private_path=private_path, public_path=public_path, name=name, encrypted=bool(secret))


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    # Create with 0600 from the start so the key is never readable by others, not even briefly.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def load_private_key(path: str | Path, *, passphrase: str | bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file, decrypting it with `passphrase` when it is encrypted."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: private key file not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: expected a private key file, found a directory") from None
    secret = _passphrase_bytes(passphrase)
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:
            raise InputError(
                f"{p}: private key is encrypted; give its passphrase (--passphrase-env VAR or --passphrase-stdin)"
            ) from None
        # A passphrase for an unencrypted key is harmless: load the key as it is.
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        if b"ENCRYPTED PRIVATE KEY" in data:
            raise InputError(f"{p}: wrong passphrase for the encrypted private key") from None
        if _PUBLIC_BEGIN in data:
            raise InputError(f"{p}: expected a private key, got a public key") from None
        raise InputError(f"{p}: not a PEM private key ({str(exc).split('.')[0]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{p}: expected an Ed25519 private key, got {type(key).__name__}")
    return key


def _label(text: bytes) -> str | None:
    for line in text.split(_PUBLIC_BEGIN, 1)[0].splitlines():
        stripped = line.strip()
        if stripped.startswith(b"# name:"):
            return stripped[len(b"# name:") :].strip().decode("utf-8", "replace") or None
    return None


def load_public_key(source: str | Path | Ed25519PublicKey | PublicKey) -> PublicKey:
    """Load a trusted public key from a PEM file path, PEM text, or a key object."""
    if isinstance(source, PublicKey):
        return source
    if isinstance(source, Ed25519PublicKey):
        return PublicKey(key=source, key_id=key_id(source))
    if isinstance(source, str) and "-----BEGIN" in source:
        data, where = source.encode("utf-8"), "<PEM text>"
    else:
        p = Path(source)
        where = str(p)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{p}: public key file not found") from None
        except IsADirectoryError:
            raise InputError(f"{p}: expected a public key file, found a directory") from None
    if _PUBLIC_BEGIN not in data and b"PRIVATE KEY-----" in data:
        raise InputError(f"{where}: expected a public key (.pub), got a private key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise InputError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{where}: expected an Ed25519 public key, got {type(key).__name__}")
    return PublicKey(key=key, key_id=key_id(key), name=_label(data), source=where)
