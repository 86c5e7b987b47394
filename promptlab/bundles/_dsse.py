"""DSSE v1 envelopes: the pre-authentication encoding, signing, and strict-but-spec-compliant parsing.

An envelope is `{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig": b64}, ...]}`. Each
signature is Ed25519 over `PAE(UTF8(payloadType), payload)` where
`PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` and LEN is the ASCII decimal byte length.
Per the DSSE spec, `keyid` is an unauthenticated hint, unknown fields are ignored, and both standard and URL-safe
base64 are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from promptlab.bundles._keys import key_id
from promptlab.errors import VerificationError

__all__ = [
    "Envelope",
    "IN_TOTO_PAYLOAD_TYPE",
    "Signature",
    "pae",
]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_SIGNATURES = 64
"""More signatures than any review process needs; bounds the work an adversarial envelope can cause."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 pre-authentication encoding of a payload type and payload."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(kw_only=True, frozen=True)
class Signature:
    """One signature on an envelope."""

    sig: bytes
    keyid: str = ""
    """Unauthenticated hint naming the signing key; never used to decide trust."""

    def verifies(self, key: Ed25519PublicKey, message: bytes) -> bool:
        """Whether this signature verifies `message` under `key`."""
        try:
            key.verify(self.sig, message)
        except InvalidSignature:
            return False
        return True


@dataclass(kw_only=True)
class Envelope:
    """A DSSE envelope: a typed payload and the signatures over its PAE."""

    payload_type: str
    payload: bytes
    signatures: list[Signature] = field(default_factory=list)

    def pae(self) -> bytes:
        """The exact bytes every signature covers."""
        return pae(self.payload_type, self.payload)

    def sign(self, key: Ed25519PrivateKey) -> Signature | None:
        """Add `key`'s signature; return it, or None when this key has already signed."""
        message = self.pae()
        public = key.public_key()
        if any(s.verifies(public, message) for s in self.signatures):
            return None
        signature = Signature(sig=key.sign(message), keyid=key_id(key))
        self.signatures.append(signature)
        return signature

    def to_json(self) -> bytes:
        """Serialise as the standard JSON envelope (stable key order, standard base64)."""
        data = {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures],
        }
        return json.dumps(data, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "envelope") -> Envelope:
        """Parse a JSON envelope; raise `VerificationError` naming the field when it is malformed."""
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VerificationError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise VerificationError(f"{source}: expected a JSON object")
        payload_type = _required_str(raw, "payloadType", source)
        payload = _b64(_required_str(raw, "payload", source), f"{source}: payload")
        sigs = raw.get("signatures")
        if not isinstance(sigs, list):
            raise VerificationError(f"{source}: signatures: expected a list")
        if not sigs:
            raise VerificationError(f"{source}: signatures: the envelope carries no signature")
        if len(sigs) > MAX_SIGNATURES:
            raise VerificationError(f"{source}: signatures: {len(sigs)} signatures, more than {MAX_SIGNATURES}")
        signatures = []
        for i, entry in enumerate(sigs):
            where = f"{source}: signatures[{i}]"
            if not isinstance(entry, dict):
                raise VerificationError(f"{where}: expected an object with sig and keyid")
            keyid = entry.get("keyid") or ""
            if not isinstance(keyid, str):
                raise VerificationError(f"{where}.keyid: expected a string")
            sig = _b64(_required_str(entry, "sig", where), f"{where}.sig")
            signatures.append(Signature(sig=sig, keyid=keyid))
        return cls(payload_type=payload_type, payload=payload, signatures=signatures)


def _required_str(raw: dict[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        problem = "required field is missing" if name not in raw else "expected a string"
        raise VerificationError(f"{where}: {name}: {problem}")
    return value


def _b64(text: str, where: str) -> bytes:
    # DSSE: verifiers must accept standard and URL-safe base64; unpadded input is common with URL-safe encoders.
    padded = text + "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{where}: not valid base64") from None
