from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from promptlab.bundles import (
    ENVELOPE_NAME,
    IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Envelope,
    key_id,
    load_public_key,
    pae,
)
from promptlab.errors import VerificationError
from tests._support.bundles import read_members
from tests.bundles.conftest import Keys


def test_pae_matches_the_dsse_spec_test_vector() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", b"\xff") == b"DSSEv1 3 t\xc3\xa9 1 \xff"


def test_envelope_json_has_the_dsse_fields_and_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    env = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=b'{"a":1}')
    env.sign(key)
    raw = json.loads(env.to_json())
    assert set(raw) == {"payload", "payloadType", "signatures"}
    assert base64.b64decode(raw["payload"]) == b'{"a":1}'
    assert raw["signatures"] == [{"keyid": key_id(key), "sig": raw["signatures"][0]["sig"]}]
    again = Envelope.from_json(env.to_json())
    assert again.payload == env.payload and again.signatures == env.signatures


def test_signature_is_plain_ed25519_over_the_pae_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    env = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=b"payload bytes")
    env.sign(key)
    sig = base64.b64decode(json.loads(env.to_json())["signatures"][0]["sig"])
    # Any DSSE implementation can check it: Ed25519 over PAE(type, payload), nothing else.
    key.public_key().verify(sig, b"DSSEv1 28 application/vnd.in-toto+json 13 payload bytes")


def test_signing_twice_with_the_same_key_adds_nothing() -> None:
    key = Ed25519PrivateKey.generate()
    env = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=b"x")
    assert env.sign(key) is not None
    assert env.sign(key) is None
    assert len(env.signatures) == 1


def test_parser_accepts_url_safe_unpadded_base64_and_ignores_unknown_fields() -> None:
    payload = b"\xfb\xff\xfe subject?"
    text = json.dumps(
        {
            "payload": base64.urlsafe_b64encode(payload).decode().rstrip("="),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.urlsafe_b64encode(b"\xfb" * 64).decode(), "extension": {"x": 1}}],
            "futureField": True,
        }
    ).encode()
    env = Envelope.from_json(text)
    assert env.payload == payload
    assert env.signatures[0].keyid == "" and env.signatures[0].sig == b"\xfb" * 64


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (b"[]", "expected a JSON object"),
        (b"{not json", "not valid JSON"),
        (b'{"payload": "", "signatures": []}', "payloadType: required field is missing"),
        (b'{"payload": "e30=", "payloadType": "t", "signatures": []}', "carries no signature"),
        (b'{"payload": "e30=", "payloadType": "t", "signatures": [{"keyid": "k"}]}', r"signatures\[0\]: sig: required"),
        (b'{"payload": "*!", "payloadType": "t", "signatures": [{"sig": "AA=="}]}', "payload: not valid base64"),
        (b'{"payload": "e30=", "payloadType": "t", "signatures": "x"}', "signatures: expected a list"),
    ],
)
def test_malformed_envelopes_are_rejected_with_the_field(envelope: bytes, reason: str) -> None:
    with pytest.raises(VerificationError, match=reason):
        Envelope.from_json(envelope)


def test_exported_payload_is_an_in_toto_statement_v1_with_one_subject_per_file(bundle: Path, keys: Keys) -> None:
    members = read_members(bundle)
    raw = json.loads(members[ENVELOPE_NAME])
    assert raw["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(raw["payload"]))
    assert statement["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE == "https://promptlab.dev/evaluation-bundle/v1"
    names = [s["name"] for s in statement["subject"]]
    assert names == sorted(set(members) - {ENVELOPE_NAME})
    for subject in statement["subject"]:
        assert set(subject["digest"]) == {"sha256"}
        assert len(subject["digest"]["sha256"]) == 64
    alice = load_public_key(keys.alice.public_path)
    [signature] = raw["signatures"]
    assert signature["keyid"] == alice.key_id
    alice.key.verify(base64.b64decode(signature["sig"]), pae(raw["payloadType"], base64.b64decode(raw["payload"])))


def test_private_key_material_never_enters_a_bundle(bundle: Path, keys: Keys) -> None:
    private_pem = keys.alice.private_path.read_bytes()
    for name, data in read_members(bundle).items():
        assert b"PRIVATE KEY" not in data, name
        assert private_pem not in data, name
